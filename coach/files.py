"""Writing files so that nothing is ever half written: a temp file beside, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from coach.errors import EnvironmentFault


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` all at once or not at all."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EnvironmentFault(
            f"cannot write {path}: the folder {folder} does not exist",
            f"create it first (mkdir -p {folder}) or choose another path",
        )
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
        # mkstemp makes the file private (0600); a finished file gets the usual permissions.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise EnvironmentFault(
            f"cannot write {path}: {e.strerror or e}",
            "check that the folder is writable and the disk has room",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
