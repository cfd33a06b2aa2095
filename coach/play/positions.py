"""Saved play positions: where `coach play` stopped, per routine and settings, for `--resume`.

One small JSON file in the state folder (coach.state). A position is the step (chapter) that
was playing, with its title, so a routine edited since still resumes at the same step or, if
that step is gone, starts from the beginning. Saving never stops playback from ending: a folder
that cannot be written loses the position, not the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from coach.script.cues import CueScript

FILE_NAME = "positions.json"
KEEP = 100  # the most recent positions kept; older ones are forgotten


def _identity(ref: str) -> str:
    from coach.routine.library import find

    source = find(ref)
    if source.builtin:
        return f"builtin:{source.path.stem}"
    return str(source.path.resolve())


@dataclass(frozen=True, slots=True)
class Positions:
    """The saved position of one routine played with one set of settings."""

    key: str
    routine: str
    path: Path

    @classmethod
    def for_routine(cls, ref: str, settings) -> Positions:
        from coach.state import state_dir

        routine = _identity(ref)
        given = {k: v for k, v in asdict(settings).items() if v is not None}
        blob = json.dumps([routine, given], sort_keys=True, default=str)
        key = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]
        return cls(key, routine, state_dir() / FILE_NAME)

    def _all(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none saved yet, or a damaged file: nothing to resume from
        return data if isinstance(data, dict) else {}

    def load(self, script: CueScript) -> int | None:
        """The step to resume at, or None when nothing (usable) was saved."""
        saved = self._all().get(self.key)
        if not isinstance(saved, dict):
            return None
        step, title = saved.get("step"), saved.get("title")
        chapters = script.chapters
        if isinstance(step, int) and 0 <= step < len(chapters) and chapters[step].title == title:
            return step
        for i, ch in enumerate(chapters):  # the routine changed: find the step by its title
            if ch.title == title:
                return i
        return None

    def save(self, script: CueScript, step: int) -> None:
        chapters = script.chapters
        if not chapters:
            return
        step = min(max(step, 0), len(chapters) - 1)
        record = {
            "routine": self.routine,
            "step": step,
            "title": chapters[step].title,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self._write(record)

    def clear(self) -> None:
        if self.key in self._all():
            self._write(None)

    def _write(self, record: dict | None) -> None:
        from coach.atomic import write_text_atomic
        from coach.errors import CoachError

        data = self._all()
        data.pop(self.key, None)
        if record is not None:
            data[self.key] = record  # last in the dict is the newest
        data = dict(list(data.items())[-KEEP:])
        with contextlib.suppress(OSError, CoachError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=False) + "\n")
