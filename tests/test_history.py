"""The session history, with the real SQLite file: writers at once, a file from the first
schema, a damaged, locked, read-only or full one, and `coach history` reading it back.

How `coach play` records each way a session can end is tried with real sessions at the end of
this file (through the audio server).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from coach.cli import app
from coach.history.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    History,
    HistoryFault,
    Record,
    history_path,
    streak,
    summarize,
)
from tests.support import ROOT

LOCAL = datetime.now().astimezone().tzinfo


def record(i: int = 0, *, day: date | None = None, played_ms: int = 60_000, **kw) -> Record:
    when = datetime.combine(day or date.today(), datetime.min.time(), LOCAL) + timedelta(
        hours=8, minutes=i
    )
    fields = {
        "routine": "upper-back-quick",
        "title": "Upper back desk break",
        "started_at": when,
        "played_ms": played_ms,
        "step": 3,
        "steps": 5,
        "finished": False,
        "ended": "quit",
        "step_title": "Seated twist",
        "settings": (("pace", 1.0),),
        "length_ms": 168_000,
    }
    return Record(**{**fields, **kw})


def run(*args: str, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], **kw)


# -- the file ---------------------------------------------------------------------------------


def test_a_record_is_read_back_as_written_from_a_wal_file_of_the_last_schema(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    written = record(finished=True, ended="finished", step=4, step_title="Calm breathing")
    history.add(written)
    assert history.sessions() == (written,)
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert history.notes == []


def test_the_file_lives_in_the_state_folder(coach_home):
    assert history_path() == coach_home / "state" / "history.sqlite3"


def test_no_file_is_no_sessions_and_reading_creates_nothing(tmp_path):
    history = History(tmp_path / "state" / "h.sqlite3")
    assert history.sessions() == ()
    assert history.clear() == 0
    assert not (tmp_path / "state").exists()


def test_a_file_of_the_first_schema_is_migrated_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "h.sqlite3"
    # What the first coach with a history wrote: schema 1, rollback journal.
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO sessions (routine, title, started_at, played_ms, step, steps, finished) "
        "VALUES ('upper-back-desk', 'Upper back at the desk', '2025-03-04T08:00:00+01:00', "
        "600000, 9, 10, 1), ('mine', 'Mine', '2025-03-05T08:00:00+01:00', 30000, 2, 4, 0)"
    )
    conn.commit()
    conn.close()

    history = History(path)
    old = history.sessions()
    assert [(r.routine, r.played_ms, r.step, r.finished, r.ended) for r in old] == [
        ("upper-back-desk", 600_000, 9, True, "finished"),
        ("mine", 30_000, 2, False, None),  # how it ended was not recorded then
    ]
    assert old[0].started_at == datetime(2025, 3, 4, 8, tzinfo=timezone(timedelta(hours=1)))
    assert old[0].settings == () and old[0].length_ms is None
    history.add(record())
    assert len(history.sessions()) == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


WRITER = """
import sys
from datetime import datetime
from coach.history.store import History, Record
history = History()
for i in range(int(sys.argv[1])):
    history.add(Record(sys.argv[2], "t", datetime.now().astimezone(), i, 0, 1, False, "quit"))
