"""The session history: one SQLite file, `history.sqlite3` in coach's state folder.

Why SQLite and not a JSON file like the saved positions: two `coach play` running at once
must both be recorded, and SQLite's locking (WAL mode, a busy timeout) makes two writers take
turns instead of one overwriting the other. A record is one short transaction at the end of a
session.

The schema is `MIGRATIONS`, one script per version, run in order from the version the file has
(`PRAGMA user_version`) to the last one; a file written by an older coach is upgraded the next
time it is opened, and one written by a newer coach is read but never written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from coach.errors import EnvironmentFault

FILE_NAME = "history.sqlite3"
BUSY_TIMEOUT_S = 1.0  # how long a write waits for another writer before giving up
# How a session ended (the `ended` column).
ENDINGS = ("finished", "quit", "ctrl-c", "SIGTERM", "SIGHUP", "error")

# One script per schema version; MIGRATIONS[n] takes a file from version n to n + 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        routine TEXT NOT NULL,      -- the name it was played by
        title TEXT NOT NULL,        -- the routine's title
        started_at TEXT NOT NULL,   -- local time with its UTC offset, ISO 8601
        played_ms INTEGER NOT NULL, -- time the sound played, pauses excluded
        step INTEGER NOT NULL,      -- the step playing when it ended, numbered as coach show
        steps INTEGER NOT NULL,     -- how many steps (chapters) the routine has
        finished INTEGER NOT NULL   -- 1: played to the end
    );
    CREATE INDEX sessions_started ON sessions (started_at);
    """,
    # 2: how it ended, the step's title, and what changes a routine's length: its settings
    # as the session ended (pace can change while playing) and the length they give.
    """
    ALTER TABLE sessions ADD COLUMN ended TEXT;
    ALTER TABLE sessions ADD COLUMN step_title TEXT;
    ALTER TABLE sessions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN length_ms INTEGER;
    UPDATE sessions SET ended = CASE WHEN finished THEN 'finished' END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def history_path() -> Path:
    """The history file, in the state folder ($COACH_STATE_DIR moves it with the folder)."""
    from coach.state import state_dir

    return state_dir() / FILE_NAME


@dataclass(frozen=True, slots=True)
class Record:
    """One session of `coach play`, as it ended."""

    routine: str  # the name it was played by: a built-in's name, or the file's stem
    title: str
    started_at: datetime  # aware, local
    played_ms: int  # pauses excluded
    step: int  # the step playing when it ended
    steps: int
    finished: bool
    ended: str | None = None  # one of ENDINGS; None for sessions recorded by schema 1
    step_title: str | None = None
    settings: tuple[tuple[str, object], ...] = ()  # those that change the routine's length
    length_ms: int | None = None  # the routine's length with those settings

    @property
    def day(self) -> date:
        """The local day it started (in the time zone in force now)."""
        return self.started_at.astimezone().date()

    def to_json(self) -> dict:
        return {
            "routine": self.routine,
            "title": self.title,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "played_ms": self.played_ms,
            "step": self.step,
            "step_title": self.step_title,
            "steps": self.steps,
            "finished": self.finished,
            "ended": self.ended,
            "settings": dict(self.settings),
            "length_ms": self.length_ms,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """This week (Monday to today, local time) and the current streak."""

    week_start: date
    days_active: int
    played_ms: int
    sessions: int
    streak_days: int  # days in a row with a session, to today (or to yesterday: still alive)
    streak_today: bool  # whether today is one of them


class HistoryFault(EnvironmentFault):
    """The history file cannot be read or written."""


def _why(e: Exception) -> str:
    text = str(e)
    known = {
        "database is locked": "another program holds it locked",
        "unable to open database file": "the file cannot be created or opened there",
        "attempt to write a readonly database": "it is read-only",
        "database or disk is full": "the disk is full",
        "disk I/O error": "a disk I/O error",
    }
    for key, words in known.items():
        if key in text:
            return words
    if isinstance(e, OSError):
        return e.strerror or text
    return text


def _folder_why(folder: Path) -> str | None:
    """Why nothing can be written in `folder`, when that is so (SQLite only says it "cannot
    open" the file)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "the folder is on a read-only file system"
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return "the folder is not writable"
    return None


def _damaged(e: Exception) -> bool:
    text = str(e)
    return isinstance(e, sqlite3.DatabaseError) and (
        "file is not a database" in text
        or "malformed" in text
        or "corrupt" in text
        or "unsupported file format" in text
    )


class History:
    """The history file at `path` (default: `history_path()`).

    `notes` collects what the caller should tell the person (a damaged file kept aside).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else history_path()
        self.notes: list[str] = []

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun by hand, BEGIN IMMEDIATE, so two
        # writers queue on the lock instead of one failing halfway through.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another coach may have migrated while this one waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _keep_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):  # they belong to the damaged file, not to a new one
            companion = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                os.replace(companion, aside.with_name(aside.name + suffix))
        return aside

    @contextlib.contextmanager
    def _connection(self, create: bool) -> Iterator[sqlite3.Connection | None]:
        """An open, migrated connection; None when there is no file and `create` is false.
        A damaged file is renamed (noted in `notes`) and a new one started."""
        if not create and not self.path.exists():
            yield None
            return
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = self._open()
            except sqlite3.DatabaseError as e:
                if not _damaged(e):
                    raise
                aside = self._keep_aside()
                self.notes.append(
                    f"the history file {self.path} was damaged; it is kept as {aside.name} "
                    "and a new one is started"
                )
                conn = self._open()
        except (sqlite3.Error, OSError) as e:
            raise HistoryFault(
                f"cannot open the history {self.path}: {_folder_why(self.path.parent) or _why(e)}",
                f"make {self.path.parent} writable, or set COACH_STATE_DIR to a folder you "
                "can write",
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    # -- writing ---------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Record one session; HistoryFault when it cannot be (the session is not lost for
        that: the caller says so in one line and goes on)."""
        row = (
            record.routine,
            record.title,
            record.started_at.isoformat(timespec="seconds"),
            int(record.played_ms),
            record.step,
            record.steps,
            int(record.finished),
            record.ended,
            record.step_title,
            json.dumps(dict(record.settings), sort_keys=True, default=str),
            record.length_ms,
        )
        with self._connection(create=True) as conn:
            assert conn is not None
            try:
                conn.execute(
                    "INSERT INTO sessions (routine, title, started_at, played_ms, step, steps, "
                    "finished, ended, step_title, settings, length_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.Error as e:
                raise HistoryFault(
                    f"cannot write the history {self.path}: {_why(e)}",
                    "free some space, or end the program that holds the file",
                ) from None

    def clear(self) -> int:
        """Forget every session; returns how many there were."""
        with self._connection(create=False) as conn:
            if conn is None:
                return 0
            try:
                conn.execute("BEGIN IMMEDIATE")
                n = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
                conn.execute("DELETE FROM sessions")
                conn.execute("COMMIT")
                conn.execute("VACUUM")  # the forgotten sessions are not left in the file
            except sqlite3.Error as e:
                raise HistoryFault(
                    f"cannot clear the history {self.path}: {_why(e)}",
                    f"make {self.path} writable, or end the program that holds it",
                ) from None
            return int(n)

    # -- reading ---------------------------------------------------------------------------

    def sessions(self, since: datetime | None = None) -> tuple[Record, ...]:
        """Every session (since `since`, when given), oldest first."""
        with self._connection(create=False) as conn:
            if conn is None:
                return ()
            try:
                rows = conn.execute(
                    "SELECT routine, title, started_at, played_ms, step, steps, finished, "
                    "ended, step_title, settings, length_ms FROM sessions ORDER BY started_at, id"
                ).fetchall()
            except sqlite3.Error as e:
                raise HistoryFault(
                    f"cannot read the history {self.path}: {_why(e)}",
                    f"check {self.path}, or move it aside: coach starts a new one",
                ) from None
        found = tuple(_record(row) for row in rows)
        if since is not None:
            found = tuple(r for r in found if r.started_at >= since)
        return found


def _record(row) -> Record:
    (routine, title, started, played, step, steps, finished, ended, step_title, settings,
     length) = row  # fmt: skip
    try:
        chosen = json.loads(settings or "{}")
    except ValueError:
        chosen = {}
    return Record(
        routine=routine,
        title=title,
        started_at=datetime.fromisoformat(started),
        played_ms=played,
        step=step,
        steps=steps,
        finished=bool(finished),
        ended=ended,
        step_title=step_title,
        settings=tuple(sorted(chosen.items())) if isinstance(chosen, dict) else (),
        length_ms=length,
    )


def streak(days: set[date], today: date) -> int:
    """Days in a row with a session, ending today, or yesterday when today has none yet (the
    streak is still alive until today is over)."""
    day = today if today in days else today - timedelta(days=1)
    n = 0
    while day in days:
        n += 1
        day -= timedelta(days=1)
    return n


def summarize(records: tuple[Record, ...], today: date) -> Summary:
    """This week's activity (Monday to today) and the streak, from the sessions given."""
    monday = today - timedelta(days=today.weekday())
    week = [r for r in records if monday <= r.day <= today]
    days = {r.day for r in records}
    return Summary(
        week_start=monday,
        days_active=len({r.day for r in week}),
        played_ms=sum(r.played_ms for r in week),
        sessions=len(week),
        streak_days=streak(days, today),
        streak_today=today in days,
    )
