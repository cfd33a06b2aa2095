"""Writing files so that nothing is ever half written: a temp file beside, then a rename.

The audio encoders (coach.export) use the same pieces, without the fsyncs (coach.export.write
says why): the small files here (new routines, cue scripts, captions, play positions) are
fsynced before the rename and their folder after it, so they survive a power cut too.
"""

from __future__ import annotations

import contextlib
import errno
import os
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
        tmp = create_temp(path, folder)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        fsync_folder(folder)
    except OSError as e:
        raise write_fault(path, folder, e) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def create_temp(path: Path, folder: Path) -> Path:
    """A new empty file beside `path`, created with the usual permissions (0666 - umask)."""
    for _ in range(100):
        # os.urandom, not secrets.token_hex: the same bytes, without importing hmac and
        # hashlib's OpenSSL binding (about 5 ms) in every command that writes a file.
        tmp = folder / f".{path.name}.{os.urandom(4).hex()}.part"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(folder))


def fsync_folder(folder: Path) -> None:
    """Make the rename itself durable, where the platform allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_fault(path: Path, folder: Path, e: OSError) -> EnvironmentFault:
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return EnvironmentFault(
            f"cannot write {path}: the disk is full ({reason})",
            f"free some space on the disk that holds {folder}, or export to another folder",
        )
    if e.errno == errno.EFBIG:
        return EnvironmentFault(
            f"cannot write {path}: the file is too large for that file system ({reason})",
            "export to a folder on another disk, or choose a smaller format such as ogg",
        )
    if e.errno == errno.EROFS:
        return EnvironmentFault(
            f"cannot write {path}: {folder} is on a read-only file system",
            "export to a folder you can write to",
        )
    if isinstance(e, PermissionError):
        return EnvironmentFault(
            f"cannot write {path}: permission denied in the folder {folder}",
            f"export to a folder you can write to, or make it writable (chmod u+w {folder})",
        )
    return EnvironmentFault(
        f"cannot write {path}: {reason}",
        "check that the folder is writable and the disk has room",
    )
