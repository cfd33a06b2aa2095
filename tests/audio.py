"""Recording what coach plays through the test audio server, and finding sounds in it.

conftest.py (the `audio_server` fixture) starts a private PulseAudio server whose default
sink is a null sink ($COACH_TEST_SINK); everything played to it can be recorded from its
monitor source. The recording is read live, chunk by chunk, and each chunk's arrival time is
noted, which ties recording positions to the wall clock (`time_at`, `position_at`): a test can
wait for the first sound, press a key at a known point of the session, and later check what was
heard after it.

Sounds are found by correlation (`similarity`) with what coach should play, rendered here the
way coach renders it, so a test checks what a listener hears (which words, at which sample)
and not what coach says it did. Phrases must come from the phrase cache coach uses
($COACH_CACHE_DIR, shared with the tests by conftest.py): espeak-ng through pyttsx3 does not
say a phrase twice with exactly the same samples.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RATE = 22_050  # coach's voices speak at 22,050 Hz; recorded at the same rate, no resampling
SILENCE = 0.003  # below this (about -50 dBFS) a sample counts as silence
CUE_WINDOW_MS = 150  # how much of each cue is matched to find where it sounded
SEARCH_MS = 400  # how far from its expected place a cue is looked for


def ms(n: int) -> float:
    """Samples to milliseconds."""
    return n * 1000 / RATE


def frames(ms_: float) -> int:
    """Milliseconds to samples."""
    return round(ms_ * RATE / 1000)


class Recorder:
    """Records the test sink's monitor from construction until `stop`, readable while it runs.

    Positions are sample indexes from the start of the recording. Each chunk that arrives was
    rendered no later than it arrived, so the earliest start time that every chunk allows
    (`start_s`) ties positions to the wall clock (`position_at`, `time_at`). The recorder asks
    the server for 20 ms chunks, and with a monitor recording that low a latency the sink
    renders at most about that far ahead of its clock: the mapping is right to a few tens of
    milliseconds (rendered sound can be replaced for as long, when a stream starts or stops).
    """

    def __init__(self, sink: str | None = None, latency_ms: int = 20) -> None:
        sink = sink or os.environ.get("COACH_TEST_SINK")
        if not sink:
            raise RuntimeError("no test sink: ask for the audio_sink fixture (conftest.py)")
        self._proc = subprocess.Popen(
            [
                "parec",
                "--raw",
                f"--device={sink}.monitor",
                f"--rate={RATE}",
                "--channels=1",
                "--format=s16le",
                f"--latency-msec={latency_ms}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._data = bytearray()
        self._lock = threading.Lock()
        self.start_s = float("inf")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        # An idle null sink can take a couple of seconds to deliver its first chunk.
        deadline = time.monotonic() + 15
        while self.frames < frames(100):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()
                err = self._proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"parec did not record: {err.strip()}")
            time.sleep(0.01)

    def _read(self) -> None:
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 16)
            now = time.monotonic()
            if not data:
                return
            with self._lock:
                self._data += data
                self.start_s = min(self.start_s, now - len(self._data) // 2 / RATE)

    @property
    def frames(self) -> int:
        return len(self._data) // 2

    def samples(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """What was recorded from `lo` to `hi` (or to now), float32 in [-1, 1]."""
        with self._lock:
            hi = self.frames if hi is None else min(hi, self.frames)
            data = bytes(self._data[2 * lo : 2 * max(lo, hi)])
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768

    def position_at(self, t: float) -> int:
        """The recording position rendered at monotonic time `t`."""
        return int((t - self.start_s) * RATE)

    def time_at(self, position: int) -> float:
        """When recording position `position` was rendered (monotonic time)."""
        return self.start_s + position / RATE

    def wait_for_sound(
        self, after: int = 0, timeout_s: float = 30.0, ended: Callable[[], bool] | None = None
    ) -> int:
        """The first position at or after `after` that is not silent; waits for it to come,
        for `timeout_s` at most, or until `ended()` is true (the player is gone)."""
        deadline = time.monotonic() + timeout_s
        while True:
            gone = ended is not None and ended()
            found = loud(self.samples(after))
            if len(found):
                return after + int(found[0])
            after = max(after, self.frames - 1)
            if gone:
                raise AssertionError("no sound: the player ended without a sound")
            if time.monotonic() > deadline:
                raise AssertionError(f"no sound within {timeout_s} s")
            time.sleep(0.02)

    def sleep_until(self, position: int) -> None:
        """Wait until the recording has reached `position` (by the wall clock)."""
        delay = self.time_at(position) - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def take(self) -> Take:
        """A recording from now on, of the same stream (no new start-up delay)."""
        return Take(self, self.frames)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._thread.join(timeout=5)


class Take:
    """Part of a running recording, from its `begin` on: positions count from there."""

    def __init__(self, recorder: Recorder, begin: int) -> None:
        self.recorder = recorder
        self.begin = begin

    @property
    def frames(self) -> int:
        return self.recorder.frames - self.begin

    def samples(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return self.recorder.samples(self.begin + lo, None if hi is None else self.begin + hi)

    def position_at(self, t: float) -> int:
        return self.recorder.position_at(t) - self.begin

    def time_at(self, position: int) -> float:
        return self.recorder.time_at(self.begin + position)

    def wait_for_sound(
        self, after: int = 0, timeout_s: float = 30.0, ended: Callable[[], bool] | None = None
    ) -> int:
        return self.recorder.wait_for_sound(self.begin + after, timeout_s, ended) - self.begin

    def sleep_until(self, position: int) -> None:
        self.recorder.sleep_until(self.begin + position)

    def collect(self, tail_s: float = 0.3) -> np.ndarray:
        """Everything recorded in this take, after `tail_s` more (what is still on its way)."""
        time.sleep(tail_s)
        return self.samples()


# -- finding sounds ------------------------------------------------------------------------


def similarity(signal: np.ndarray, template: np.ndarray) -> np.ndarray:
    """How alike `template` is to `signal` at each offset where it fits: 1 is identical.

    2<s,t> / (|s|^2 + |t|^2) = 1 - |s - t|^2 / (|s|^2 + |t|^2): unlike a plain normalized
    correlation it also asks for the same loudness, so a faint or silent stretch never
    matches, and a louder one is not preferred for being louder.
    """
    signal = np.asarray(signal, dtype=np.float64)
    template = np.asarray(template, dtype=np.float64)
    n, m = len(signal), len(template)
    if m == 0 or n < m:
        return np.zeros(0)
    size = 1 << (n + m - 1).bit_length()
    product = np.fft.rfft(signal, size) * np.conj(np.fft.rfft(template, size))
    dot = np.fft.irfft(product, size)[: n - m + 1]
    energy = np.concatenate([[0.0], np.cumsum(signal**2)])
    window = energy[m:] - energy[:-m]
    return 2 * dot / np.maximum(window + float(template @ template), 1e-12)


@dataclass(frozen=True)
class Match:
    at: int  # recording position where the template starts
    score: float  # similarity there, 1 = identical


def find(recording: np.ndarray, template: np.ndarray, lo: int = 0, hi: int | None = None) -> Match:
    """Where `template` best matches `recording` starting between `lo` and `hi`."""
    lo = max(0, lo)
    hi = len(recording) if hi is None else min(hi, len(recording))
    scores = similarity(recording[lo : hi + len(template)], template)
    if len(scores) == 0:
        return Match(lo, 0.0)
    best = int(np.argmax(scores))
    return Match(lo + best, float(scores[best]))


@dataclass(frozen=True)
class Clip:
    """A clip found in a recording piece by piece."""

    at: int  # where it starts
    end: int  # where it ends, by its last piece found
    scores: tuple[float, ...]  # each sounding piece's similarity at its place

    @property
    def whole(self) -> float:
        """The share of its pieces heard (similarity above 0.6) where they belong."""
        return sum(s > 0.6 for s in self.scores) / max(1, len(self.scores))


def find_clip(
    recording: np.ndarray,
    clip: np.ndarray,
    lo: int,
    hi: int,
    skip: int = 0,
    piece_ms: float = 150,
    slack_ms: float = 25,
) -> Clip:
    """Where `clip` starts between `lo` and `hi`, and how whole it is heard.

    The start is found by the clip's first 2 pieces (after `skip` samples, which may be
    drowned), then each piece on its own within `slack_ms` of its place: when the machine is
    busy the server's monitor can repeat or drop 10 ms here and there, which would spoil one
    long match but leaves short pieces whole. The end is where the last piece found puts it.
    """
    piece = frames(piece_ms)
    head = clip[skip : skip + 2 * piece]
    start = find(recording, head, lo + skip, hi + skip).at - skip
    scores, end = [], start + len(clip)
    slack = frames(slack_ms)
    for i in range(skip, len(clip) - piece + 1, piece):
        part = clip[i : i + piece]
        if float(np.max(np.abs(part))) < 0.05:
            continue
        match = find(recording, part, start + i - slack, start + i + slack)
        scores.append(match.score)
        if match.score > 0.6:
            end = match.at - i + len(clip)
    return Clip(start, end, tuple(scores))


def loud(recording: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Positions of the samples that are not silent between `lo` and `hi`."""
    lo = max(0, lo)
    return lo + np.flatnonzero(np.abs(recording[lo:hi]) > SILENCE)


