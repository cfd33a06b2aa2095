"""The phrase cache: one `.npy` file of samples per phrase, keyed by a hash of everything that
changes its sound (text, voice, rate, pitch, volume, engine and its versions, and how coach
processes it), under $COACH_CACHE_DIR or the platform's cache folder; its stats and clearing.

Entries are written atomically, so concurrent runs share it safely, and one that does not load
is made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Bump when the samples of a phrase change (trimming, normalizing, resampling, how it is
# spoken): old cache entries go stale. 4: each phrase spoken by a fresh fork, the same samples
# in any order. 5: a phrase at another rate than the voice's is resampled by soxr.
PROCESSING_VERSION = 5


def cache_dir() -> Path:
    """Where phrases are kept: $COACH_CACHE_DIR, else the platform's cache folder."""
    override = os.environ.get("COACH_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_cache_path("coach", appauthor=False) / "phrases"


def cache_stats(folder: Path | None = None) -> tuple[int, int]:
    """(number of phrases, bytes) in the cache."""
    folder = folder or cache_dir()
    files = list(folder.glob("*/*.npy")) if folder.is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)


def clear_cache(folder: Path | None = None) -> int:
    """Delete every cached phrase; returns how many there were."""
    folder = folder or cache_dir()
    count = 0
    if folder.is_dir():
        for f in folder.glob("*/*.npy"):
            f.unlink(missing_ok=True)
            count += 1
        for f in folder.glob("tones/*/*.npy"):  # the tones kept (coach.sound.tones), too
            f.unlink(missing_ok=True)
    return count


def entry_path(folder: Path, text: str, identity: dict) -> Path:
    """Where the phrase `text`, spoken as `identity` says, is kept."""
    ident = json.dumps({"text": text, **identity}, sort_keys=True)
    key = hashlib.sha256(ident.encode("utf-8")).hexdigest()
    return folder / key[:2] / f"{key}.npy"


# The header `store` writes (numpy's .npy format 1.0): magic, version, header length, then a
# dict literal padded to a multiple of 64 bytes. Only the layout `load` accepts is read.
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_NPY_HEADER = re.compile(rb"\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+),\), \} *\n")


def samples(path: Path) -> int | None:
    """How many samples the entry at `path` holds, from its header alone (a few bytes, not
    the audio): a phrase's length is all a compile needs. None when there is no entry, or
    when its header is not one this reads or promises more than the file holds; `load` then
    decides."""
    try:
        with open(path, "rb") as f:
            head = f.read(128)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    if len(head) < 10 or not head.startswith(_NPY_MAGIC):
        return None
    end = 10 + int.from_bytes(head[8:10], "little")
    match = _NPY_HEADER.fullmatch(head, 10, end) if end <= len(head) else None
    if match is None:
        return None
    count = int(match[1])
    return count if count and size == end + 4 * count else None


def load(path: Path) -> np.ndarray | None:
    """The cached samples at `path`, or None when there are none (or none usable); read-only."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None  # no entry, or one that cannot be read: make it again
    data = _samples_of(raw)
    if data is None:  # not the header `store` writes: numpy's own reader decides
        try:
            data = np.load(io.BytesIO(raw), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # a corrupt entry (a crash mid-write elsewhere): make it again
    if data.dtype != np.float32 or data.ndim != 1 or not len(data):
        return None
    if not np.isfinite(data).all():  # the mixer's blocks are finite because phrases are
        return None
    return data


def _samples_of(raw: bytes) -> np.ndarray | None:
    # The samples of an entry in the layout `store` writes, straight from the bytes read: a
    # warm export reads a phrase for every sentence, and np.load's header parsing (a Python
    # literal) took longer than the reading.
    import numpy as np

    if not raw.startswith(_NPY_MAGIC) or len(raw) < 10:
        return None
    end = 10 + int.from_bytes(raw[8:10], "little")
    match = _NPY_HEADER.fullmatch(raw, 10, end) if end <= len(raw) else None
    if match is None or len(raw) != end + 4 * int(match[1]):
        return None
    return np.frombuffer(raw, np.dtype("<f4"), int(match[1]), end)


def store(path: Path, data) -> None:
    """Write a cache entry atomically: concurrent runs never see half a phrase, and a run
    stopped mid-write (Ctrl-C, SIGTERM) leaves no temp file behind."""
    import numpy as np

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, data, allow_pickle=False)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # an unwritable cache costs speed, not correctness: the phrase is still used
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
