"""Speech: the `Voice` protocol, the pyttsx3 backend, and the phrase cache.

Each unique phrase is synthesized once, ever: the cache is keyed by a hash of everything that
changes the sound (text, voice, rate, pitch, volume, backend and its versions, and how coach
post-processes it). Phrases enter the cache trimmed of silence and normalized to one loudness,
so the mix needs no dynamic processing (no pumping) and lands at a steady level.

With espeak-ng (Linux), pyttsx3 gives the voices and their settings, and the phrases are
spoken through its ctypes binding of the library (`pyttsx3.drivers._espeak`), which coach starts
in espeak-ng's *synchronous* mode before pyttsx3 does: each phrase's samples come back from
one call, straight into memory, spoken by a fork of this process so that no phrase changes
the next (see `_speak_espeak`). pyttsx3's own driver runs espeak-ng asynchronously, on a thread
of its own, and saves each phrase to a WAV file; that took 16 ms a phrase against 3.5 ms, gave
slightly different samples each time, and has known faults (it writes only the last of several
queued `save_to_file` calls, never clears its save path, and prints on stdout). Other drivers
(macOS, Windows) go through pyttsx3's `save_to_file`, one phrase per fresh temp file. A hung
engine becomes a clear error after a timeout. This module must not be imported by
`coach validate`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from coach.errors import EnvironmentFault, UsageError

if TYPE_CHECKING:
    import numpy as np

# Phrase loudness after normalization: RMS of the voiced part, and a ceiling for peaks.
# Together with the tone levels in coach.tones this puts the mix near -19 LUFS.
SPEECH_RMS_DB = -15.5
SPEECH_PEAK_DB = -3.0
SILENCE_DB = -45.0  # quieter than this at either end of a phrase is trimmed
EDGE_MS = 15  # kept (and faded) at each end after trimming, so words are not clipped
# Bump when the samples of a phrase change (trimming, normalizing, how it is spoken): old cache
# entries go stale. 4: each phrase spoken by a fresh fork, the same samples in any order.
PROCESSING_VERSION = 4
TIMEOUT_S = 20.0  # a phrase not spoken by then: the engine hangs (COACH_TTS_TIMEOUT_S moves it)
RETRIES = 3


class Voice(Protocol):
    """Text to mono float32 PCM at `sample_rate`."""

    sample_rate: int

    def pcm(self, text: str) -> np.ndarray: ...

    def duration_ms(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """What is asked of the engine; every field changes the sound, so all are in the cache key."""

    voice: str | None  # a voice id, name or language code; None: the language's default
    language: str = "en"
    rate_wpm: int = 165
    volume: float = 1.0
    pitch: int = 50  # espeak-ng's scale, 0-100


# -- the engine ---------------------------------------------------------------------------


class _Engine:
    """One pyttsx3 engine per process, used from one thread at a time."""

    _instance: _Engine | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import pyttsx3
        except ImportError as e:  # pragma: no cover - a broken install
            raise EnvironmentFault(
                f"the text-to-speech library is missing ({e})", "run scripts/coach to install it"
            ) from None
        # Before pyttsx3.init(), which would start it in its asynchronous mode otherwise.
        self.sample_rate = _start_espeak_synchronously()
        try:
            with _quiet():
                self.engine = pyttsx3.init()
        except Exception as e:  # pyttsx3 raises OSError, RuntimeError or KeyError here
            raise EnvironmentFault(
                f"no text-to-speech engine could be started ({type(e).__name__}: {e})",
                "install espeak-ng: sudo apt-get install espeak-ng "
                "(scripts/coach installs it when run as root)",
            ) from None
        self.pyttsx3_version = _package_version("pyttsx3")
        self.driver = type(self.engine.proxy._driver).__module__.rsplit(".", 1)[-1]
        if self.driver == "espeak" and self.sample_rate is None:
            # Started by someone else in this process, in a mode whose samples coach cannot
            # take straight back.
            raise EnvironmentFault(
                "espeak-ng was already started in this process, not by coach",
                "run coach in a process of its own",
            )
        self.backend_version = self._backend_version()
        self.voices = self._voices()
        self._applied: tuple | None = None  # (voice id, rate, volume, pitch) in effect

    @classmethod
    def get(cls) -> _Engine:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _backend_version(self) -> str:
        try:
            from pyttsx3.drivers import _espeak

            info = _espeak.Info()
            return info.decode() if isinstance(info, bytes) else str(info)
        except Exception:  # not espeak (sapi5, nsss): the driver name is what we have
            return self.driver

    def _voices(self) -> tuple[VoiceInfo, ...]:
        out = []
        for v in self.engine.getProperty("voices"):
            langs = tuple(
                lang.decode(errors="replace").lstrip("\x05") if isinstance(lang, bytes) else lang
                for lang in (v.languages or ())
            )
            out.append(VoiceInfo(v.id, v.name, langs))
        return tuple(out)

    def resolve(self, choice: VoiceChoice) -> str:
        """The engine's voice id for a choice, or an error naming what is installed."""
        wanted = choice.voice or choice.language
        match = find_voice(self.voices, wanted)
        if match is None and choice.voice is None:
            match = find_voice(self.voices, choice.language.split("-")[0])
        if match is None:
            raise EnvironmentFault(
                f"no installed voice matches '{wanted}'",
                "list the voices with `coach voices` and pass one with --voice",
            )
        return match.id

    def synthesize(self, text: str, voice_id: str, choice: VoiceChoice) -> tuple[np.ndarray, int]:
        """`text` spoken: (float32 mono samples, sample rate).

        A phrase that comes back empty is tried again: pyttsx3's drivers have ended their
        loop without writing the file under load (seen with four processes at once).
        """
        for _ in range(RETRIES):
            found = self._run(lambda: self._synthesize_once(text, voice_id, choice))
            if found is not None and len(found[0]):
                return found
        raise EnvironmentFault(
            f"the speech engine wrote no audio for {text!r}",
            "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
        )

    def _run(self, work):
        """`work()` on a thread of its own, so a hung engine becomes an error, not a hang."""
        result: list = []

        def run() -> None:
            try:
                result.append(work())
            except BaseException as exc:  # handed to the caller's thread
                result.append(exc)

        timeout_s = tts_timeout_s()
        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            worker.join(timeout_s)
        if worker.is_alive() or isinstance(result[0], _Hung):
            raise EnvironmentFault(
                f"the speech engine did not finish a phrase within {timeout_s:g} s",
                "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
            )
        if isinstance(result[0], BaseException):
            exc = result[0]
            raise EnvironmentFault(
                f"the speech engine failed: {type(exc).__name__}: {exc}",
                "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
            )
        return result[0]

    def _apply(self, voice_id: str, choice: VoiceChoice) -> None:
        """Voice, rate, volume and pitch, set only when they differ from what is in effect."""
        target = self.engine.proxy._driver if self.driver == "espeak" else self.engine
        wanted = (voice_id, choice.rate_wpm, choice.volume, choice.pitch)
        if wanted == self._applied:
            return
        self._applied = None
        # engine.setProperty only queues the change until the next runAndWait; the espeak
        # driver's own setProperty applies it at once (espeak-ng is synchronous here).
        target.setProperty("voice", voice_id)
        target.setProperty("rate", choice.rate_wpm)
        target.setProperty("volume", choice.volume)
        with contextlib.suppress(KeyError, ValueError):
            target.setProperty("pitch", choice.pitch)
        self._applied = wanted

    def _synthesize_once(self, text: str, voice_id: str, choice: VoiceChoice):
        self._apply(voice_id, choice)
        if self.driver == "espeak":
            return _speak_espeak(text, tts_timeout_s()), self.sample_rate
        return self._speak_to_file(text)

    def _speak_to_file(self, text: str):
        """Other drivers: pyttsx3's save_to_file, one phrase per fresh temp file."""
        import soundfile

        fd, name = tempfile.mkstemp(prefix="coach-phrase-", suffix=".wav")
        os.close(fd)
        os.unlink(name)  # the driver creates it; an empty file left behind would look like audio
        path = Path(name)
        try:
            with _quiet():
                self.engine.save_to_file(text, name)
                self.engine.runAndWait()
            if not path.exists() or path.stat().st_size <= 44:
                return None
            raw, rate = soundfile.read(name, dtype="float32", always_2d=False)
            return (raw.mean(axis=1) if raw.ndim > 1 else raw), rate
        finally:
            path.unlink(missing_ok=True)


