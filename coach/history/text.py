"""The history in words: `coach history`'s table and summary, and its --since values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta

from coach.errors import UsageError
from coach.history.store import Record, Summary


def parse_since(text: str, today: date) -> date:
    """--since: YYYY-MM-DD, `today`, `yesterday`, or a number of days back (`7d`, `7`)."""
    value = text.strip().lower()
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    days = re.fullmatch(r"(\d{1,5})\s*d?", value)
    if days:
        return today - timedelta(days=int(days.group(1)))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            "--since",
            f"expected a day as YYYY-MM-DD, today, yesterday or a number of days (7d), "
            f"found '{text}'",
        ) from None


def minutes(ms: int) -> str:
    if 0 < ms < 30_000:
        return "<1 min"
    return f"{round(ms / 60_000)} min"


def outcome(r: Record) -> str:
    if r.finished:
        return "finished"
    title = f" ({r.step_title})" if r.step_title else ""
    return f"stopped at step {r.step}{title}"


def session_rows(records: Sequence[Record]) -> list[str]:
    """One line per session, oldest first, under a header; nothing when there are none."""
    if not records:
        return []
    rows = [
        (r.started_at.astimezone().strftime("%Y-%m-%d %H:%M"), r.routine, minutes(r.played_ms),
         outcome(r))
        for r in records
    ]  # fmt: skip
    width = max(len("routine"), *(len(r[1]) for r in rows))
    played = max(len("played"), *(len(r[2]) for r in rows))
    lines = [f"{'date':<16}  {'routine':<{width}}  {'played':>{played}}  "]
    lines += [f"{d:<16}  {n:<{width}}  {p:>{played}}  {o}" for d, n, p, o in rows]
    return [line.rstrip() for line in lines]


def summary_lines(s: Summary) -> list[str]:
    days = "1 day" if s.days_active == 1 else f"{s.days_active} days"
    sessions = "1 session" if s.sessions == 1 else f"{s.sessions} sessions"
    streak = (
        "none"
        if s.streak_days == 0
        else ("1 day" if s.streak_days == 1 else f"{s.streak_days} days in a row")
    )
    if s.streak_days and not s.streak_today:
        streak += " (play today to keep it)"
    return [
        f"this week (since {s.week_start:%a %d %b}): {days} active, "
        f"{minutes(s.played_ms) if s.played_ms else '0 min'}, {sessions}",
        f"streak: {streak}",
    ]
