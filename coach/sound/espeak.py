"""The pyttsx3 engine over espeak-ng: starting it, its voices, having phrases spoken (by the
speaker process, coach.sound.espeak_forks), and the timeout that turns a hung engine into a
clear error.

With espeak-ng (Linux), pyttsx3 gives the voices and their settings, and the phrases are
spoken through its ctypes binding of the library (`pyttsx3.drivers._espeak`), which coach starts
in espeak-ng's *synchronous* mode before pyttsx3 does: each phrase's samples come back from
one call, straight into memory. Each phrase is spoken by a fork of a process that has started
espeak-ng and set the voice but never spoken, so that no phrase changes the next
(coach.sound.espeak_forks says why): new phrases by forks of the *speaker*, a small process
of its own (`_Speaker`); a lone phrase with no speaker running by a fork of this process; the
same samples either way. pyttsx3's own driver runs espeak-ng asynchronously, on a thread of
its own, and saves each phrase to a WAV file; that took 16 ms a phrase against 3.5 ms, gave
slightly different samples each time, and has known faults (pyttsx3 2.99's espeak driver
writes only the last of several queued `save_to_file` calls, never clears its save path, and
prints on stdout). Other drivers (macOS, Windows) go through pyttsx3's `save_to_file`, one
phrase per fresh temp file. This module must not be imported by `coach validate`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault, UsageError
from coach.sound import espeak_forks as forks, installed
from coach.sound.voice import VoiceChoice, VoiceInfo, find_voice

if TYPE_CHECKING:
    import numpy as np

TIMEOUT_S = 20.0  # a phrase not spoken by then: the engine hangs (COACH_TTS_TIMEOUT_S moves it)
RETRIES = 3
AT_ONCE = max(2, os.cpu_count() or 1)  # phrases spoken at once (a child each)
HELD = 32  # phrases spoken by forks of this process at a time (their samples held till all are)


class Engine:
    """One pyttsx3 engine per process, used from one thread at a time."""

    _instance: Engine | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import pyttsx3  # noqa: F401 - missing here is a broken install, said so
        except ImportError as e:  # pragma: no cover - a broken install
            raise EnvironmentFault(
                f"the text-to-speech library is missing ({e})", "run scripts/coach to install it"
            ) from None
        try:
            started = forks.start()
        except Exception as e:  # pyttsx3 raises OSError, RuntimeError or KeyError here
            raise EnvironmentFault(
                f"no text-to-speech engine could be started ({type(e).__name__}: {e})",
                "install espeak-ng: sudo apt-get install espeak-ng "
                "(scripts/coach installs it when run as root)",
            ) from None
        self.engine = started.engine
        self.sample_rate = started.sample_rate
        self.driver = type(self.engine.proxy._driver).__module__.rsplit(".", 1)[-1]
        if self.driver == "espeak" and self.sample_rate is None:
            # Started by someone else in this process, in a mode whose samples coach cannot
            # take straight back.
            raise EnvironmentFault(
                "espeak-ng was already started in this process, not by coach",
                "run coach in a process of its own",
            )
        # Not espeak (sapi5, nsss): the driver's name is what there is of its version.
        self.facts = Facts(
            installed.version("pyttsx3"),
            self.driver,
            started.version or self.driver,
            self._voices(started.voices),
        )
        if _FACTS and _FACTS[0] != self.facts:  # the note was stale: right from now on
            installed.note(FACTS_NOTE, {"files": _engine_files(), **self.facts.noted()})
            _FACTS[:] = [self.facts]
        self._applied: tuple | None = None  # (voice id, rate, volume, pitch) in effect
        self._speaker: _Speaker | None = None  # the process that speaks (see `_Speaker`)
        self._speaking = threading.Lock()  # one request to it at a time
        self.speaker_fault: str | None = None  # why this process speaks instead, if it does

    @classmethod
    def get(cls) -> Engine:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _voices(self, voices) -> tuple[VoiceInfo, ...]:
        out = []
        for v in voices:
            langs = tuple(
                lang.decode(errors="replace").lstrip("\x05") if isinstance(lang, bytes) else lang
                for lang in (v.languages or ())
            )
            out.append(VoiceInfo(v.id, v.name, langs))
        return tuple(out)

    def synthesize(self, text: str, voice_id: str, choice: VoiceChoice) -> tuple[np.ndarray, int]:
        """`text` spoken: (float32 mono samples, sample rate).

        A phrase that comes back empty is tried again: pyttsx3's drivers have ended their
        loop without writing the file under load (seen with four processes at once).
        """
        espeak = self.driver == "espeak" and self.sample_rate is not None
        for _ in range(RETRIES):
            if espeak:
                found = dict(self._speak_espeak([text], voice_id, choice)).get(text)
            else:
                found = self._run(lambda: self._synthesize_once(text, voice_id, choice))
            if found is not None and len(found[0]):
                return found
        raise EnvironmentFault(
            f"the speech engine wrote no audio for {text!r}",
            "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
        )

    def synthesize_all(
        self, texts: list[str], voice_id: str, choice: VoiceChoice
    ) -> Iterator[tuple[str, tuple[np.ndarray, int]]]:
        """(text, `synthesize(text)`) for each of `texts`, as each is ready, in no set order:
        with espeak-ng's driver, all of them asked of the speaker process at once (started
        here unless `start_speaking` started it), which speaks a few at a time."""
        if self.driver != "espeak" or self.sample_rate is None or len(texts) < 2:
            for text in texts:
                yield text, self.synthesize(text, voice_id, choice)
            return
        self.start_speaking()
        empty = []
        for text, found in self._speak_espeak(texts, voice_id, choice):
            if len(found[0]):
                yield text, found
            else:  # tried again once the others are in (see `synthesize`)
                empty.append(text)
        for text in empty:
            yield text, self.synthesize(text, voice_id, choice)

    def start_speaking(self) -> None:
        """Start the speaker process (see `_Speaker`), unless it runs or cannot: its start
        (an interpreter, pyttsx3, espeak-ng) then overlaps what the caller does next."""
        if self.driver != "espeak" or self.sample_rate is None:
            return
        if self._speaker is None and self.speaker_fault is None:
            try:
                self._speaker = _Speaker()
            except OSError as e:  # no interpreter to start here: this process speaks
                self.speaker_fault = f"the speaker process cannot start ({e})"

    def _speak_espeak(
        self, texts: list[str], voice_id: str, choice: VoiceChoice
    ) -> Iterator[tuple[str, tuple[np.ndarray, int]]]:
        """`texts` spoken by the speaker process if it runs, as each is ready; otherwise (a
        lone phrase, or a speaker that could not start) by forks of this process."""
        import numpy as np

        rate = self.sample_rate
        assert rate is not None  # espeak-ng's driver, started by coach
        timeout_s = tts_timeout_s()
        speaker = self._speaker
        if speaker is not None:
            with self._speaking:
                try:
                    for i, data in speaker.speak(texts, voice_id, choice, timeout_s, AT_ONCE):
                        yield texts[i], (_float32(np, data), rate)
                    return
                except _Unavailable as e:
                    self.speaker_fault = str(e)
                finally:
                    if not speaker.idle:  # failed, hung or stopped part way: never used again
                        speaker.kill()
                        self._speaker = None
        # Choosing the voice reads its files (and has hung on one): a phrase's time for that,
        # then each child has a phrase's time of its own.
        self._run(lambda: self._apply(voice_id, choice))
        for at in range(0, len(texts), HELD):
            batch = texts[at : at + HELD]
            for i, data in self._spoken_here(batch, timeout_s):
                yield batch[i], (_float32(np, data), rate)

    def _spoken_here(self, texts: list[str], timeout_s: float) -> list[tuple[int, bytes]]:
        """(index, int16 samples) of each of `texts`, spoken by forks of this process."""
        parts: dict[int, list[bytes]] = {}
        spoken: list[int] = []

        def heard(i: int, part: memoryview | None) -> None:
            if part is None:
                spoken.append(i)
            else:
                parts.setdefault(i, []).append(bytes(part))

        self._run(
            lambda: forks.speak_all(texts, timeout_s, AT_ONCE, heard),
            join_s=timeout_s * len(texts),
        )
        return [(i, b"".join(parts.pop(i, []))) for i in spoken]

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
        if worker.is_alive() or isinstance(result[0], forks.Hung):
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
        forks.set_voice(target, voice_id, choice.rate_wpm, choice.volume, choice.pitch)
        self._applied = wanted

    def _synthesize_once(self, text: str, voice_id: str, choice: VoiceChoice):
        self._apply(voice_id, choice)
        return self._speak_to_file(text)

    def _speak_to_file(self, text: str):
        """Other drivers: pyttsx3's save_to_file, one phrase per fresh temp file."""
        import soundfile

        fd, name = tempfile.mkstemp(prefix="coach-phrase-", suffix=".wav")
        os.close(fd)
        os.unlink(name)  # the driver creates it; an empty file left behind would look like audio
        path = Path(name)
        try:
            with forks.quiet():
                self.engine.save_to_file(text, name)
                self.engine.runAndWait()
            if not path.exists() or path.stat().st_size <= 44:
                return None
            raw, rate = soundfile.read(name, dtype="float32", always_2d=False)
            return (raw.mean(axis=1) if raw.ndim > 1 else raw), rate
        finally:
            path.unlink(missing_ok=True)