def tts_timeout_s() -> float:
    """How long one phrase may take: TIMEOUT_S, or COACH_TTS_TIMEOUT_S when set."""
    text = os.environ.get("COACH_TTS_TIMEOUT_S", "").strip()
    if not text:
        return TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86_400:
        raise UsageError(
            "COACH_TTS_TIMEOUT_S", f"must be a number of seconds above 0, found '{text}'"
        )
    return value


def _start_espeak_synchronously() -> int | None:
    """Start espeak-ng in its synchronous mode for pyttsx3's driver to find already started;
    returns its sample rate, or None where pyttsx3 will use another engine (or has already
    started espeak-ng in this process)."""
    try:
        from pyttsx3.drivers import _espeak
        from pyttsx3.drivers.espeak import EspeakDriver
    except Exception:  # no libespeak-ng here: pyttsx3 picks its platform's driver
        return None
    if EspeakDriver._moduleInitialized:
        return None
    rate = _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 1000)
    if rate <= 0:
        return None
    current = _espeak.GetCurrentVoice()
    name = current.contents.name if current and current.contents.name else b"gmw/en"
    EspeakDriver._defaultVoice = name.decode("utf-8")
    EspeakDriver._moduleInitialized = True
    return rate


class _Hung(Exception):
    """The engine did not finish a phrase in time."""


