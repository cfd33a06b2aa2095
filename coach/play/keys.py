"""Keys read from the terminal one at a time, without Enter, for `coach play`'s controls.

The terminal goes into cbreak mode (no line editing, no echo; Ctrl-C still interrupts) and is
put back on every way out: the end of the session, q, an exception, SIGTERM, a suspend with
Ctrl-Z (restored while stopped, cbreak again on return).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable

# What each key does. Arrow keys arrive as escape sequences.
CONTROLS = {
    " ": "pause",
    "n": "next",
    "\x1b[C": "next",
    "\x1bOC": "next",
    "p": "back",
    "\x1b[D": "back",
    "\x1bOD": "back",
    "r": "repeat",
    "+": "faster",
    "=": "faster",  # + without shift on most keyboards
    "-": "slower",
    "_": "slower",
    "q": "quit",
    "Q": "quit",
}
HELP = "space pause · n/→ next · p/← back · r repeat · +/- pace · q quit"


def parse(data: str) -> list[str]:
    """The controls in what one read returned (several keys can arrive together)."""
    found = []
    i = 0
    while i < len(data):
        if data[i] == "\x1b":
            seq = data[i : i + 3]
            if seq in CONTROLS:
                found.append(CONTROLS[seq])
            i += 3 if len(seq) == 3 and seq[1] in "[O" else 1
            continue
        if data[i] in CONTROLS:
            found.append(CONTROLS[data[i]])
        elif data[i].lower() in CONTROLS:
            found.append(CONTROLS[data[i].lower()])
        i += 1
    return found


class TerminalKeys:
    """Reads controls from a terminal file descriptor; use as a context manager."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list | None = None
        self._pending: list[str] = []
        self._gone = False
        # What SIGTSTP and SIGCONT did before us, put back on the way out.
        self._old_tstp: signal.Handlers | int | Callable | None = None
        self._old_cont: signal.Handlers | int | Callable | None = None

    def __enter__(self) -> TerminalKeys:
        import termios

        self._saved = termios.tcgetattr(self.fd)
        self._cbreak()
        if hasattr(signal, "SIGTSTP"):
            self._old_tstp = signal.signal(signal.SIGTSTP, self._on_suspend)
            self._old_cont = signal.signal(signal.SIGCONT, self._on_continue)
        return self

    def __exit__(self, *exc) -> None:
        if hasattr(signal, "SIGTSTP") and self._old_tstp is not None:
            signal.signal(signal.SIGTSTP, self._old_tstp)
            signal.signal(signal.SIGCONT, self._old_cont)
        self._restore()

    def _cbreak(self) -> None:
        import termios
        import tty

        with contextlib.suppress(OSError, termios.error):  # termios.error is not an OSError
            tty.setcbreak(self.fd)

    def _restore(self) -> None:
        import termios

        if self._saved is not None:  # a closed terminal has nothing left to restore
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def _on_suspend(self, signum, frame) -> None:
        # Ctrl-Z: the session pauses first (in its own loop, not in this handler), then calls
        # `suspend`.
        self._pending.append("suspend")

    def suspend(self) -> None:
        """Stop the process as Ctrl-Z would, with the terminal as the shell expects it."""
        self._restore()
        os.kill(os.getpid(), signal.SIGSTOP)
        self._cbreak()  # here again after `fg`

    def _on_continue(self, signum, frame) -> None:
        self._cbreak()

    def read(self, timeout_s: float) -> str | None:
        """The next control, waiting at most `timeout_s`; None when no key was pressed."""
        if self._pending:
            return self._pending.pop(0)
        if self._gone:  # a closed terminal reads as ready forever: wait instead of spinning
            time.sleep(timeout_s)
            return None
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout_s)
        except InterruptedError:
            return None
        if not ready:
            return None
        try:
            data = os.read(self.fd, 64)
        except OSError:
            data = b""
        if not data:  # the terminal is gone: no more keys, the session plays on
            self._gone = True
            return None
        self._pending.extend(parse(data.decode("utf-8", errors="replace")))
        return self._pending.pop(0) if self._pending else None


def terminal_keys():
    """Keys from stdin when it is a terminal, else None (playback without controls)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    if not os.isatty(fd):
        return None
    try:
        import termios  # noqa: F401  (not on Windows)
    except ImportError:
        return None
    return TerminalKeys(fd)
