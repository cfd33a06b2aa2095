"""SIGTERM and SIGHUP handled like Ctrl-C, so every way of being stopped runs the same clean-up.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM (kill, a shutdown) and SIGHUP (the
terminal closed) would end the process on the spot, leaving an export's temp file on disk and a
play session's position unsaved. Raised as `Stopped`, a KeyboardInterrupt, they unwind through
the same `finally` blocks and end with exit code 130.
"""

from __future__ import annotations

import contextlib
import signal


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
