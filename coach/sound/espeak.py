"""The pyttsx3 engine over espeak-ng: starting it, its voices, speaking phrases in forks of a
small process that never speaks, and the timeout that turns a hung engine into a clear error.

With espeak-ng (Linux), pyttsx3 gives the voices and their settings, and the phrases are
spoken through its ctypes binding of the library (`pyttsx3.drivers._espeak`), which coach starts
in espeak-ng's *synchronous* mode before pyttsx3 does: each phrase's samples come back from
one call, straight into memory. espeak-ng keeps state from one phrase to the next that no call
resets, so each phrase is spoken by a fork of a process that has started espeak-ng and set the
voice but never spoken (see `_speak_espeak_all`): the *speaker*, a small process of its own
(`_Speaker`), which forks in a fraction of what a fork of coach with numpy loaded costs. A lone
phrase with no speaker running is spoken by a fork of this process, the same samples.
pyttsx3's own driver runs espeak-ng asynchronously, on a thread of its own, and saves each
phrase to a WAV file; that took 16 ms a phrase against 3.5 ms, gave slightly different samples
each time, and has known faults (pyttsx3 2.99's espeak driver writes only the last of several
queued `save_to_file` calls, never clears its save path, and prints on stdout). Other drivers
(macOS, Windows) go through pyttsx3's `save_to_file`, one phrase per fresh temp file. This
module must not be imported by `coach validate`.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault, UsageError
from coach.sound.voice import VoiceChoice, VoiceInfo, find_voice

if TYPE_CHECKING:
    import numpy as np

TIMEOUT_S = 20.0  # a phrase not spoken by then: the engine hangs (COACH_TTS_TIMEOUT_S moves it)
RETRIES = 3
AT_ONCE = max(2, os.cpu_count() or 1)  # phrases spoken at once (a child each)


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
        self._speaker: _Speaker | None = None  # the process that speaks (see `_Speaker`)
        self._speaking = threading.Lock()  # one request to it at a time
        self.speaker_fault: str | None = None  # why this process speaks instead, if it does

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
        parts: dict[int, list[bytes]] = {}
        spoken: list[int] = []

        def heard(i: int, part: memoryview | None) -> None:
            if part is None:
                spoken.append(i)
            else:
                parts.setdefault(i, []).append(bytes(part))

        self._run(
            lambda: _speak_espeak_all(texts, timeout_s, AT_ONCE, heard),
            join_s=timeout_s * len(texts),
        )
        for i in spoken:
            yield texts[i], (_float32(np, b"".join(parts.pop(i, []))), rate)

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
    if kind == _ENDED:
        return f"the speaker process stopped with status {text}"
    if kind == _SILENT:
        return f"the speaker process did not start within {STARTUP_S:g} s"
    if kind == _HUNG:
        return "a phrase took longer than its time"
    return text or f"the speaker process sent a message coach did not expect ({kind})"


def _float32(np, data: bytes | bytearray):
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


# The speaker's messages to coach: a header (phrase index or -1, kind, payload bytes), then
# the payload. READY: started; APPLIED: voice and settings set; PART: some of a phrase's
# samples (int16), as its child wrote them; SPOKEN: the phrase is whole; DONE: every phrase
# asked for was sent; FAILED: what went wrong (text); HUNG: a phrase took longer than its
# time. SILENT and ENDED are what coach makes of no message in time, and of the speaker's
# end (its exit status).
_HEADER = struct.Struct("<iiI")
_READY, _APPLIED, _PART, _SPOKEN, _DONE, _FAILED, _HUNG, _SILENT, _ENDED = range(9)
STARTUP_S = 60.0  # the speaker's interpreter and imports, on a machine as busy as it gets


class _Speaker:
    """A process that starts espeak-ng exactly as coach does (`Engine()`), sets the voice and
    settings it is asked for exactly as coach does (`Engine._apply`), and never speaks: each
    phrase is spoken by a fork of it, as it was by a fork of coach, so the samples are the same
    bytes. A fork costs more than the speaking (on a 2-core virtual machine, 7.5-9 ms of CPU a
    phrase forked from coach, with numpy loaded, against about 1.5 ms for espeak-ng to speak
    it): from this smaller process, which does nothing between forks, 5-7.5 ms; and coach's
    own process is free meanwhile to make each phrase ready (trim, normalize, keep in the
    cache) as it comes, on the other core.

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
            f"from coach.sound.espeak import _serve; _serve({write_fd})"
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
            if kind != _READY:
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
            if kind == _PART:
                parts.setdefault(index, []).append(data)
            elif kind == _SPOKEN:
                yield index, b"".join(parts.pop(index, []))
            elif kind == _DONE:
                self.idle = True
                return
            elif kind in (_HUNG, _SILENT):
                raise _hung(timeout_s)
            elif kind != _APPLIED:
                raise _failed(_said(kind, data))
            wait_s = timeout_s + 1.0

    def _next(self, wait_s: float) -> tuple[int, int, bytearray]:
        """The next message: (index, kind, payload); kind _SILENT when none came within
        `wait_s`, _ENDED when the speaker has exited (its status as the payload)."""
        deadline = time.monotonic() + wait_s
        header = self._read(_HEADER.size, deadline)
        if isinstance(header, int):
            return self._not_read(header)
        index, kind, size = _HEADER.unpack(header)
        data = self._read(size, deadline)
        if isinstance(data, int):
            return self._not_read(data)
        return index, kind, data

    def _read(self, size: int, deadline: float) -> bytearray | int:
        """`size` bytes (read straight into the buffer returned), or _SILENT or _ENDED."""
        import select

        data = bytearray(size)
        view, got = memoryview(data), 0
        while got < size:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not select.select([self._from], [], [], left_s)[0]:
                return _SILENT
            count = os.readv(self._from, [view[got:]])
            if not count:
                return _ENDED
            got += count
        return data

    def _not_read(self, kind: int) -> tuple[int, int, bytearray]:
        status = str(self.process.wait()).encode() if kind == _ENDED else b""
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


