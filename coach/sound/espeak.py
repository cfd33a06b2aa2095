"""The pyttsx3 engine over espeak-ng: starting it, its voices, speaking one phrase in a fork of
this process, and the timeout that turns a hung engine into a clear error.

With espeak-ng (Linux), pyttsx3 gives the voices and their settings, and the phrases are
spoken through its ctypes binding of the library (`pyttsx3.drivers._espeak`), which coach starts
in espeak-ng's *synchronous* mode before pyttsx3 does: each phrase's samples come back from
one call, straight into memory, spoken by a fork of this process so that no phrase changes
the next (see `_speak_espeak`). pyttsx3's own driver runs espeak-ng asynchronously, on a thread
of its own, and saves each phrase to a WAV file; that took 16 ms a phrase against 3.5 ms, gave
slightly different samples each time, and has known faults (pyttsx3 2.99's espeak driver writes
only the last of several queued `save_to_file` calls, never clears its save path, and prints on
stdout). Other drivers (macOS, Windows) go through pyttsx3's `save_to_file`, one phrase per
fresh temp file. This module must not be imported by `coach validate`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault, UsageError
from coach.sound.voice import VoiceChoice, VoiceInfo, find_voice

if TYPE_CHECKING:
    import numpy as np

TIMEOUT_S = 20.0  # a phrase not spoken by then: the engine hangs (COACH_TTS_TIMEOUT_S moves it)
RETRIES = 3
AT_ONCE = max(2, os.cpu_count() or 1)  # phrases spoken at once by `synthesize_all`


class Engine:
    """One pyttsx3 engine per process, used from one thread at a time."""

    _instance: Engine | None = None
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
    def get(cls) -> Engine:
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

    def synthesize_all(
        self, texts: list[str], voice_id: str, choice: VoiceChoice
    ) -> list[tuple[np.ndarray, int]]:
        """Each of `texts` spoken, the same samples `synthesize` gives each, in fewer round
        trips: with espeak-ng's driver, one thread for them all and a fork per phrase as
        `synthesize`, a few speaking at once (a fork costs more than espeak-ng takes to
        speak a short phrase, so the next is forked while the last speaks)."""
        rate = self.sample_rate
        if self.driver != "espeak" or rate is None or len(texts) < 2:
            return [self.synthesize(t, voice_id, choice) for t in texts]
        timeout_s = tts_timeout_s()
        # Choosing the voice reads its files (and has hung on one): a phrase's time for that,
        # then each child has a phrase's time of its own.
        self._run(lambda: self._apply(voice_id, choice))
        spoken = self._run(
            lambda: _speak_espeak_all(texts, timeout_s, AT_ONCE), join_s=timeout_s * len(texts)
        )
        return [
            (pcm, rate) if len(pcm) else self.synthesize(text, voice_id, choice)
            for text, pcm in zip(texts, spoken)
        ]

    def _run(self, work, join_s: float | None = None):
        """`work()` on a thread of its own, so a hung engine becomes an error, not a hang.
        `join_s`: how long `work` may take (default: one phrase's timeout)."""
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
            worker.join(join_s or timeout_s)
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
    return _speak_espeak_all([text], timeout_s, 1)[0]


def _speak_espeak_all(texts: list[str], timeout_s: float, at_once: int) -> list:
    """`_speak_espeak` of each text, up to `at_once` children speaking at the same time
    (each a fork of this process as it is: the same samples as one by one)."""
    import select
    import signal

    import numpy as np

    spoken: list = [None] * len(texts)
    # read end -> [index, child, chunks read, deadline]
    running: dict[int, list] = {}
    at = 0
    try:
        while at < len(texts) or running:
            while at < len(texts) and len(running) < at_once:
                read_fd, pid = _fork_speaker(texts[at])
                running[read_fd] = [at, pid, [], time.monotonic() + timeout_s]
                at += 1
            left_s = min(r[3] for r in running.values()) - time.monotonic()
            ready = select.select(list(running), [], [], left_s)[0] if left_s > 0 else []
            if not ready:
                raise _Hung
            for read_fd in ready:
                chunk = os.read(read_fd, 1 << 16)
                if chunk:
                    running[read_fd][2].append(chunk)
                    continue
                i, pid, chunks, _ = running.pop(read_fd)
                os.close(read_fd)
                _, status = os.waitpid(pid, 0)
                if status != 0:
                    raise RuntimeError(
                        f"espeak-ng stopped with status {status} speaking {texts[i]!r}"
                    )
                samples = np.frombuffer(b"".join(chunks), dtype="<i2")
                spoken[i] = samples.astype(np.float32) / 32768.0
    finally:
        for read_fd, (_, pid, _, _) in running.items():  # hung, or interrupted: they go too
            os.close(read_fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    return spoken


def _fork_speaker(text: str) -> tuple[int, int]:
    """A child that speaks `text` and writes its samples (int16) to the pipe it returns."""
    import ctypes
    import signal
    import warnings

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
    return read_fd, pid


@contextlib.contextmanager
def _quiet():
    """Silence the driver's prints: coach's stdout carries JSON and timelines."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _package_version(name: str) -> str:
    # importlib.metadata searches every folder on sys.path (50-90 ms, in every command that
    # speaks or reads the phrase cache); the package's one .dist-info beside it says the same.
    import importlib

    try:
        package = Path(importlib.import_module(name).__file__ or "").parent
        found = list(package.parent.glob(f"{name}-*.dist-info/METADATA"))
        if len(found) == 1:
            with found[0].open(encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():  # the headers end here
                        break
    except (ImportError, OSError, UnicodeDecodeError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"
