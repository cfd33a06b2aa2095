"""Finding routines: a path, the name of one of the person's own routines (in their routines
folder), or the name of a built-in routine shipped in `coach/routine/routines/`.

Turning what is found into a cue script is coach.pipeline's job.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from coach.errors import Problem, RoutineError

SCRIPT_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a routine comes from; `shown` is how messages name it."""

    path: Path
    shown: str
    builtin: bool = False

    @property
    def is_cue_script(self) -> bool:
        return self.path.suffix.lower() == SCRIPT_SUFFIX


def builtin_dir() -> Path:
    return Path(str(resources.files("coach.routine") / "routines"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def user_dir() -> Path:
    """The person's own routines folder: $COACH_ROUTINES_DIR, else the platform's data folder."""
    import os

    override = os.environ.get("COACH_ROUTINES_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_data_path("coach", appauthor=False) / "routines"


def user_routines() -> dict[str, Path]:
    """name -> file for each routine in the user's folder (.yaml or .yml)."""
    folder = user_dir()
    found: dict[str, Path] = {}
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
    except OSError:  # no folder yet (or not readable): no routines of one's own
        return {}
    for path in files:
        found.setdefault(path.stem, path)
    return found


def schema_path() -> Path:
    return Path(str(resources.files("coach.routine") / "routine.schema.json"))


def find(ref: str) -> Source:
    """A routine path (anything that exists, or looks like a path) or a built-in name."""
    path = Path(ref)
    looks_like_path = "/" in ref or "\\" in ref or path.suffix.lower() in (".yaml", ".yml", ".json")
    if path.exists() or looks_like_path:
        return Source(path, ref)
    # The person's own routines come first: a copy of a built-in routine, changed and kept
    # under the same name, is the one they mean.
    mine = user_routines()
    if ref in mine:
        return Source(mine[ref], str(mine[ref]))
    names = builtin_names()
    if ref in names:
        return Source(builtin_dir() / f"{ref}.yaml", f"{ref}", builtin=True)
    known = sorted({*names, *mine})
    close = difflib.get_close_matches(ref, known, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else "routines: " + ", ".join(known)
    raise RoutineError(
        [Problem(f"no routine file or built-in routine by this name; {hint}", path=ref)]
    )


def shown_path(source: Source) -> str:
    # Messages about a built-in routine point at the file, so its line numbers can be found.
    return str(source.path) if source.builtin else source.shown
