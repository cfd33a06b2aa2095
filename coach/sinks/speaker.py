"""Playback through the speakers: simpleaudio first, a player program on the system second.

simpleaudio is archived, builds from source and raises SimpleaudioError where there is no audio
device, so it is imported lazily and any failure falls back to `paplay`, `pw-play`, `aplay` or
`afplay` fed a WAV file. The session plays as one continuous stream, so every cue sounds at its
sample offset and nothing drifts, however long the routine.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from coach.errors import EnvironmentFault, UsageError

PLAYERS = ("paplay", "pw-play", "aplay", "afplay")
OUTPUTS = ("simpleaudio", *PLAYERS)
_NO_DEVICE_HINT = (
    "check that a sound device or audio server is available (coach doctor will say more), "
    "or make a file to play elsewhere: coach export ROUTINE"
)


@dataclass
class Playback:
    """A sound that is playing; `stop` silences it at once."""

    output: str
    _handle: object
    _tmp: Path | None = None

    def is_playing(self) -> bool:
        if self.output == "simpleaudio":
            return self._handle.is_playing()
        return self._handle.poll() is None

    def wait(self) -> None:
        try:
            if self.output == "simpleaudio":
                while self._handle.is_playing():
                    time.sleep(0.05)  # short sleeps keep Ctrl-C responsive
            else:
                code = self._handle.wait()
                if code != 0:
                    err = self._handle.stderr.read().decode(errors="replace").strip()
                    raise EnvironmentFault(
                        f"{self.output} could not play the session (exit {code}): {err}",
                        _NO_DEVICE_HINT,
                    )
        finally:
            self._cleanup()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.output == "simpleaudio":
                self._handle.stop()
            elif self._handle.poll() is None:
                self._handle.terminate()
                self._handle.wait(timeout=2)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def available_outputs() -> list[str]:
    """Outputs that exist here, in the order they are tried."""
    found = []
    with contextlib.suppress(Exception):
        import simpleaudio  # noqa: F401

        found.append("simpleaudio")
    found.extend(p for p in PLAYERS if shutil.which(p))
    return found


def play(pcm, sample_rate: int, output: str | None = None) -> Playback:
    """Start playing float32 PCM ((n,) or (n, 2)); returns at once."""
    if output is not None and output not in OUTPUTS:
        raise UsageError("--output", f"must be one of {', '.join(OUTPUTS)}, found '{output}'")
    tried = []
    for name in [output] if output else ["simpleaudio", *PLAYERS]:
        try:
            if name == "simpleaudio":
                return _simpleaudio(pcm, sample_rate)
            if shutil.which(name):
                return _player(name, pcm, sample_rate)
            tried.append(f"{name}: not installed")
        except _Unavailable as e:
            tried.append(f"{name}: {e}")
    raise EnvironmentFault("no audio output could be opened (" + "; ".join(tried) + ")",
                           _NO_DEVICE_HINT)  # fmt: skip


class _Unavailable(Exception):
    pass


def _int16(pcm):
    import numpy as np

    return (np.clip(pcm, -1.0, 1.0) * 32767).round().astype("<i2")


def _simpleaudio(pcm, sample_rate: int) -> Playback:
    try:
        import simpleaudio
    except ImportError as e:
        raise _Unavailable(f"not installed ({e})") from None
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    try:
        handle = simpleaudio.play_buffer(_int16(pcm).tobytes(), channels, 2, sample_rate)
    except Exception as e:  # SimpleaudioError, or an ALSA failure with no device
        raise _Unavailable(str(e) or type(e).__name__) from None
    return Playback("simpleaudio", handle)


def _player(name: str, pcm, sample_rate: int) -> Playback:
    import soundfile

    fd, tmp_name = tempfile.mkstemp(prefix="coach-play-", suffix=".wav")
    tmp = Path(tmp_name)
    with open(fd, "wb") as f:
        soundfile.write(f, _int16(pcm), sample_rate, format="WAV", subtype="PCM_16")
    try:
        handle = subprocess.Popen(
            [name, str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _Unavailable(str(e)) from None
    time.sleep(0.05)
    if handle.poll() not in (None, 0):  # no server, no device: it fails at once
        err = handle.stderr.read().decode(errors="replace").strip()
        tmp.unlink(missing_ok=True)
        raise _Unavailable(err or f"exit {handle.returncode}")
    return Playback(name, handle, tmp)