"""


def test_writers_at_once_lose_no_session(coach_home):
    # Four processes at once, from an empty folder: each creates the file and its schema if it
    # finds none, then writes as fast as it can.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, "40", f"writer{n}"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    found = History().sessions()
    assert len(found) == 160
    for n in range(4):
        assert sorted(r.played_ms for r in found if r.routine == f"writer{n}") == list(range(40))


def test_a_damaged_file_is_kept_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "h.sqlite3"
    garbage = b"this is not a database, but it was someone's history\n" * 200
    path.write_bytes(garbage)
    history = History(path)
    history.add(record())
    assert history.sessions() == (record(),)
    (aside,) = tmp_path.glob("h.sqlite3.damaged-*")
    assert aside.read_bytes() == garbage  # renamed, not deleted
    assert history.notes == [
        f"the history file {path} was damaged; it is kept as {aside.name} and a new one is started"
    ]


def test_a_truncated_file_is_damaged_too(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path).add(record())
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * (len(data) - 100))  # header kept, pages gone
    history = History(path)
    history.add(record(1))
    assert history.sessions() == (record(1),)
    kept = sorted(
        p.name[len("h.sqlite3.damaged-YYYYmmdd-HHMMSS") :] for p in tmp_path.glob("h.*-*")
    )
    assert kept == ["", "-shm", "-wal"]  # with its journal, which belongs to it


def test_a_locked_file_costs_the_record_within_a_few_seconds(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path).add(record())
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(HistoryFault) as e:
            History(path).add(record(1))
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(e.value) == f"cannot write the history {path}: another program holds it locked"
    assert 0.9 < waited < 3
    assert History(path).sessions() == (record(),)


def test_a_read_only_disk_costs_the_record_with_a_clear_message(read_only_disk):
    path = read_only_disk / "state" / "h.sqlite3"
    with pytest.raises(HistoryFault) as e:
        History(path).add(record())
    assert str(e.value).startswith(f"cannot open the history {path}: ")
    assert "Read-only file system" in str(e.value)


def test_a_full_disk_costs_the_record_with_a_clear_message(tiny_disk):
    path = tiny_disk / "h.sqlite3"
    history = History(path)
    history.add(record())
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError, match="No space left"):
        while True:
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    big = record(1, title="x" * 20_000)  # more than any page left
    with pytest.raises(HistoryFault) as e:
        history.add(big)
    assert str(e.value) == f"cannot write the history {path}: the disk is full"
    filler.unlink()
    assert history.sessions() == (record(),)


# -- this week and the streak -------------------------------------------------------------------


def test_the_streak_counts_days_in_a_row_to_today_or_to_yesterday():
    today = date(2025, 6, 12)
    days = {today - timedelta(days=n) for n in (0, 1, 2, 4)}
    assert streak(days, today) == 3
    assert streak(days - {today}, today) == 2  # still alive: today is not over
    assert streak(days - {today, today - timedelta(days=1)}, today) == 0
    assert streak(set(), today) == 0


def test_this_week_is_monday_to_today():
    today = date(2025, 6, 12)  # a Thursday
    records = (
        record(0, day=date(2025, 6, 8), played_ms=600_000),  # Sunday: last week
        record(1, day=date(2025, 6, 9), played_ms=300_000),
        record(2, day=date(2025, 6, 11), played_ms=120_000),
        record(3, day=date(2025, 6, 11), played_ms=60_000),
        record(4, day=today, played_ms=30_000),
    )
    s = summarize(records, today)
    assert s.week_start == date(2025, 6, 9)
    assert (s.days_active, s.played_ms, s.sessions) == (3, 510_000, 4)
    assert (s.streak_days, s.streak_today) == (2, True)


# -- coach history --------------------------------------------------------------------------------


def test_coach_history_shows_the_sessions_this_week_and_the_streak():
    today = date.today()
    history = History()
    history.add(record(0, day=today - timedelta(days=1), played_ms=185_000))
    history.add(
        record(1, finished=True, ended="finished", step=4, step_title="Calm", played_ms=20_000)
    )
    result = run("history")
    assert result.exit_code == 0, result.output
    yesterday = today - timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    week = [r for r in (yesterday, today) if r >= monday]
    # On a Monday only today's 20 s count (under a minute); on other days 185 s + 20 s = 205 s,
    # which rounds to 3 minutes.
    minutes = {2: "3 min", 1: "<1 min"}
    assert result.output.splitlines()[:3] == [
        "date              routine           played",
        f"{yesterday:%Y-%m-%d} 08:00  upper-back-quick   3 min  stopped at step 3 (Seated twist)",
        f"{today:%Y-%m-%d} 08:01  upper-back-quick  <1 min  finished",
    ]
    assert result.output.splitlines()[4] == (
        f"this week (since {monday:%a %d %b}): {len(week)} day{'s' * (len(week) > 1)} active, "
        f"{minutes[len(week)]}, {len(week)} session{'s' * (len(week) > 1)}"
    )
    assert result.output.splitlines()[5] == "streak: 2 days in a row"


def test_coach_history_json_and_since():
    today = date.today()
    history = History()
    history.add(record(0, day=today - timedelta(days=10)))
    history.add(record(1, day=today))
    shown = json.loads(run("history", "--json", "--since", "7d").output)
    assert [s["started_at"][:10] for s in shown["sessions"]] == [today.isoformat()]
    assert shown["sessions"][0] == {
        **record(1, day=today).to_json(),
    }
    assert shown["streak_days"] == 1
    every = json.loads(run("history", "--json").output)
    assert len(every["sessions"]) == 2
    on_day = json.loads(run("history", "--json", "--since", str(today)).output)
    assert len(on_day["sessions"]) == 1


def test_coach_history_on_no_history_says_so():
    result = run("history")
    assert result.exit_code == 0
    assert result.output.startswith("no sessions yet\n")


def test_a_bad_since_is_a_usage_error():
    result = run("history", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "--since: expected a day as YYYY-MM-DD" in result.output


def test_clear_asks_first_on_a_terminal_and_yes_clears(run_coach):
    History().add(record())

    def answering(text: str):
        master, slave = os.openpty()
        try:
            os.write(master, text.encode())  # typed ahead: the terminal keeps it for coach
            return run_coach("history", "--clear", stdin=slave, timeout=60)
        finally:
            os.close(master)
            os.close(slave)

    refused = answering("n\n")
    assert refused.returncode == 1  # aborted
    assert len(History().sessions()) == 1
    asked = answering("y\n")
    assert asked.returncode == 0, asked.stderr
    file = history_path()
    assert asked.stdout == f"Forget every session in {file}? [y/N]: forgot 1 session ({file})\n"
    assert History().sessions() == ()
    History().add(record())
    result = run("history", "--clear", "--yes")
    assert result.exit_code == 0 and "forgot 1 session" in result.output
    assert History().sessions() == ()


def test_clear_without_a_terminal_needs_yes(run_coach):
    History().add(record())
    proc = run_coach("history", "--clear", stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr == (
        "coach: error: --clear: add --yes to clear the history without being asked\n"
    )
    assert len(History().sessions()) == 1


# -- coach play records every session, however it ends ------------------------------------------

# The routines and the running `coach play` of tests/test_play.py.
from tests import test_play  # noqa: E402

play = test_play.play
recorder = test_play.recorder
sink_recorder = test_play.sink_recorder


@pytest.mark.audio
@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "ended", "code"),
    [
        ("q", "quit", 0),
        ("ctrl-c", "ctrl-c", 130),
        ("sigterm", "SIGTERM", 130),
        ("sighup", "SIGHUP", 130),
    ],
)
def test_a_stopped_session_is_recorded_with_how_it_ended(
    tmp_path, how, ended, code, play, recorder
):
    import signal

    path = test_play.write_routine(tmp_path, test_play.TALK, "talk")
    coach = play(path, "--from", "1", terminal=how == "q")
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + test_play.frames(2000))
    started = time.monotonic()
    if how == "q":
        coach.press("q")
    else:
        coach.signal({"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM,
                      "sighup": signal.SIGHUP}[how])  # fmt: skip
    assert coach.wait(timeout=20) == code, coach.stderr
    assert time.monotonic() - started < 3  # the record does not hold the exit back
    (session,) = History().sessions()
    assert (session.routine, session.title, session.step, session.step_title) == (
        "talk",
        "Talk",
        1,
        "Listen",
    )
    assert (session.finished, session.ended, session.steps) == (False, ended, 2)
    assert 1700 < session.played_ms < 3000, session.played_ms
    assert abs((datetime.now().astimezone() - session.started_at).total_seconds()) < 60
    assert dict(session.settings)["pace"] == 1.0


@pytest.mark.audio
@pytest.mark.slow
def test_a_finished_session_is_recorded_and_the_streak_said(tmp_path, run_coach):
    History().add(record(0, day=date.today() - timedelta(days=1)))
    path = test_play.write_routine(tmp_path, test_play.TIMING, "timing")
    proc = run_coach("play", path, "--pace", "1.5", timeout=120)
    assert proc.returncode == 0, proc.stderr
    last = History().sessions()[-1]
    assert (last.routine, last.finished, last.ended, last.step) == ("timing", True, "finished", 1)
    assert dict(last.settings)["pace"] == 1.5
    assert abs(last.played_ms - last.length_ms) < 600, (last.played_ms, last.length_ms)
    err = proc.stderr.splitlines()
    assert "streak: 1 day; this session makes it 2" in err
    assert err[-1].endswith(" played; streak: 2 days in a row")


@pytest.mark.audio
@pytest.mark.slow
def test_a_history_that_cannot_be_written_costs_one_line_not_the_session(
    tmp_path, run_coach, read_only_disk
):
    path = test_play.write_routine(tmp_path, test_play.TIMING, "timing")
    proc = run_coach(
        "play", path, "--quiet", timeout=120, env={"COACH_STATE_DIR": str(read_only_disk)}
    )
    assert proc.returncode == 0, proc.stderr
    file = read_only_disk / "history.sqlite3"
    assert proc.stderr == (
        f"this session is not in the history: cannot open the history {file}: "
        "the folder is on a read-only file system\n"
    )


@pytest.mark.audio
@pytest.mark.slow
def test_a_damaged_history_is_kept_aside_and_the_session_recorded(tmp_path, run_coach, coach_home):
    state = coach_home / "state"
    state.mkdir()
    (state / "history.sqlite3").write_bytes(b"\x00not sqlite\x00" * 500)
    path = test_play.write_routine(tmp_path, test_play.TIMING, "timing")
    proc = run_coach("play", path, "--quiet", timeout=120)
    assert proc.returncode == 0, proc.stderr
    (aside,) = state.glob("history.sqlite3.damaged-*")
    assert aside.read_bytes() == b"\x00not sqlite\x00" * 500
    assert proc.stderr.splitlines() == [
        f"the history file {state / 'history.sqlite3'} was damaged; it is kept as "
        f"{aside.name} and a new one is started"
    ]
    assert [s.ended for s in History().sessions()] == ["finished"]