# -- what coach should play ----------------------------------------------------------------


@dataclass(frozen=True)
class CueHeard:
    index: int  # in the cue script
    text: str
    expected: int  # recording position it should start at
    found: int  # where it best matched, within SEARCH_MS of `expected`
    score: float

    @property
    def error_ms(self) -> float:
        return ms(self.found - self.expected)

    def __str__(self) -> str:
        return f"cue {self.index} {self.text!r}: {self.error_ms:+.1f} ms, score {self.score:.2f}"


def cues_heard(
    recording: np.ndarray,
    session: np.ndarray,
    script,
    at: int,
    from_ms: int = 0,
    until_ms: int | None = None,
) -> list[CueHeard]:
    """Each cue starting in [from_ms, until_ms), looked for where it should be if the session
    played from `from_ms` on starting at recording position `at`."""
    from coach.sound.render import samples_at

    origin = samples_at(from_ms, RATE)
    window, search = frames(CUE_WINDOW_MS), frames(SEARCH_MS)
    heard = []
    for i, cue in enumerate(script.cues):
        if cue.start_ms < from_ms or (until_ms is not None and cue.start_ms >= until_ms):
            continue
        start = samples_at(cue.start_ms, RATE)
        template = session[start : start + window]
        if len(template) < window // 2 or float(np.max(np.abs(template))) < 0.05:
            continue  # a cue that begins in near silence is not found precisely
        expected = at + start - origin
        match = find(recording, template, expected - search, expected + search)
        text = cue.text if cue.kind == "speech" else f"({cue.tone})"
        heard.append(CueHeard(i, text, expected, match.at, match.score))
    return heard
