"""The live view of `coach play`: one quiet line for whoever glances at the screen.

On a terminal the line is redrawn in place (step, side, time left in the hold, what comes
next, time left in the routine). Anywhere else (a log, a pipe) each step is printed once as it
begins, so the output still says how far the session got. `--quiet` shows nothing.
"""

from __future__ import annotations

import math
import shutil
from typing import TextIO

from coach.play.session import Status
from coach.values import format_clock


def _clock_up(ms: int) -> str:
    # A countdown shows 0:01 until it is over, never 0:00 while time is left.
    return format_clock(math.ceil(ms / 1000) * 1000, tenths=False)


def status_line(s: Status) -> str:
    """'[3/16] Neck tilts, left · hold 0:12 · next: Rest · 7:41 left'."""
    step = f"[{s.step}/{s.steps - 1}] {s.title}" + (f", {s.side}" if s.side else "")
    parts = [("paused: " if s.paused else "") + step]
    if s.hold_left_ms is not None:
        parts.append(f"hold {_clock_up(s.hold_left_ms)}")
    if s.next_title:
        parts.append(f"next: {s.next_title}")
    parts.append(f"{_clock_up(s.left_ms)} left")
    if s.pace != 1:
        parts.append(f"pace {s.pace:g}")
    return " · ".join(parts)


class LiveView:
    """Call with each Status; `close` ends the line."""

    def __init__(self, stream: TextIO, terminal: bool) -> None:
        self.stream = stream
        self.terminal = terminal
        self._last_step: int | None = None
        self._drawn = False
        self._line = ""

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal closed: the session plays on regardless
            pass

    def __call__(self, s: Status) -> None:
        if self.terminal:
            width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
            line = status_line(s)[:width]
            if line != self._line or not self._drawn:  # a quiet terminal: only changes
                self._write("\r\x1b[K" + line)
                self._line = line
                self._drawn = True
        elif s.step != self._last_step:
            self._write(f"[{s.step}/{s.steps - 1}] {s.title}\n")
        self._last_step = s.step

    def note(self, text: str) -> None:
        """A line above the live one (a message that should stay)."""
        self._write(("\r\x1b[K" if self.terminal and self._drawn else "") + text + "\n")
        self._drawn = False

    def close(self) -> None:
        if self.terminal and self._drawn:
            self._write("\n")
            self._drawn = False