def _speak_espeak(text: str, timeout_s: float):
    """One phrase through espeak-ng in synchronous mode, in a child forked for it.

    espeak-ng carries state from one phrase to the next (its waveform generator's phase and
    pitch), so the same phrase came out a few samples longer or shorter depending on what was
    spoken before it in the process. This process never speaks: it only starts espeak-ng and
    sets the voice, and each phrase is spoken by a fork of it, which starts from that same
    state every time. The same text and settings then give the same samples, in any order,
    in any run, on any machine with the same espeak-ng (about 3 ms a phrase for the fork).
    """
    import ctypes
    import select
    import signal
    import warnings

    import numpy as np
    from pyttsx3.drivers import _espeak

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads. The child only runs
        # espeak-ng's C code (its lock is held by this thread) and writes to a pipe.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: speak, write the samples, leave without any Python cleanup
        code = 4
        try:
            os.close(read_fd)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)  # a signal ends it quietly

            def send(wav, count, _events) -> int:
                data = memoryview(ctypes.string_at(wav, count * 2)) if wav and count > 0 else b""
                while data:
                    data = data[os.write(write_fd, data) :]
                return 0  # go on

            _espeak.SetSynthCallback(send)
            flags = _espeak.ENDPAUSE | _espeak.CHARS_UTF8
            code = 0 if _espeak.Synth(text.encode("utf-8"), flags=flags) == _espeak.EE_OK else 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not select.select([read_fd], [], [], left_s)[0]:
                raise _Hung
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        os.close(read_fd)
        if pid:  # hung, or this thread was interrupted: the child goes too
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"espeak-ng stopped with status {status} speaking {text!r}")
    return np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0


@contextlib.contextmanager
def _quiet():
    """Silence the driver's prints: coach's stdout carries JSON and timelines."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def find_voice(voices, wanted: str) -> VoiceInfo | None:
    """A voice by id, by the id's last part (en-gb in gmw/en-GB), by name, or by language."""
    w = wanted.strip().lower()
    for test in (
        lambda v: v.id.lower() == w,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == w,
        lambda v: v.name.lower() == w,
        lambda v: any(lang.lower() == w for lang in v.languages),
    ):
        for v in voices:
            if test(v):
                return v
    return None


def list_voices(language: str | None = None) -> list[VoiceInfo]:
    """Installed voices, optionally those speaking `language` (en matches en-gb too)."""
    voices = _Engine.get().voices
    if not language:
        return list(voices)
    lang = language.lower()
    return [
        v
        for v in voices
        if any(x.lower() == lang or x.lower().startswith(lang + "-") for x in v.languages)
    ]


# -- the cache ----------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where phrases are kept: $COACH_CACHE_DIR, else the platform's cache folder."""
    override = os.environ.get("COACH_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_cache_path("coach", appauthor=False) / "phrases"


def cache_stats(folder: Path | None = None) -> tuple[int, int]:
    """(number of phrases, bytes) in the cache."""
    folder = folder or cache_dir()
    files = list(folder.glob("*/*.npy")) if folder.is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)


def clear_cache(folder: Path | None = None) -> int:
    """Delete every cached phrase; returns how many there were."""
    folder = folder or cache_dir()
    count = 0
    if folder.is_dir():
        for f in folder.glob("*/*.npy"):
            f.unlink(missing_ok=True)
            count += 1
    return count


