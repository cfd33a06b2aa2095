"""What is installed, found without importing it: a package's folder and its version.

importlib.metadata searches every folder on sys.path (50-90 ms, in every command that speaks
or reads the phrase cache); the one .dist-info beside a package says the same, read in well
under a millisecond. importlib.metadata is still asked when there is not exactly one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path


def package_folder(module: str) -> Path | None:
    """Where the top-level package `module` would be imported from (not importing it), or
    None when it is not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def dist_infos(dist: str, folder: Path) -> list[Path]:
    """The .dist-info folders of distribution `dist` in `folder` (a site-packages), sorted."""
    # Wheels write the name normalized: lower case, runs of "-", "_" and "." as one "_".
    name = re.sub(r"[-_.]+", "_", dist).lower()
    try:
        return sorted(
            p for p in folder.glob("*.dist-info") if p.name.lower().startswith(f"{name}-")
        )
    except OSError:
        return []


def version(dist: str, module: str | None = None) -> str:
    """The installed version of distribution `dist`, which provides the top-level package
    `module` (by default the distribution's own name), or "?" when it is not installed."""
    package = package_folder(module or dist)
    found = dist_infos(dist, package.parent) if package is not None else []
    if len(found) == 1:
        try:
            with (found[0] / "METADATA").open(encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():  # the headers end here
                        break
        except (OSError, UnicodeDecodeError):
            pass
    from importlib.metadata import PackageNotFoundError, version as metadata_version

    try:
        return metadata_version(dist)
    except PackageNotFoundError:
        return "?"


# -- notes of what was found, in the cache folder ---------------------------------------------
#
# Starting an engine only to learn what it is (Piper's import, espeak-ng's version and voices)
# costs 50-90 ms in every command. What was learned is noted in the cache folder with the state
# of the files it came from (`files_state`), and used while they are unchanged.

NOTES_KEPT = 8  # per note file: for the Python environments sharing one cache folder
_looking = False  # inside `looking()`


@contextlib.contextmanager
def looking() -> Iterator[None]:
    """For `coach doctor`, which looks for itself and changes nothing: meanwhile notes are
    neither used nor written, so every engine is started to be known."""
    global _looking
    before, _looking = _looking, True
    try:
        yield
    finally:
        _looking = before


def files_state(paths) -> list:
    """Each path with its size, time and inode (None for each where it is not there), so a
    reinstall, an upgrade or another file in its place changes it."""
    out: list = []
    for path in paths:
        try:
            st = Path(path).stat()
            out.append([str(path), st.st_size, st.st_mtime_ns, st.st_ino])
        except OSError:
            out.append([str(path), None, None, None])
    return out


def package_state(dist: str, module: str, patterns: tuple[str, ...] = ("*.py", "*.so")) -> list:
    """Where `module` would be imported from, its distribution's .dist-info (so its version)
    and the state of its files matching `patterns`; [module, None] when not installed."""
    folder = package_folder(module)
    if folder is None:
        return [module, None]
    try:
        files = sorted({p for pattern in patterns for p in folder.glob(pattern)})
    except OSError:
        files = []
    infos = [p.name for p in dist_infos(dist, folder.parent)]
    return [str(folder), infos, files_state(files)]


def is_looking() -> bool:
    """Inside `looking()`: notes are neither used nor written."""
    return _looking


def _notes_path(name: str) -> Path:
    from coach.sound.cache import cache_dir

    return cache_dir() / name


def noted(name: str) -> list:
    """The entries of the note file `name` in the cache folder, the newest first."""
    import json

    try:
        found = json.loads(_notes_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return found.get("noted", []) if isinstance(found, dict) else []


def note(name: str, entry: dict) -> None:
    """Put `entry` first in the note file `name`, in place of one for the same "files".
    Only into a cache folder that is there: the first phrase kept makes it, a command that
    only looks (`coach doctor`) never does. A note that cannot be written costs the next
    command the time it saves, nothing else."""
    import json

    from coach.atomic import write_text_atomic
    from coach.errors import EnvironmentFault

    path = _notes_path(name)
    if _looking or not path.parent.is_dir():
        return
    files = entry.get("files")
    rest = [e for e in noted(name) if not (isinstance(e, dict) and e.get("files") == files)]
    with contextlib.suppress(EnvironmentFault):  # see above
        write_text_atomic(path, json.dumps({"noted": [entry, *rest][:NOTES_KEPT]}))


def found_note(name: str, files: list) -> dict | None:
    """The entry of the note file `name` made for `files` as they are now, or None (always,
    inside `looking()`)."""
    if _looking:
        return None
    for entry in noted(name):
        if isinstance(entry, dict) and entry.get("files") == files:
            return entry
    return None