# -- what espeak-ng is, known without starting it ---------------------------------------------

FACTS_NOTE = "espeak-facts.json"  # in the cache folder (see coach.sound.installed)
# Where pyttsx3 looks for the library (pyttsx3.drivers._espeak), and its data's usual homes.
_LIBRARIES = ("libespeak-ng.so.1", "libespeak.so.1", "libespeak-ng.1.dylib")
_DATA_FILES = ("", "voices", "lang", "phontab", "phondata")


@dataclass(frozen=True, slots=True)
class Facts:
    """What a command needs of espeak-ng without speaking: its versions (for the phrase
    cache's key) and its voices (to choose one)."""

    pyttsx3_version: str
    driver: str  # pyttsx3's driver: espeak here, sapi5 or nsss elsewhere
    backend_version: str
    voices: tuple[VoiceInfo, ...]

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

    def noted(self) -> dict:
        voices = [[v.id, v.name, list(v.languages)] for v in self.voices]
        versions = [self.pyttsx3_version, self.driver, self.backend_version]
        return {"versions": versions, "voices": voices}

    @classmethod
    def from_note(cls, entry: dict) -> Facts | None:
        try:
            pyttsx3_version, driver, backend_version = (str(x) for x in entry["versions"])
            voices = tuple(
                VoiceInfo(str(i), str(n), tuple(str(x) for x in langs))
                for i, n, langs in entry["voices"]
            )
        except (KeyError, TypeError, ValueError):
            return None
        return cls(pyttsx3_version, driver, backend_version, voices)


