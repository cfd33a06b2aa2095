"""SIGTERM and SIGHUP handled like Ctrl-C, so every way of being stopped runs the same clean-up.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM (kill, a shutdown) and SIGHUP (the
terminal closed) would end the process on the spot, leaving an export's temp file on disk and a
play session's position unsaved. Raised as `Stopped`, a KeyboardInterrupt, they unwind through
the same `finally` blocks and end with exit code 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading

# The signals that stop coach.
STOPPING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: stop as Ctrl-C does."""


def _raise_stopped(signum, frame):
    raise Stopped(signal.Signals(signum).name)  # its name says how a session ended


@contextlib.contextmanager
def stop_on_signals():
    """Within this block SIGTERM and SIGHUP raise `Stopped`; the old handlers come back after."""
    handlers = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)  # Windows has no SIGHUP
        if sig is None:
            continue
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            handlers[sig] = signal.signal(sig, _raise_stopped)
    try:
        yield
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def held_signals(block: bool = False):
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is over, then stop coach as usual.

    For what a signal must not cut in two: some libraries catch any exception while they
    import (onnxruntime turns a Ctrl-C during its import of numpy into "import numpy failed",
    leaving numpy half imported and the rest of the run broken). `block` also blocks them
    at the system level in this thread, so processes started meanwhile start with them
    blocked (coach.sound.workers). The block is short: a signal comes at most that late."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for sig in STOPPING:
        if signal.getsignal(sig) is not None:  # None: not set from Python, leave it alone
            held[sig] = signal.signal(sig, lambda number, _frame: caught.append(number))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING) if block else None
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])
