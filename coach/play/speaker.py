"""Playback through the speakers: a player program first, simpleaudio when there is none.

A session plays as *segments*: one continuous stream from a point of the session to its end,
so every cue sounds at its sample offset and nothing drifts, however long the routine. A
control (pause, skip, a pace change) stops the segment and starts another one.

Samples are written into a segment a little ahead of the ear, never all at once, so the first
sound comes as soon as its first block is rendered and stopping silences what was queued.

Why the order (`OUTPUTS`): a stream survives the moments when the machine is slow to feed it
only by what it has buffered. simpleaudio asks ALSA for a fixed 100 ms buffer (SA_LATENCY_US in
its C source), and through PulseAudio that underruns a few times a minute on a busy or virtual
machine, even for a bare sine wave; each underrun delays everything after it by 15-80 ms, so a
10-minute routine drifted by about 100 ms. The pipe players take a 500 ms buffer (`LATENCY_MS`)
and, measured the same way, never underran: every cue within a millisecond. Stopping one kills
it, and the server drops what it had queued, so the bigger buffer does not slow stopping down.

- simpleaudio plays straight out of the buffer it is given and reads it only as the sound card
  asks (100 ms ahead; see its playback_thread), so a segment hands it an anonymous memory map
  as long as the segment, fills it ahead of the ear, and gives the pages behind the ear back to
  the system: memory stays bounded on a two-hour routine. It is archived, builds from source
  and raises SimpleaudioError with no audio device, so it is imported lazily and any failure
  falls back to a player program.
- `paplay`, `pw-play` and `aplay` read raw samples from a pipe; killing them silences the sound
  at once. `afplay` (macOS) reads only whole files: its segment is written to a temporary WAV
  first.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from coach.errors import EnvironmentFault, UsageError

OUTPUTS = ("paplay", "pw-play", "aplay", "simpleaudio", "afplay")  # tried in this order
LATENCY_MS = 500  # the pipe players' buffer: enough to ride out a busy moment without a gap
_NO_DEVICE_HINT = (
    "check that a sound device or audio server is available (coach doctor will say more), "
    "or make a file to play elsewhere: coach export ROUTINE"
)


class _Unavailable(Exception):
    pass


def _int16(pcm):
    import numpy as np

    return (np.clip(pcm, -1.0, 1.0) * 32767).round().astype("<i2")


class Segment:
    """One continuous stream of `frames` samples; `write` them in order, then `finish`."""

    output: str
    streaming = True  # False: nothing sounds until `finish` (the whole segment is written first)

    def __init__(self) -> None:
        self.started_s = time.monotonic()  # when the first sample was handed to the output

    def start(self) -> None:
        """Begin to sound (what was written so far is there already, so nothing is missed)."""

    def write(self, pcm) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Everything is written: let it play to the end."""

    def playing(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        """Silence it now."""
        raise NotImplementedError

    def heard_frames(self, sample_rate: int) -> int:
        """About how many samples have reached the ear (the output latency is not known)."""
        return max(0, int((time.monotonic() - self.started_s) * sample_rate))


class _SimpleaudioSegment(Segment):
    output = "simpleaudio"

    def __init__(self, frames: int, sample_rate: int, channels: int) -> None:
        import numpy as np

        try:
            import simpleaudio
        except ImportError as e:
            raise _Unavailable(f"not installed ({e})") from None
        self.channels = channels
        self.sample_rate = sample_rate
        size = max(1, frames) * channels * 2
        self._map = mmap.mmap(-1, size)  # anonymous: zero pages cost nothing until written
        self._samples: np.ndarray | None = np.frombuffer(self._map, dtype="<i2")
        self._written = 0  # samples (not frames) written so far
        self._released = 0  # bytes given back to the system behind the ear
        self._simpleaudio = simpleaudio
        self._handle = None
        super().__init__()

    def start(self) -> None:
        try:
            with quiet_stderr():  # ALSA prints its own complaints before raising
                self._handle = self._simpleaudio.play_buffer(
                    self._map, self.channels, 2, self.sample_rate
                )
        except Exception as e:  # SimpleaudioError, or an ALSA failure with no device
            self._samples = None
            raise _Unavailable(str(e) or type(e).__name__) from None
        self.started_s = time.monotonic()

    def write(self, pcm) -> None:
        data = _int16(pcm).reshape(-1)
        assert self._samples is not None, "written after it failed to start"
        end = min(len(self._samples), self._written + len(data))
        self._samples[self._written : end] = data[: end - self._written]
        self._written = end
        self._release()

    def _release(self) -> None:
        # Pages more than a second behind the ear are played: give them back (they read as
        # silence if ever touched again).
        done = (self.heard_frames(self.sample_rate) - self.sample_rate) * self.channels * 2
        done -= done % mmap.PAGESIZE
        if done - self._released >= 64 * mmap.PAGESIZE and hasattr(self._map, "madvise"):
            with contextlib.suppress(OSError, ValueError):
                self._map.madvise(mmap.MADV_DONTNEED, self._released, done - self._released)
                self._released = done

    def playing(self) -> bool:
        return self._handle is not None and self._handle.is_playing()

    def stop(self) -> None:
        # Silence what was queued ahead of the ear first: simpleaudio reads the buffer lazily
        # and only notices the stop flag between two 100 ms writes.
        if self._samples is not None:
            ear = self.heard_frames(self.sample_rate) * self.channels
            self._samples[min(ear, len(self._samples)) :] = 0
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.stop()


_PIPE_COMMANDS = {
    "paplay": lambda sr, ch: [
        "paplay",
        "--raw",
        f"--rate={sr}",
        f"--channels={ch}",
        "--format=s16le",
        f"--latency-msec={LATENCY_MS}",
    ],
    "pw-play": lambda sr, ch: [
        "pw-play",
        f"--rate={sr}",
        f"--channels={ch}",
        "--format=s16",
        f"--latency={LATENCY_MS}ms",
        "-",
    ],
    "aplay": lambda sr, ch: [
        "aplay",
        "-q",
        "-t",
        "raw",
        "-f",
        "S16_LE",
        f"-r{sr}",
        f"-c{ch}",
        f"--buffer-time={LATENCY_MS * 1000}",
        "-",
    ],
}


class _PipeSegment(Segment):
    def __init__(self, name: str, sample_rate: int, channels: int) -> None:
        self.output = name
        self._started = False
        try:
            self._proc = subprocess.Popen(
                _PIPE_COMMANDS[name](sample_rate, channels),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C and Ctrl-Z go to coach, which stops it
            )
        except OSError as e:
            raise _Unavailable(str(e)) from None
        assert self._proc.stdin is not None and self._proc.stderr is not None  # both are pipes
        self._stdin, self._stderr = self._proc.stdin, self._proc.stderr
        with contextlib.suppress(Exception):  # Linux: room for a few seconds, so writes never wait
            import fcntl

            fcntl.fcntl(self._stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
        super().__init__()

    def start(self) -> None:
        self._check(wait_s=0.05)
        self._started = True

    def _check(self, wait_s: float = 0.0) -> None:
        # No server, no device: the player fails at once.
        if wait_s:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=wait_s)
        if self._proc.poll() not in (None, 0):
            err = self._stderr.read().decode(errors="replace").strip()
            raise _Unavailable(err or f"exit {self._proc.returncode}")

    def write(self, pcm) -> None:
        try:
            self._stdin.write(_int16(pcm).tobytes())
        except (BrokenPipeError, ValueError):
            why = "it exited"
            try:
                self._check(wait_s=1.0)
            except _Unavailable as e:
                if not self._started:
                    raise
                why = str(e)
            raise EnvironmentFault(
                f"{self.output} stopped playing: {why}", _NO_DEVICE_HINT
            ) from None

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stdin.close()

    def playing(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self._proc.poll() is None:
                self._proc.terminate()  # the server drops the stream's queued sound with it
                self._proc.wait(timeout=2)
        with contextlib.suppress(Exception):
            self._proc.kill()
            self._stdin.close()


class _FileSegment(Segment):
    """afplay reads only whole files: the segment is written to a WAV, then played."""

    streaming = False

    def __init__(self, name: str, sample_rate: int, channels: int) -> None:
        import soundfile

        self.output = name
        self.sample_rate = sample_rate
        fd, tmp = tempfile.mkstemp(prefix="coach-play-", suffix=".wav")
        self._tmp = Path(tmp)
        os.close(fd)
        self._file = soundfile.SoundFile(
            str(self._tmp), "w", sample_rate, channels, "PCM_16", format="WAV"
        )
        self._proc: subprocess.Popen[bytes] | None = None
        super().__init__()

    def write(self, pcm) -> None:
        self._file.write(_int16(pcm))

    def finish(self) -> None:
        self._file.close()
        try:
            self._proc = subprocess.Popen(
                [self.output, str(self._tmp)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            self._cleanup()
            raise EnvironmentFault(f"{self.output} could not start: {e}", _NO_DEVICE_HINT) from None
        self.started_s = time.monotonic()

    def playing(self) -> bool:
        if self._proc is None:
            return True
        if self._proc.poll() is None:
            return True
        self._cleanup()
        return False

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
                self._proc.wait(timeout=2)
        with contextlib.suppress(Exception):
            self._file.close()
        self._cleanup()

    def _cleanup(self) -> None:
        self._tmp.unlink(missing_ok=True)


class Speaker:
    """Opens segments on the first output that works here, and keeps using that one."""

    def __init__(self, sample_rate: int, channels: int = 1, output: str | None = None) -> None:
        if output is not None and output not in OUTPUTS:
            raise UsageError("--output", f"must be one of {', '.join(OUTPUTS)}, found '{output}'")
        self.sample_rate = sample_rate
        self.channels = channels
        self._wanted = output
        self.output: str | None = None
        self._segments: list[Segment] = []

    def open(self, frames: int, first) -> Segment:
        """Start a segment of `frames` samples, the `first` of them already written."""
        # A stopped simpleaudio segment still drains what its device holds (about 100 ms);
        # let it end first, or the cut-off sound plays under the start of what comes next.
        deadline = time.monotonic() + 0.25
        for old in self._segments:
            while old.playing() and time.monotonic() < deadline:
                time.sleep(0.005)
        segment = self._open(frames, first)
        self._segments = [s for s in self._segments if s.playing()] + [segment]
        return segment

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop every segment and wait until they are silent.

        simpleaudio's thread takes Python's lock when it ends; one still running while the
        interpreter shuts down can crash it, so coach waits for them before exiting.
        """
        deadline = time.monotonic() + timeout_s
        for segment in self._segments:
            segment.stop()
        for segment in self._segments:
            while segment.playing() and time.monotonic() < deadline:
                time.sleep(0.01)
        self._segments = []

    def _open(self, frames: int, first) -> Segment:
        if self.output is not None:
            try:
                return _open(self.output, frames, self.sample_rate, self.channels, first)
            except _Unavailable as e:
                raise EnvironmentFault(
                    f"{self.output} stopped working: {e}", _NO_DEVICE_HINT
                ) from None
        tried = []
        for name in [self._wanted] if self._wanted else list(OUTPUTS):
            try:
                segment = _open(name, frames, self.sample_rate, self.channels, first)
            except _Unavailable as e:
                tried.append(f"{name}: {e}")
                continue
            self.output = name
            return segment
        raise EnvironmentFault(
            "no audio output could be opened (" + "; ".join(tried) + ")", _NO_DEVICE_HINT
        )


def _open(name: str, frames: int, sample_rate: int, channels: int, first) -> Segment:
    segment: Segment
    if name == "simpleaudio":
        segment = _SimpleaudioSegment(frames, sample_rate, channels)
    elif not shutil.which(name):
        raise _Unavailable("not installed")
    elif name in _PIPE_COMMANDS:
        segment = _PipeSegment(name, sample_rate, channels)
    else:
        segment = _FileSegment(name, sample_rate, channels)
    try:
        segment.write(first)
        segment.start()
    except (_Unavailable, EnvironmentFault):
        segment.stop()
        raise
    return segment


@contextlib.contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null for a while.

    ALSA's C library writes "ALSA lib ..." lines straight to descriptor 2 while simpleaudio
    opens a device, past sys.stderr; coach reports what failed in its own words.
    """
    import sys

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing to silence
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def streams_as_written(output: str | None) -> bool:
    """Whether `output` (None: the first that works) plays samples as they are written and can
    be given a session of a length not known yet: the pipe players can; simpleaudio plays a
    buffer of a fixed length, afplay a whole file."""
    if output is not None:
        return output in _PIPE_COMMANDS
    return any(shutil.which(name) for name in OUTPUTS if name in _PIPE_COMMANDS)


def available_outputs() -> list[str]:
    """Outputs that exist here, in the order they are tried."""

    def installed(name: str) -> bool:
        if name != "simpleaudio":
            return shutil.which(name) is not None
        try:
            import simpleaudio  # noqa: F401
        except Exception:  # not installed, or its ALSA library is missing
            return False
        return True

    return [name for name in OUTPUTS if installed(name)]


def probe(output: str | None = None) -> str:
    """The output `coach play` would use, found by opening it with a moment of silence.

    Raises EnvironmentFault (with the fix) when none can be opened.
    """
    import numpy as np

    speaker = Speaker(22_050, 1, output)
    speaker.open(441, np.zeros(441, dtype=np.float32))
    speaker.close()
    assert speaker.output is not None  # open() raised if no output could be opened
    return speaker.output