_FACTS: list[Facts] = []  # this process's, once known


def facts() -> Facts:
    """espeak-ng's Facts: from the note in the cache folder while the files they came from are
    unchanged (`_engine_files`), else from the engine, started now and noted. Starting it
    costs 50-90 ms (pyttsx3's import, loading the library, listing 130 voices), which a
    cached compile or a warm export would otherwise spend only to build the cache key."""
    if installed.is_looking():
        return Engine.get().facts  # `coach doctor`: known from the engine itself
    if _FACTS:
        return _FACTS[0]
    files = _engine_files()
    entry = installed.found_note(FACTS_NOTE, files)
    found = Facts.from_note(entry) if entry is not None else None
    if found is None:
        found = Engine.get().facts
        installed.note(FACTS_NOTE, {"files": files, **found.noted()})
    _FACTS.append(found)
    return found


def _engine_files() -> list:
    """What espeak-ng's facts depend on, as it is on disk now: the interpreter, pyttsx3
    (where it is imported from, its version, its files), the dynamic loader's cache and the
    library wherever pyttsx3 may load it from, and espeak-ng's data folder and its main
    files. Installing, upgrading or removing any of them changes it."""
    import sys

    multiarch = getattr(sys.implementation, "_multiarch", "")
    paths = os.environ.get("LD_LIBRARY_PATH", ""), os.environ.get("ESPEAK_DATA_PATH", "")
    folders = [
        *(p for p in paths[0].split(":") if p),
        "/usr/local/lib",
        f"/usr/lib/{multiarch}",
        "/usr/lib",
        f"/lib/{multiarch}",
        "/lib",
        "/opt/homebrew/lib",
    ]
    libraries = [os.path.realpath(Path(f) / name) for f in folders for name in _LIBRARIES]
    data = [*(Path(p) for p in paths[1:] if p), *(Path(f) / "espeak-ng-data" for f in folders)]
    data += [Path("/usr/share/espeak-ng-data"), Path("/usr/local/share/espeak-ng-data")]
    return [
        sys.executable,
        list(paths),
        installed.package_state("pyttsx3", "pyttsx3", ("*.py", "drivers/*.py")),
        installed.files_state(["/etc/ld.so.cache", *libraries]),
        installed.files_state([d / f for d in data for f in _DATA_FILES]),
    ]


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