class SpeechVoice:
    """The real voice: pyttsx3 through the phrase cache, in memory and on disk."""

    def __init__(self, choice: VoiceChoice, folder: Path | None = None) -> None:
        self.choice = choice
        self.folder = folder or cache_dir()
        self._engine: _Engine | None = None
        self._voice_id: str | None = None
        self._memory: dict[str, np.ndarray] = {}
        self.sample_rate = 22_050  # espeak-ng's rate; checked on every synthesized phrase
        self.synthesized = 0  # phrases made this run (the rest came from the cache)

    @property
    def engine(self) -> _Engine:
        if self._engine is None:
            self._engine = _Engine.get()
            self._voice_id = self._engine.resolve(self.choice)
        return self._engine

    def identity(self) -> dict:
        """Everything that changes the sound, for the cache key and the export's comment."""
        e = self.engine
        return {
            "backend": f"pyttsx3-{e.pyttsx3_version}/{e.driver}",
            "engine": e.backend_version,
            "voice": self._voice_id,
            "rate_wpm": self.choice.rate_wpm,
            "pitch": self.choice.pitch,
            "volume": self.choice.volume,
            "processing": PROCESSING_VERSION,
        }

    def _key(self, text: str) -> str:
        ident = json.dumps({"text": text, **self.identity()}, sort_keys=True)
        return hashlib.sha256(ident.encode("utf-8")).hexdigest()

    def duration_ms(self, text: str) -> int:
        return round(len(self.pcm(text)) * 1000 / self.sample_rate)

    def pcm(self, text: str) -> np.ndarray:
        found = self._memory.get(text)
        if found is not None:
            return found
        import numpy as np

        key = self._key(text)
        path = self.folder / key[:2] / f"{key}.npy"
        data = None
        if path.exists():
            try:
                data = np.load(path, allow_pickle=False)
                if data.dtype != np.float32 or data.ndim != 1 or not len(data):
                    data = None
            except (OSError, ValueError, EOFError):
                data = None  # a corrupt entry (a crash mid-write elsewhere): make it again
        if data is None:
            data = self._make(text)
            _store(path, data)
        data.setflags(write=False)
        self._memory[text] = data
        return data

    def _make(self, text: str) -> np.ndarray:
        raw, rate = self.engine.synthesize(text, self._voice_id, self.choice)
        if rate != self.sample_rate:
            raw = _resample(raw, rate, self.sample_rate)
        self.synthesized += 1
        return normalize_phrase(raw, self.sample_rate)


def _store(path: Path, data) -> None:
    """Write a cache entry atomically: concurrent runs never see half a phrase, and a run
    stopped mid-write (Ctrl-C, SIGTERM) leaves no temp file behind."""
    import numpy as np

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, data, allow_pickle=False)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # an unwritable cache costs speed, not correctness: the phrase is still used
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def normalize_phrase(raw, sample_rate: int):
    """Trim silence at both ends, fade the edges, and set a fixed loudness and peak ceiling."""
    import numpy as np

    x = np.asarray(raw, dtype=np.float32)
    loud = np.flatnonzero(np.abs(x) > 10 ** (SILENCE_DB / 20))
    if not len(loud):
        return np.zeros(max(1, sample_rate // 10), dtype=np.float32)
    edge = sample_rate * EDGE_MS // 1000
    x = x[max(0, loud[0] - edge) : loud[-1] + edge + 1].copy()
    fade = min(edge, len(x) // 2)
    if fade:
        ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    voiced = x[np.abs(x) > 10 ** ((SILENCE_DB + 10) / 20)]
    rms = float(np.sqrt(np.mean(np.square(voiced, dtype=np.float64)))) if len(voiced) else 0.0
    peak = float(np.max(np.abs(x)))
    if rms <= 0 or peak <= 0:
        return x
    y = x * np.float32(10 ** (SPEECH_RMS_DB / 20) / rms)
    # Speech peaks sit 12-18 dB above its RMS; rather than lower the whole phrase to keep the
    # rare peak under the ceiling, round the peaks off with a static soft knee (no pumping).
    ceiling = 10 ** (SPEECH_PEAK_DB / 20)
    knee = 0.6 * ceiling
    over = np.abs(y) > knee
    if over.any():
        mag = np.abs(y[over])
        y[over] = np.sign(y[over]) * (
            knee + (ceiling - knee) * np.tanh((mag - knee) / (ceiling - knee))
        )
    return y.astype(np.float32)


def _resample(x, from_rate: int, to_rate: int):
    import numpy as np

    n = round(len(x) * to_rate / from_rate)
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"