def _serve(out_fd: int) -> None:
    """The speaker process (see `_Speaker`): start espeak-ng as coach does, then for each
    request read on stdin, set the voice as coach does and speak each phrase in a fork."""
    import signal

    from coach.interrupts import STOPPING

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # coach decides (see `_Speaker`)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # coach gone: this goes, quietly, and so
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # do its children (blocked so far)

    def send(index: int, kind: int, data: bytes | memoryview = b"") -> None:
        left = [memoryview(_HEADER.pack(index, kind, len(data))), memoryview(data)]
        while left:
            written = os.writev(out_fd, left)
            while left and written >= len(left[0]):
                written -= len(left.pop(0))
            if left:
                left[0] = left[0][written:]

    with contextlib.suppress(_Stopped, OSError):  # coach closed its end, or has gone
        _serve_requests(send)
    os._exit(0)  # nothing to clean up that the system does not (espeak-ng's own is unsafe)


def _serve_requests(send: Callable[..., None]) -> None:
    import json
    import sys

    try:
        engine = Engine.get()
        _Child.here(alone=threading.active_count() == 1)
    except Exception as e:  # coach, started the same way, has said why already
        send(-1, _FAILED, f"{type(e).__name__}: {e}".encode())
        return
    send(-1, _READY)
    for line in sys.stdin.buffer:
        asked = json.loads(line)
        choice = VoiceChoice(None, "", asked["rate_wpm"], asked["volume"], asked["pitch"])
        try:
            engine._apply(asked["voice"], choice)
            send(-1, _APPLIED)
            _speak_espeak_all(
                asked["texts"],
                asked["timeout_s"],
                asked["at_once"],
                lambda i, part: send(i, _SPOKEN) if part is None else send(i, _PART, part),
                stop_fd=sys.stdin.fileno(),
            )
            send(-1, _DONE)
        except _Hung:
            send(-1, _HUNG)
        except (_Stopped, OSError):
            raise
        except Exception as e:  # said in coach's words there
            send(-1, _FAILED, f"{type(e).__name__}: {e}".encode())


class _Stopped(Exception):
    """The speaker's input ended while it spoke: coach has gone."""