class _Unavailable(Exception):
    """The speaker process did not start: this process speaks instead."""


def _hung(timeout_s: float) -> EnvironmentFault:
    return EnvironmentFault(
        f"the speech engine did not finish a phrase within {timeout_s:g} s",
        "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
    )


def _failed(what: str) -> EnvironmentFault:
    return EnvironmentFault(
        f"the speech engine failed: {what}",
        "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null",
    )


def _said(kind: int, data: bytearray) -> str:
    """What a message that is not the one expected says went wrong."""
    text = data.decode("utf-8", errors="replace")
    if kind == forks.ENDED:
        return f"the speaker process stopped with status {text}"
    if kind == forks.SILENT:
        return f"the speaker process did not start within {STARTUP_S:g} s"
    if kind == forks.HUNG:
        return "a phrase took longer than its time"
    return text or f"the speaker process sent a message coach did not expect ({kind})"


def _float32(np, data: bytes | bytearray):
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


STARTUP_S = 60.0  # the speaker's interpreter and imports, on a machine as busy as it gets


class _Speaker:
    """The speaker process (coach.sound.espeak_forks.serve), coach's side: a process that
    starts espeak-ng and sets the voice with the same calls as coach (`espeak_forks.start`,
    `set_voice`) and never speaks; each phrase is spoken by a fork of it, as it was by a fork
    of coach, so the samples are the same bytes. A fork costs more than the speaking: on a
    2-core virtual machine, 7.5-10 ms of CPU a phrase forked from coach (with numpy and the
    rest loaded, each fork's pages copied as they are written: some 530 page faults), against
    4-6 ms from this process (some 280), and about 1.5 ms for espeak-ng to speak it. Meanwhile
    coach's own process is free to make each phrase ready (trim, normalize, keep in the
    cache) as it comes.

    Started as a new interpreter (not a fork of coach: no threads or numpy come along), with
    Ctrl-C, SIGTERM and SIGHUP blocked until it ignores SIGINT, as coach's Piper workers: a
    Ctrl-C reaches the whole process group, and it is coach that stops it (`kill`). It exits
    when coach closes its end of the pipe, at exit or when coach dies; its children die with it.
    One request at a time; after one not read to its end it is killed, never reused."""

    def __init__(self) -> None:
        import subprocess
        import sys

        import pyttsx3

        import coach
        from coach.interrupts import held_signals

        # Without site (-S): its editable-install finders and .pth files take tens of
        # milliseconds, and the speaker needs only coach's folder and pyttsx3's.
        path = [str(Path(m.__file__ or "").resolve().parents[1]) for m in (coach, pyttsx3)]
        read_fd, write_fd = os.pipe()
        code = (
            f"import sys; sys.path[:0] = {path!r}; "
            f"from coach.sound.espeak_forks import serve; serve({write_fd})"
        )
        try:
            with held_signals(block=True):
                self.process = subprocess.Popen(
                    [sys.executable, "-S", "-c", code],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,  # pyttsx3 prints; nothing of it reaches coach's
                    stderr=subprocess.DEVNULL,
                    pass_fds=(write_fd,),
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._from = read_fd
        self._started = False
        self.idle = True  # no request part way
        atexit.register(self.close)

    def speak(
        self, texts: list[str], voice_id: str, choice: VoiceChoice, timeout_s: float, at_once: int
    ) -> Iterator[tuple[int, bytes]]:
        """(index in `texts`, int16 samples) of each phrase, as each is ready."""
        import json

        self.idle = False
        if not self._started:
            _, kind, data = self._next(STARTUP_S)
            if kind != forks.READY:
                raise _Unavailable(f"the speaker process did not start ({_said(kind, data)})")
            self._started = True
        request = {
            "voice": voice_id,
            "rate_wpm": choice.rate_wpm,
            "volume": choice.volume,
            "pitch": choice.pitch,
            "texts": texts,
            "timeout_s": timeout_s,
            "at_once": at_once,
        }
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            stdin.flush()
        except OSError as e:  # it died since it started
            raise _failed(f"the speaker process stopped ({e})") from None
        # Choosing the voice reads its files (and has hung on one): a phrase's time for that.
        # Then each child has a phrase's time, and the speaker says when one hung; the second
        # more is for it to say so.
        wait_s = timeout_s
        parts: dict[int, list[bytearray]] = {}
        while True:
            index, kind, data = self._next(wait_s)
            if kind == forks.PART:
                parts.setdefault(index, []).append(data)
            elif kind == forks.SPOKEN:
                yield index, b"".join(parts.pop(index, []))
            elif kind == forks.DONE:
                self.idle = True
                return
            elif kind in (forks.HUNG, forks.SILENT):
                raise _hung(timeout_s)
            elif kind != forks.APPLIED:
                raise _failed(_said(kind, data))
            wait_s = timeout_s + 1.0

    def _next(self, wait_s: float) -> tuple[int, int, bytearray]:
        """The next message: (index, kind, payload); kind forks.SILENT when none came within
        `wait_s`, forks.ENDED when the speaker has exited (its status as the payload)."""
        deadline = time.monotonic() + wait_s
        header = self._read(forks.HEADER.size, deadline)
        if isinstance(header, int):
            return self._not_read(header)
        index, kind, size = forks.HEADER.unpack(header)
        data = self._read(size, deadline)
        if isinstance(data, int):
            return self._not_read(data)
        return index, kind, data

    def _read(self, size: int, deadline: float) -> bytearray | int:
        """`size` bytes (read straight into the buffer returned), or forks.SILENT or forks.ENDED."""
        import select

        data = bytearray(size)
        view, got = memoryview(data), 0
        while got < size:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not select.select([self._from], [], [], left_s)[0]:
                return forks.SILENT
            count = os.readv(self._from, [view[got:]])
            if not count:
                return forks.ENDED
            got += count
        return data

    def _not_read(self, kind: int) -> tuple[int, int, bytearray]:
        status = str(self.process.wait()).encode() if kind == forks.ENDED else b""
        return -1, kind, bytearray(status)

    def kill(self) -> None:
        """Stop it at once (its children go with it)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        self.close()

    def close(self) -> None:
        """Let it go (it exits when its input ends) and wait for it."""
        import subprocess

        atexit.unregister(self.close)
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self._from)
