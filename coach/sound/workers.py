"""Speaking many phrases at once on every core: a pool of worker processes, each with its own
loaded Piper voice.

Each worker is started by `spawn` (a fresh interpreter), never by a fork, so no onnxruntime
session crosses a fork, and each loads its voice once (coach.sound.piper keeps one per
process). onnxruntime runs on one intra-op thread in every worker, as in a single process, so a
phrase's samples are the same bytes whichever worker made it and however many there are.
Workers only make samples; the parent stores them in the phrase cache (atomically, as always).

Workers ignore SIGINT: Ctrl-C reaches the whole foreground process group, and it is the parent
that decides to stop them (it terminates them and unwinds with KeyboardInterrupt, exit 130).
A worker that dies or fails is an `EnvironmentFault` with a fix. A pool that cannot start
(no process or semaphore support here) is `PoolUnavailable`: the caller speaks serially.
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

if TYPE_CHECKING:
    import numpy as np

    from coach.sound.piper import PiperModel


class PoolUnavailable(Exception):
    """Worker processes cannot be started here; speak the phrases in this process instead."""


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
    import signal

    global _JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (see the docstring)
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


def speak_all(
    job: PiperJob,
    texts: Sequence[str],
    done: Callable[[str, np.ndarray], None],
    workers: int | None = None,
) -> None:
    """Speak every text in `texts` on a pool of `workers` processes (default: one per core),
    calling `done(text, samples)` in the parent as each is ready, in no set order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    count = workers or worker_count(len(texts))
    try:
        pool = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(job,),
        )
    except (OSError, ImportError, NotImplementedError) as e:  # no sem_open, no /dev/shm
        raise PoolUnavailable(str(e)) from None
    finished = False
    try:
        # Longest first, so no worker is left with a long phrase at the end.
        order = sorted(texts, key=len, reverse=True)
        try:
            with _plain_main(), _signals_deferred():  # the submits start the processes
                pending = {pool.submit(_work, t): t for t in order}
        except (OSError, NotImplementedError) as e:
            raise PoolUnavailable(str(e)) from None
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                text = pending.pop(future)
                try:
                    status, value = future.result()
                except BrokenProcessPool:
                    raise EnvironmentFault(
                        "a speech worker process died while speaking phrases "
                        "(killed, or out of memory)",
                        "run the command again (the phrases already made are kept in the "
                        "phrase cache); if it happens again, check free memory",
                    ) from None
                if status == "fault":
                    fault: tuple[str, str] = value  # type: ignore[assignment]
                    raise EnvironmentFault(*fault)
                done(text, value)  # type: ignore[arg-type]
        finished = True
    finally:
        _close(pool, finished)


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C, SIGTERM and SIGHUP wait until the workers have started: a worker whose start is
    cut off reads half of what spawn sends it and prints a traceback on the person's terminal.
    A signal that came meanwhile is raised again at once afterwards, so it still stops coach."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not None:  # None: not set from Python, leave it alone
            held[sig] = signal.signal(sig, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


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
