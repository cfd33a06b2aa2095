"""Media keys, headset buttons and `playerctl`: coach as an MPRIS player, seen from the loop.

While a session plays, coach publishes itself on the session bus as
`org.mpris.MediaPlayer2.coach` (coach/play/mpris.py speaks the protocol, with dbus-fast). The
bus lives on a thread of its own with its own asyncio loop, and meets the play loop in two
places only, neither of which waits:

- commands: a method call from the bus (PlayPause, Next, ...) is put on a queue; the play loop
  takes them between two writes (`next_key`) and turns each into the key that does the same,
  so a remote command is answered exactly as the key is ("Paused.", "Next step.");
- state: the play loop hands over what it plays each tick (`show`): an immutable snapshot the
  bus thread reads when asked, and a note to signal PropertiesChanged or Seeked when it
  changed, sent with `call_soon_threadsafe` (a write to a pipe, never a wait).

No session bus, or a bus that goes away, costs only the remote: playback goes on, and the
only word of it is one line for `--verbose` (and `coach doctor`'s check).
"""

from __future__ import annotations

import contextlib
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from coach.play.session import Status

BUS_NAME = "org.mpris.MediaPlayer2.coach"
SEEK_JUMP_MS = 400  # a position this far from where playing on would have put it: Seeked

# What each MPRIS command is as a key (coach.play.keys names): None when it does nothing in
# that state. Play and Pause are PlayPause only where they change something.
_AS_KEY: dict[str, tuple[str | None, str | None]] = {
    # command: (key while playing, key while paused)
    "PlayPause": ("pause", "pause"),
    "Play": (None, "pause"),
    "Pause": ("pause", None),
    "Next": ("next", "next"),
    "Previous": ("back", "back"),
    "Stop": ("quit", "quit"),
    "Quit": ("quit", "quit"),
}
COMMANDS = tuple(_AS_KEY)


def as_key(command: str, paused: bool) -> str | None:
    """The key that does what an MPRIS command asks, in this state (None: nothing to do)."""
    playing_key, paused_key = _AS_KEY[command]
    return paused_key if paused else playing_key


def session_bus_address() -> tuple[str | None, str]:
    """The session bus's address and where it came from, or None and why there is none.

    As libdbus finds it: $DBUS_SESSION_BUS_ADDRESS, else the socket `bus` in
    $XDG_RUNTIME_DIR (systemd's user bus). X11's autolaunch is left out on purpose: it would
    start a bus of its own, which no media key reaches.
    """
    given = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if given:
        return given, "DBUS_SESSION_BUS_ADDRESS"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        path = os.path.join(runtime, "bus")
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return f"unix:path={path}", f"{path}"
    return None, "DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist"


@dataclass(frozen=True, slots=True)
class PlayerState:
    """What the MPRIS player shows, as of monotonic time `at_s`."""

    status: str  # "Playing", "Paused" or "Stopped"
    step: int
    steps: int
    title: str  # the step's
    routine: str  # the routine's title
    length_ms: int  # the step's
    position_ms: int  # into the step
    at_s: float
    can_go_next: bool

    @property
    def track_id(self) -> str:
        # Object paths under /org/mpris are reserved by the spec; one track per step.
        return f"/coach/step/{self.step}"

    def position_now_ms(self, now_s: float) -> int:
        """The position at `now_s`: it moves on by itself while playing."""
        if self.status != "Playing":
            return self.position_ms
        moved = round((now_s - self.at_s) * 1000)
        return max(0, min(self.length_ms, self.position_ms + moved))

    def signalled(self) -> tuple:
        """The fields whose change is signalled with PropertiesChanged."""
        return (self.status, self.step, self.title, self.routine, self.length_ms,
                self.can_go_next)  # fmt: skip


def state_of(status: Status, now_s: float, finished: bool = False) -> PlayerState:
    return PlayerState(
        status="Stopped" if finished else ("Paused" if status.paused else "Playing"),
        step=status.step,
        steps=status.steps,
        title=status.title,
        routine=status.routine,
        length_ms=max(0, status.step_end_ms - status.step_start_ms),
        position_ms=max(0, status.at_ms - status.step_start_ms),
        at_s=now_s,
        can_go_next=status.next_title is not None,
    )


class MediaKeys:
    """coach on the session bus for one session: `start`, then `next_key` and `show` from the
    play loop each tick, `close` at the end. `note` gets the one line `--verbose` shows."""

    def __init__(self, note: Callable[[str], None] | None = None) -> None:
        self._note = note
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._messages: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.state: PlayerState | None = None  # read by the bus thread; replaced, never changed
        self.name: str | None = None  # the bus name once published
        self._loop: asyncio.AbstractEventLoop | None = None
        self._player: Any = None  # the bus side (coach.play.mpris.Player), on the bus thread
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    # -- called from the bus thread --------------------------------------------------------

    def command(self, name: str) -> None:
        """A command from the bus, for the play loop."""
        self._commands.put(name)

    def say(self, line: str) -> None:
        """A line for --verbose, shown by the play loop (never printed from this thread)."""
        if not self._closing:
            self._messages.put(line)

    def attach(self, loop: asyncio.AbstractEventLoop, player: Any, stop: asyncio.Event) -> None:
        self._loop, self._player, self._stop = loop, player, stop

    # -- called from the play loop ---------------------------------------------------------

    def start(self) -> None:
        """Publish coach on the session bus, on a thread of its own; returns at once."""
        address, where = session_bus_address()
        if address is None:
            self.say(f"media keys: no session bus ({where}); only the keyboard controls coach")
            return
        self._thread = threading.Thread(
            target=self._serve, args=(address,), name="coach-mpris", daemon=True
        )
        self._thread.start()

    def _serve(self, address: str) -> None:
        import asyncio

        try:
            from coach.play.mpris import serve

            asyncio.run(serve(self, address))
        except Exception as e:  # whatever the bus does, the session plays on
            self.say(f"media keys: the session bus failed ({type(e).__name__}: {e})")

    def next_key(self, paused: bool) -> str | None:
        """The key of the next remote command that does something now, or None."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return None
            key = as_key(command, paused)
            if key is not None:
                return key

    def show(self, status: Status, finished: bool = False) -> None:
        """What is playing now; signals what changed, without waiting for the bus."""
        self._tell()
        now = time.monotonic()
        new = state_of(status, now, finished)
        old, self.state = self.state, new
        if old is None or self._loop is None:
            return
        changed = old.signalled() != new.signalled()
        expected = old.position_now_ms(now)
        jumped = new.step == old.step and abs(new.position_ms - expected) > SEEK_JUMP_MS
        if changed or jumped:
            self._call(self._player.changed, old if changed else None, new, jumped)

    def _tell(self) -> None:
        while True:
            try:
                line = self._messages.get_nowait()
            except queue.Empty:
                return
            if self._note is not None:
                self._note(line)

    def _call(self, fn: Callable, *args: object) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended: the bus went away
            loop.call_soon_threadsafe(fn, *args)

    def close(self) -> None:
        """Leave the bus (the name goes with the connection); waits a moment at most."""
        self._tell()
        self._closing = True
        if self._stop is not None:
            self._call(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=1.0)
