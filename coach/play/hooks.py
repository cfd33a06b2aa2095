"""What a `coach play` session does besides playing: media keys, and the history record.

The play loop calls each hook every tick (`Session._obey_hooks`): `next_key` for a control
from elsewhere, `show` with what plays now. `SessionHooks` makes the hooks for one session,
publishes coach on the session bus at the start, and records the session in the history at
the end, however it ended (finished, q, Ctrl-C, SIGTERM, SIGHUP, an error). Neither may cost
the session: a missing bus is one line in --verbose, a history that cannot be written one
line on stderr.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from coach.history.store import History, HistoryFault, Record, summarize
from coach.interrupts import Stopped
from coach.play.remote import MediaKeys

if TYPE_CHECKING:
    from coach.play.session import Session, Status

# Pitch is the one setting that does not change how long a routine takes.
_UNTIMED = ("pitch",)


class Hook(Protocol):
    def next_key(self, paused: bool) -> str | None:
        """A control to do now (a key's name, as in coach.play.keys), or None."""

    def show(self, status: Status) -> None:
        """What plays now; called every tick of the play loop."""


class PlayedClock:
    """How long the session played, pauses excluded: wall time between ticks while playing."""

    def __init__(self) -> None:
        self.started_at: datetime | None = None  # the first tick: the first sound
        self.played_s = 0.0
        self.last: Status | None = None
        self._tick: float | None = None

    def next_key(self, paused: bool) -> str | None:
        return None

    def show(self, status: Status) -> None:
        now = time.monotonic()
        if self._tick is None:
            self.started_at = datetime.now().astimezone()
        elif self.last is not None and not self.last.paused:
            self.played_s += now - self._tick
        self._tick, self.last = now, status

    def stop(self) -> None:
        """The session is over: count up to now."""
        if self._tick is not None and self.last is not None and not self.last.paused:
            now = time.monotonic()
            self.played_s += now - self._tick
            self._tick = now


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days in a row"


def _routine_name(ref: str) -> str:
    from coach.errors import CoachError
    from coach.routine.library import find

    try:
        return find(ref).path.stem
    except CoachError:
        return ref


class SessionHooks:
    """The hooks of one session: `start`, then `hooks` to the Session, `ending()` around its
    run, `close(session)` at the end.

    `note` shows a line to the person (above the live view, or on stderr); `verbose` gets the
    media keys' one line (None: not shown); `live` says whether the live view is on (the
    streak is part of it).
    """

    def __init__(
        self,
        ref: str,
        note: Callable[[str], None] | None,
        *,
        verbose: Callable[[str], None] | None = None,
        live: bool = False,
        history: History | None = None,
    ) -> None:
        self.ref = ref
        self.note = note or (lambda line: None)
        self.live = live
        self.history = history if history is not None else History()
        self.media_keys = MediaKeys(verbose)
        self.clock = PlayedClock()
        self.hooks: tuple[Hook, ...] = (self.media_keys, self.clock)
        self.ended: str | None = None

    def start(self) -> None:
        """Publish on the session bus (returns at once), and say the streak."""
        self.media_keys.start()
        if self.live:
            with contextlib.suppress(HistoryFault):  # it is said once, at the end
                today = date.today()
                s = summarize(self.history.sessions(), today)
                if s.streak_days == 0:
                    self.note("streak: none yet; this session starts one")
                elif s.streak_today:
                    self.note(f"streak: {_days(s.streak_days)}")
                else:
                    self.note(
                        f"streak: {_days(s.streak_days)}; this session makes it {s.streak_days + 1}"
                    )

    @contextlib.contextmanager
    def ending(self) -> Iterator[None]:
        """Around the session's run: notes how it ended."""
        try:
            yield
        except Stopped as e:
            self.ended = str(e) or "SIGTERM"
            raise
        except KeyboardInterrupt:
            self.ended = "ctrl-c"
            raise
        except BaseException:
            self.ended = "error"
            raise

    def close(self, session: Session) -> None:
        """Leave the bus; record the session (if it played at all) and say the streak."""
        self.media_keys.close()
        self.clock.stop()
        if self.clock.started_at is None or self.clock.last is None:
            return  # it never made a sound: nothing to record
        script = session.script
        step = session.chapter_at(session.stopped_ms)
        chapters = script.chapters
        finished = bool(session.finished)
        ended = self.ended or ("finished" if finished else "quit")
        timing = {
            k: v for k, v in script.settings.to_json().items() if _timed(k) and k not in _UNTIMED
        }
        record = Record(
            routine=_routine_name(self.ref),
            title=script.title,
            started_at=self.clock.started_at,
            played_ms=round(self.clock.played_s * 1000),
            step=step,
            steps=len(chapters),
            finished=finished,
            ended=ended,
            step_title=chapters[step].title if chapters else None,
            settings=tuple(timing.items()),
            length_ms=script.duration_ms,
        )
        try:
            self.history.add(record)
        except HistoryFault as e:
            for line in self.history.notes:
                self.note(line)
            self.note(f"this session is not in the history: {e}")
            return
        for line in self.history.notes:
            self.note(line)
        if self.live:
            with contextlib.suppress(HistoryFault):
                s = summarize(self.history.sessions(), date.today())
                from coach.history.text import minutes

                self.note(f"{minutes(record.played_ms)} played; streak: {_days(s.streak_days)}")


def _timed(key: str) -> bool:
    from coach.settings import SETTINGS

    return key in {s.field for s in SETTINGS}