def _speak_espeak_all(
    texts: list[str],
    timeout_s: float,
    at_once: int,
    heard: Callable[[int, memoryview | None], None],
    stop_fd: int | None = None,
) -> None:
    """Each of `texts` spoken through espeak-ng in synchronous mode, in a child forked for
    it, up to `at_once` children speaking at the same time: `heard(index, part)` with each
    part of its samples (int16) as it comes (a view valid during the call only), then
    `heard(index, None)` once it is whole.

    espeak-ng carries state from one phrase to the next that no call of its API resets (its
    waveform generator's phase, gain and pitch flutter are static variables), so the same
    phrase came out a few samples longer or shorter, and with another voicing, depending on
    what was spoken before it in the process. The process that forks never speaks: it only
    starts espeak-ng and sets the voice, and each phrase is spoken by a fork of it, which
    starts from that same state every time. The same text and settings then give the same
    samples, in any order, in any run, on any machine with the same espeak-ng. `stop_fd`
    readable (its writer gone) stops it all: `_Stopped`."""
    import select
    import signal

    child = _Child.here()
    buffer = _unshared_buffer(1 << 16)
    # read end -> (index, child, deadline)
    running: dict[int, tuple[int, int, float]] = {}
    at = 0
    try:
        while at < len(texts) or running:
            while at < len(texts) and len(running) < at_once:
                read_fd, pid = child.fork(texts[at])
                running[read_fd] = (at, pid, time.monotonic() + timeout_s)
                at += 1
            left_s = min(r[2] for r in running.values()) - time.monotonic()
            watched = [*running, stop_fd] if stop_fd is not None else list(running)
            ready = select.select(watched, [], [], left_s)[0] if left_s > 0 else []
            if not ready:
                raise _Hung
            for read_fd in ready:
                if read_fd == stop_fd:
                    raise _Stopped
                count = os.readv(read_fd, [buffer])
                if count:
                    with memoryview(buffer) as view:
                        heard(running[read_fd][0], view[:count])
                    continue
                i, pid, _ = running.pop(read_fd)
                os.close(read_fd)
                _, status = os.waitpid(pid, 0)
                if status != 0:
                    raise RuntimeError(
                        f"espeak-ng stopped with status {status} speaking {texts[i]!r}"
                    )
                heard(i, None)
    finally:
        for read_fd, (_, pid, _) in running.items():  # hung, or interrupted: they go too
            os.close(read_fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def _unshared_buffer(size: int):
    """Memory for the samples read from the children that they do not get a copy of: a page
    this process writes while a child shares it is a page copied (and a fault)."""
    import mmap

    buffer = mmap.mmap(-1, size)
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere it is shared
        buffer.madvise(mmap.MADV_DONTFORK)
    return buffer


class _Child:
    """How this process forks a child that speaks one phrase. Whatever a child needs is made
    here, once, before the first fork: each Python object a child touches is a page it copies
    (a millisecond a phrase on a virtual machine), so a child runs as few lines as it can."""

    _made: _Child | None = None
    samples_fd = -1  # in a child: the pipe its samples go to

    def __init__(self, alone: bool = False) -> None:
        import ctypes
        import signal
        import sys

        from pyttsx3.drivers import _espeak

        self._espeak = _espeak
        self._flags = _espeak.ENDPAUSE | _espeak.CHARS_UTF8
        self._ok = _espeak.EE_OK
        string_at, write = ctypes.string_at, os.write

        def send(wav, count, _events) -> int:
            data = memoryview(string_at(wav, count * 2)) if wav and count > 0 else b""
            while data:
                data = data[write(_Child.samples_fd, data) :]
            return 0  # go on

        # espeak-ng's callback is the children's only: this process never speaks.
        _espeak.SetSynthCallback(send)
        # A signal ends a child quietly, except Ctrl-C in the speaker process, which ignores
        # it (coach stops it): there its children ignore it too.
        self._defaults = [
            sig
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
            if signal.getsignal(sig) is not signal.SIG_DFL
        ]
        if signal.getsignal(signal.SIGINT) not in (signal.SIG_DFL, signal.SIG_IGN):
            self._defaults.append(signal.SIGINT)
        self._signal, self._default = signal.signal, signal.SIG_DFL
        # A child ends with the process that forked it, should that one be killed.
        self._prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
        self._kill = int(signal.SIGKILL)
        # `alone`: no Python thread runs but this one (the speaker process; espeak-ng's own
        # thread waits for asynchronous speech, which coach never asks for). It forks with the
        # C library's fork(), holding the interpreter's lock, not os.fork(): that one runs
        # Python's after-fork hooks in each child (logging's, threading's, random's reseeding),
        # which write to some 150 pages, each copied, while a child that only speaks and exits
        # needs none of them. With other Python threads, os.fork() is the only safe one.
        self._fork = ctypes.PyDLL(None).fork if alone else None

    @classmethod
    def here(cls, alone: bool = False) -> _Child:
        """This process's, made on first use (`alone`: see `__init__`)."""
        if cls._made is None:
            cls._made = cls(alone)
        return cls._made

    def fork(self, text: str) -> tuple[int, int]:
        """A child that speaks `text` and writes its samples (int16) to the pipe returned."""
        import warnings

        said = text.encode("utf-8")
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        if self._fork is not None:
            pid = self._fork()
        else:
            with warnings.catch_warnings():
                # Python 3.12+ warns about forking a process with threads. The child only runs
                # espeak-ng's C code (its lock is held by this thread) and writes to a pipe.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        if pid == 0:  # the child: speak, write the samples, leave without any Python cleanup
            code = 4
            try:
                os.close(read_fd)
                for sig in self._defaults:
                    self._signal(sig, self._default)
                if self._prctl is not None:
                    self._prctl(1, self._kill)  # PR_SET_PDEATHSIG
                    if os.getppid() != parent:  # it ended already
                        os._exit(code)
                _Child.samples_fd = write_fd
                code = 0 if self._espeak.Synth(said, flags=self._flags) == self._ok else 3
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
