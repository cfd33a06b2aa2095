"""espeak-ng's phrases, each spoken by a fork of a process that has started espeak-ng and set
the voice but never speaks, so that no phrase changes the next: starting espeak-ng and setting
a voice the one way coach does (`start`, `set_voice`), the forks (`speak_all`), and the small
process coach keeps for them, the *speaker* (`serve`; coach's side is
coach.sound.espeak._Speaker).

espeak-ng keeps state from one phrase to the next that no call of its API resets: its waveform
generator's phase, gain and pitch flutter are static variables. Spoken one after another in one
process, nearly every phrase of the built-in routines comes out different from the same phrase
spoken first (measured: 115 of 117 in English; lengths off by up to 2,300 samples, about 0.1 s,
in German), and neither choosing the voice again, espeak_Cancel nor a fixed phrase spoken before
each brings it back. A fork of a process that never spoke starts from that same state every
time, so a phrase gives the same samples in any order, in any run, on any machine with the
same espeak-ng.

This module imports nothing of coach's beyond coach.interrupts, and pyttsx3 only when used: the
speaker process imports it alone, and starts in a fraction of the time coach's modules take.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time

TYPE_CHECKING = False  # as typing's, which the speaker process has no other use to import
if TYPE_CHECKING:
    from collections.abc import Callable


class Started:
    """pyttsx3's engine as `start` leaves it, and what was read of it on the way. (Not a
    dataclass: importing dataclasses, which imports inspect, takes the speaker process as
    long as starting espeak-ng.)"""

    __slots__ = ("engine", "sample_rate", "version", "voices")

    def __init__(self, engine, sample_rate: int | None, version: str | None, voices) -> None:
        self.engine = engine  # pyttsx3.Engine
        self.sample_rate = sample_rate  # espeak-ng's, when coach started it synchronously
        self.version = version  # espeak-ng's version (None: another driver)
        self.voices = voices  # pyttsx3's voices


def start() -> Started:
    """pyttsx3's engine, with espeak-ng (where pyttsx3 drives it) started in its synchronous
    mode first. These calls into espeak-ng, in this order, then `set_voice`, are all that any
    process speaking for coach makes before a phrase (coach, and its speaker process): they
    make the state each phrase starts from. Raises what `pyttsx3.init` raises."""
    import pyttsx3

    # Before pyttsx3.init(), which would start it in its asynchronous mode otherwise.
    sample_rate = start_synchronously()
    with quiet():
        engine = pyttsx3.init()
    try:
        from pyttsx3.drivers import _espeak

        info = _espeak.Info()
        version: str | None = info.decode() if isinstance(info, bytes) else str(info)
    except Exception:  # not espeak (sapi5, nsss)
        version = None
    return Started(engine, sample_rate, version, engine.getProperty("voices"))


def set_voice(target, voice_id: str, rate_wpm: int, volume: float, pitch: int) -> None:
    """Voice, rate, volume and pitch on `target`: pyttsx3's engine, or its espeak driver,
    whose own setProperty applies each at once (espeak-ng is synchronous here), where the
    engine's would only queue it until the next runAndWait."""
    target.setProperty("voice", voice_id)
    target.setProperty("rate", rate_wpm)
    target.setProperty("volume", volume)
    with contextlib.suppress(KeyError, ValueError):
        target.setProperty("pitch", pitch)


def start_synchronously() -> int | None:
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


class Hung(Exception):
    """A phrase was not spoken in time."""


class Stopped(Exception):
    """The speaker's input ended while it spoke: coach has gone."""


# The speaker's messages to coach: a header (phrase index or -1, kind, payload bytes), then
# the payload. READY: started; APPLIED: voice and settings set; PART: some of a phrase's
# samples (int16), as its child wrote them; SPOKEN: the phrase is whole; DONE: every phrase
# asked for was sent; FAILED: what went wrong (text); HUNG: a phrase took longer than its
# time. SILENT and ENDED are what coach makes of no message in time, and of the speaker's
# end (its exit status).
HEADER = struct.Struct("<iiI")
READY, APPLIED, PART, SPOKEN, DONE, FAILED, HUNG, SILENT, ENDED = range(9)


def serve(out_fd: int) -> None:
    """The speaker process (coach.sound.espeak._Speaker): start espeak-ng as coach does, then
    for each request read on stdin, set the voice as coach does and speak each phrase in a
    fork, its samples written to `out_fd` as they come."""
    import signal

    from coach.interrupts import STOPPING

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # coach decides when it stops
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # coach gone: this goes, quietly, and so
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # do its children (blocked so far)

    def send(index: int, kind: int, data: bytes | memoryview = b"") -> None:
        left = [memoryview(HEADER.pack(index, kind, len(data))), memoryview(data)]
        while left:
            written = os.writev(out_fd, left)
            while left and written >= len(left[0]):
                written -= len(left.pop(0))
            if left:
                left[0] = left[0][written:]

    with contextlib.suppress(Stopped, OSError):  # coach closed its end, or has gone
        _serve_requests(send)
    os._exit(0)  # nothing to clean up that the system does not (espeak-ng's own is unsafe)


def _serve_requests(send: Callable[..., None]) -> None:
    import json
    import sys
    import threading

    try:
        engine = start().engine
        _Child.here(alone=threading.active_count() == 1)
    except Exception as e:  # coach, started the same way, has said why already
        send(-1, FAILED, f"{type(e).__name__}: {e}".encode())
        return
    send(-1, READY)
    applied = None
    for line in sys.stdin.buffer:
        asked = json.loads(line)
        wanted = (asked["voice"], asked["rate_wpm"], asked["volume"], asked["pitch"])
        try:
            if wanted != applied:  # as coach's Engine: set only when it differs
                applied = None
                set_voice(engine.proxy._driver, *wanted)
                applied = wanted
            send(-1, APPLIED)
            speak_all(
                asked["texts"],
                asked["timeout_s"],
                asked["at_once"],
                lambda i, part: send(i, SPOKEN) if part is None else send(i, PART, part),
                stop_fd=sys.stdin.fileno(),
            )
            send(-1, DONE)
        except Hung:
            send(-1, HUNG)
        except (Stopped, OSError):
            raise
        except Exception as e:  # said in coach's words there
            send(-1, FAILED, f"{type(e).__name__}: {e}".encode())


def speak_all(
    texts: list[str],
    timeout_s: float,
    at_once: int,
    heard: Callable[[int, memoryview | None], None],
    stop_fd: int | None = None,
) -> None:
    """Each of `texts` spoken through espeak-ng in synchronous mode, in a child forked for
    it, up to `at_once` children speaking at the same time: `heard(index, part)` with each
    part of its samples (int16) as it comes (a view valid during the call only), then
    `heard(index, None)` once it is whole. This process must never speak itself (see the
    module's docstring). A child not done within `timeout_s`: `Hung`. `stop_fd` readable
    (its writer gone) stops it all: `Stopped`. Either way, the children still running go."""
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
                raise Hung
            for read_fd in ready:
                if read_fd == stop_fd:
                    raise Stopped
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
        # A signal ends a child quietly. The speaker process (`alone`) has set its own once:
        # SIGINT ignored (coach stops it, and its children with it), the rest at their
        # defaults, which its children keep. Coach's handlers would raise in a child.
        self._defaults = (
            [] if alone else [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE]
        )
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
def quiet():
    """Silence the driver's prints: coach's stdout carries JSON and timelines."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
