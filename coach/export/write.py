"""`write_audio`: one audio file, all or nothing, in any of the output formats.

Every export is written to a temp file beside the target (`.name.xxxxxxxx.part`), encoded
(coach.export.encode, or coach.export.ffmpeg for m4a/m4b), tagged there (coach.export.tags)
and only then renamed onto the target, so an export that fails or is interrupted never leaves
a partial file, and the temp file is removed on every way out. It is not fsynced (see
`write_audio`). Errors of the encoders
and of mutagen become coach's errors here, with a fix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coach.atomic import create_temp, write_fault
from coach.errors import EnvironmentFault, UserError
from coach.export.encode import (
    Blocks,
    check_soundfile,
    libsndfile_error,
    write_soundfile,
    write_wav,
)
from coach.export.ffmpeg import find_ffmpeg, write_ffmpeg
from coach.export.formats import AUDIO_FORMATS, FORMATS
from coach.export.tags import Tags, mutagen_error, tag_file

if TYPE_CHECKING:
    import numpy as np

    from coach.script.cues import Chapter


def write_audio(
    path: Path,
    pcm: np.ndarray | Blocks,
    sample_rate: int,
    fmt: str,
    chapters: Sequence[Chapter],
    tags: Tags,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Encode `pcm` (float, shape (n,) or (n, 2), in [-1, 1], or `Blocks` of it) to `path`
    with chapters and tags.

    All or nothing: the file appears complete or not at all. `progress(samples_done,
    samples_total)` is called after each block of a few seconds. An existing file is replaced
    only with `force`. Example:

        write_audio(Path("out.mp3"), pcm, 22050, "mp3", script.chapters, Tags("Upper back"))
    """
    if fmt not in AUDIO_FORMATS:
        raise UserError(f"unknown audio format '{fmt}'; known: {', '.join(AUDIO_FORMATS)}")
    pcm = pcm if isinstance(pcm, Blocks) else Blocks.of(pcm)
    if pcm.frames == 0:
        # libsndfile and mutagen make broken mp3, opus and flac files of no samples.
        raise UserError("there is no audio to write (0 samples)")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    kind = FORMATS[fmt]
    rates = kind.sample_rates
    if rates is not None and not kind.resamples and sample_rate not in rates:
        raise UserError(
            f"{fmt} cannot hold {sample_rate} Hz audio; it takes "
            f"{', '.join(map(str, rates))} Hz; choose another format such as ogg or flac"
        )
    if fmt == "wav" and pcm.frames * pcm.channels * 2 > 0xFFFF_FFFF - 1024 * 1024:
        raise UserError("the audio is too long for wav (4 GB at most); choose flac or ogg")
    if kind.max_chapters is not None and len(chapters) > kind.max_chapters:
        raise UserError(f"{fmt} files carry at most {kind.max_chapters} chapters")

    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EnvironmentFault(
            f"cannot write {path}: the folder {folder} does not exist",
            f"create it first (mkdir -p {folder}) or choose another path",
        )
    if kind.encoder == "ffmpeg":
        ffmpeg = find_ffmpeg(fmt)
    elif kind.encoder == "libsndfile":
        check_soundfile(fmt)

    tmp: Path | None = None
    try:
        tmp = create_temp(path, folder)
        if kind.encoder == "ffmpeg":
            write_ffmpeg(ffmpeg, tmp, pcm, sample_rate, fmt, chapters, tags, progress)
        elif kind.encoder == "coach":
            write_wav(tmp, pcm, sample_rate, chapters, tags, progress)
        else:
            write_soundfile(tmp, pcm, sample_rate, fmt, progress)
            tag_file(tmp, fmt, pcm.frames, sample_rate, chapters, tags)
        # No fsync, of the file or of the folder after the rename. The temp file and the
        # rename are what keep every failure of coach's own (an error, Ctrl-C, SIGTERM, a full
        # disk) from leaving a partial file; an fsync adds durability across a power cut or
        # a kernel crash in the half minute after an export, and it cost the most of any one
        # step of a warm export: 0.15-0.3 s for a 30-minute wav (80 MB) here, more on a slow
        # card or stick. An export is derived data, made again from its routine in a moment,
        # as the phrase cache is (never fsynced either): after such a crash it may be missing,
        # empty or cut short (ext4 flushes a file renamed over another by itself). The small
        # files a person writes or edits (coach.atomic) are still fsynced.
        _replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_fault(path, folder, e) from None
    except mutagen_error() as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, OSError):
            raise write_fault(path, folder, cause) from None
        raise EnvironmentFault(
            f"cannot write the tags of {path}: {e}",
            "this is a bug in coach or mutagen; export to another format meanwhile",
        ) from e
    except libsndfile_error() as e:
        raise EnvironmentFault(
            f"cannot encode {path} as {fmt}: {e}",
            "update soundfile (pip install -U soundfile), whose wheels bundle a libsndfile "
            "with MP3, Vorbis, Opus and FLAC, or export to wav",
        ) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


#: A file replaced that is at least this large is let go by a helper (see `_replace`).
HELD_BYTES = 8 * 1024 * 1024


def _replace(tmp: Path, path: Path) -> None:
    """`os.replace(tmp, path)`, with a large file replaced freed by another process.

    A rename over a file frees the old file's blocks within the rename, and coach waited for
    that: 80-110 ms for a 30-minute wav here (ext4), the most of any one step of a warm
    export after the mixing. So a helper (`cat`, reading a pipe from coach) is started holding
    the old file open: the rename then only moves the name, and the blocks are freed when the
    helper exits, which it does as soon as coach closes the pipe (just after the rename, or
    when coach dies). Nothing can be left behind: after the rename the old file has no name,
    whatever becomes of the helper. Without a helper (no `cat`, a small or special file, a
    platform that cannot rename over an open file) it is a plain rename."""
    import stat

    helper = None
    with contextlib.suppress(OSError):
        old = os.lstat(path)
        if os.name == "posix" and stat.S_ISREG(old.st_mode) and old.st_size >= HELD_BYTES:
            helper = _holding(path, old)
    try:
        os.replace(tmp, path)
    finally:
        if helper is not None:
            with contextlib.suppress(OSError):
                helper.stdin.close()  # cat exits, the blocks go


def _holding(path: Path, old: os.stat_result):
    """A `cat` process holding `path` (the file `old` describes) open, or None."""
    import shutil
    import stat
    import subprocess

    cat = shutil.which("cat")
    if cat is None:
        return None
    # O_NONBLOCK: should the file become a FIFO meanwhile, opening it must not wait.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (old.st_dev, old.st_ino):
            return None
        return subprocess.Popen(
            [cat],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(fd,),
        )
    finally:
        os.close(fd)
