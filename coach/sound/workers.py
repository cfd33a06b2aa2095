"""Speaking many phrases at once on every core: a pool of worker processes, each with its own
loaded Piper voice.

Each worker is started by `spawn` (a fresh interpreter), never by a fork, so no onnxruntime
session crosses a fork, and each loads its voice once (coach.sound.piper keeps one per
process). onnxruntime runs on one intra-op thread in every worker, as in a single process, so a
phrase's samples are the same bytes whichever worker made it and however many there are.
Workers only make samples; the parent stores them in the phrase cache (atomically, as always).

Workers ignore SIGINT: Ctrl-C reaches the whole foreground process group, and it is the parent
that decides to stop them (it terminates them and unwinds with KeyboardInterrupt, exit 130).
A worker that dies or fails is an `EnvironmentFault` with a fix. When the pool cannot start
(no process or semaphore support here), the thread in coach speaks every phrase, and
`SpeakingAhead.no_pool` says why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault
from coach.interrupts import STOPPING, held_signals

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    import numpy as np

    from coach.sound.piper import PiperModel


@dataclass(frozen=True, slots=True)
class PiperJob:
    """What every worker needs to speak a phrase exactly as `SpeechVoice` would."""

    model: PiperModel
    length_scale: float
    volume: float
    sample_rate: int  # coach's speech rate: a phrase at another rate is resampled to it


def make_phrase(raw: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """An engine's raw samples as the phrase cache keeps them: at `sample_rate`, trimmed of
    silence, normalized to one loudness. The one definition, used in and out of the pool."""
    from coach.sound.dsp import normalize_phrase, resample

    if rate != sample_rate:
        raw = resample(raw, rate, sample_rate)
    return normalize_phrase(raw, sample_rate)


def speak_piper(job: PiperJob, text: str) -> np.ndarray:
    """`text` spoken by Piper, processed for the phrase cache."""
    from coach.sound import piper

    raw, rate = piper.synthesize(job.model, text, job.length_scale, job.volume)
    return make_phrase(raw, rate, job.sample_rate)


def worker_count(phrases: int) -> int:
    """As many workers as cores, at most one per phrase."""
    return max(1, min(os.cpu_count() or 1, phrases))


_JOB: PiperJob | None = None


def _init(job: PiperJob) -> None:
    global _JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (see the docstring)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # blocked while we started
    _JOB = job


def _work(text: str) -> tuple[str, object]:
    # An EnvironmentFault does not survive pickling (two arguments), so it travels as data.
    assert _JOB is not None
    try:
        return "ok", speak_piper(_JOB, text)
    except EnvironmentFault as e:
        return "fault", (str(e), e.hint)
    except Exception as e:  # a bug or a broken library: said, not a traceback from a child
        return "fault", (
            f"a speech worker failed on {text!r}: {type(e).__name__}: {e}",
            "report it with this message; meanwhile --voice espeak speaks without Piper",
        )


class SpeakingAhead:
    """Phrases spoken in the background, in the order given, while the caller goes on
    (`coach play` starts before Piper has spoken the routine): by a thread of this process and
    a pool of worker processes for the other cores, each taking the next phrase when it is
    free, so the phrases come about in the order they are said.

    The thread here is the first to speak: it loads the voice without starting an interpreter
    and importing coach first, so the first phrase (the one the listener waits for) comes
    soonest. It is the only thread of this process that runs Piper (its phonemizer is not
    thread-safe). The pool is started in the calling thread (the main one: see
    `_signals_deferred`). Each phrase goes to `done(text, samples)` once ready; a failure is
    kept and raised by the caller (`fault`); `close` stops what is still to do."""

    def __init__(
        self,
        job: PiperJob,
        texts: Sequence[str],
        done: Callable[[str, np.ndarray], None],
        workers: int | None = None,
    ) -> None:
        import collections

        self._job = job
        self._todo = collections.deque(texts)
        self._lock = threading.Lock()
        self._done = done
        self._closing = False
        self.fault: EnvironmentFault | None = None
        self.finished = threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self.no_pool: str | None = None  # why the worker processes could not start, if so
        self._in_flight: dict[Future, str] = {}
        count = (workers or worker_count(len(texts))) - 1
        first = self._next()  # this thread's: it comes soonest (see above)
        try:
            if count > 0 and len(texts) > 1:
                self._start_pool(count)
        except BaseException:  # a Ctrl-C held while the workers started, raised again
            if self._pool is not None:
                _close(self._pool, False)
            raise
        self._running = 2
        self._here = threading.Thread(
            target=self._speak_here, args=(first,), name="coach-speak", daemon=True
        )
        self._watch = threading.Thread(target=self._collect, name="coach-collect", daemon=True)
        try:
            self._here.start()
            self._watch.start()
        except BaseException:
            # A Ctrl-C or SIGTERM landing here (they come as soon as the workers run) would
            # leave the caller no object to close, and the thread here speaking inside
            # onnxruntime while the interpreter exits aborts the process (SIGABRT, not 130).
            self.close()
            raise

    def _next(self) -> str | None:
        with self._lock:
            if self._closing or self.fault is not None or not self._todo:
                return None
            return self._todo.popleft()

    def hurry(self, text: str) -> None:
        """Speak `text` next, if it is still to do (someone waits for it now)."""
        with self._lock:
            if text in self._todo:
                self._todo.remove(text)
                self._todo.appendleft(text)

    def _start_pool(self, count: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            pool = ProcessPoolExecutor(
                count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self._job,),
            )
        except (OSError, ImportError, NotImplementedError) as e:  # this thread speaks them all
            self.no_pool = str(e)
            return
        self._pool = pool
        try:
            with _plain_main(), _signals_deferred():  # the submits start the processes
                for _ in range(count):  # one phrase in flight per worker
                    text = self._next()
                    if text is not None:
                        self._in_flight[pool.submit(_work, text)] = text
        except (OSError, NotImplementedError) as e:
            self.no_pool = str(e)
            _close(pool, False)
            self._pool = None
            with self._lock:
                self._todo.extendleft(reversed(list(self._in_flight.values())))
            self._in_flight = {}

    def _speak_here(self, text: str | None) -> None:

        try:
            while text is not None:
                self._done(text, speak_piper(self._job, text))
                text = self._next()
        except EnvironmentFault as e:
            self._fail(e)
        except Exception as e:  # a broken library, or the callback failed (a full disk)
            self._fail(
                EnvironmentFault(
                    f"speaking a phrase failed: {type(e).__name__}: {e}",
                    "check the phrase cache's folder (coach doctor shows it) and free "
                    "space; --voice espeak speaks without Piper",
                )
            )
        finally:
            self._exited()

    def _collect(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
        from concurrent.futures.process import BrokenProcessPool

        try:
            while self._in_flight and not self._closing:
                ready, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED)
                for future in ready:
                    text = self._in_flight.pop(future)
                    try:
                        status, value = future.result()
                    except (CancelledError, BrokenProcessPool):
                        if not self._closing:  # not stopped by close: killed, out of memory
                            self._fail(_died())
                        return
                    if status == "fault":
                        self._fail(EnvironmentFault(*value))
                        return
                    self._done(text, value)
                    following = self._next()
                    if following is not None and self._pool is not None:
                        self._in_flight[self._pool.submit(_work, following)] = following
        except Exception as e:  # the callback failed (a full disk)
            self._fail(
                EnvironmentFault(
                    f"could not keep a spoken phrase: {type(e).__name__}: {e}",
                    "check the phrase cache's folder (coach doctor shows it) and free space",
                )
            )
        finally:
            self._exited()

    def _fail(self, fault: EnvironmentFault) -> None:
        with self._lock:
            if self.fault is None and not self._closing:
                self.fault = fault

    def _exited(self) -> None:
        # Both threads are done: every phrase arrived, or it failed, or it was closed.
        with self._lock:
            self._running -= 1
            if self._running == 0:
                self.finished.set()

    def close(self) -> None:
        """Stop: the workers at once, this process's thread after its phrase."""
        with self._lock:
            self._closing = True
        if self._pool is not None:
            _close(self._pool, not self._in_flight)
        if self._watch.ident is not None:  # started
            self._watch.join(5)
        if self._here.ident is not None:
            self._here.join(10)  # a thread inside onnxruntime at exit aborts the interpreter
        self.finished.set()


def _died() -> EnvironmentFault:
    return EnvironmentFault(
        "a speech worker process died while speaking phrases (killed, or out of memory)",
        "run the command again (the phrases already made are kept in the phrase cache); if "
        "it happens again, check free memory",
    )


def _signals_deferred():
    """Ctrl-C, SIGTERM and SIGHUP wait until the workers have started, in coach and in them.

    Here: a worker whose start is cut off reads half of what spawn sends it and prints a
    traceback on the person's terminal. In the workers: a new process starts with the signals
    its parent blocked still blocked, so a Ctrl-C (which the terminal sends to every process
    of coach's group) cannot interrupt a worker's start-up imports with a traceback; `_init`
    ignores SIGINT, then lets the others through (the parent stops its workers with SIGTERM)."""
    return held_signals(block=True)


@contextlib.contextmanager
def _plain_main():
    """Workers need nothing of `__main__`, but spawn would run the caller's script again in
    each (and a script without `if __name__ == "__main__":` would start its work again, and
    a pool again): while workers start, `__main__` is an empty module."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _close(pool, finished: bool) -> None:
    """Shut the pool down; after a fault or an interrupt, terminate its workers first."""
    if finished:
        pool.shutdown(wait=True)
        return
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(5)
