"""m4a and m4b through ffmpeg: AAC in an MP4 container, with chapters and tags from an
ffmetadata file. The samples go to ffmpeg's stdin as raw float, block by block.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault
from coach.export.encode import BLOCK_SECONDS, Blocks, encoder_samples
from coach.export.tags import Tags

if TYPE_CHECKING:
    from coach.script.cues import Chapter

_AAC_KBPS_PER_CHANNEL = 64


def find_ffmpeg(fmt: str) -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise EnvironmentFault(
            f"{fmt} export needs ffmpeg, which is not on PATH",
            "install it (sudo apt-get install ffmpeg; brew install ffmpeg on macOS), "
            "or export to mp3, ogg, opus or flac, which need no ffmpeg",
        )
    return found


def _ffmetadata(chapters: Sequence[Chapter], tags: Tags, duration_ms: int) -> str:
    def esc(text: str) -> str:
        for ch in "\\=;#\n":
            text = text.replace(ch, "\\" + ch)
        return text

    lines = [";FFMETADATA1", f"title={esc(tags.title)}", f"artist={esc(tags.artist)}"]
    if tags.album:
        lines.append(f"album={esc(tags.album)}")
    if tags.comment:
        lines.append(f"comment={esc(tags.comment)}")
    for ch in chapters:
        start = min(ch.start_ms, duration_ms)
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={start}",
            f"END={max(start, min(ch.end_ms, duration_ms))}",
            f"title={esc(ch.title)}",
        ]
    return "\n".join(lines) + "\n"


def write_ffmpeg(
    ffmpeg: str,
    tmp: Path,
    pcm: Blocks,
    sample_rate: int,
    fmt: str,
    chapters: Sequence[Chapter],
    tags: Tags,
    progress: Callable[[int, int], None] | None,
) -> None:
    channels = pcm.channels
    total = pcm.frames
    with tempfile.TemporaryDirectory(prefix="coach-ffmpeg-") as work:
        meta = Path(work) / "metadata.txt"
        meta.write_text(
            _ffmetadata(chapters, tags, round(total * 1000 / sample_rate)), encoding="utf-8"
        )
        log_path = Path(work) / "ffmpeg.log"
        cmd = [
            ffmpeg,
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            str(sample_rate),
            "-ac",
            str(channels),
            "-i",
            "pipe:0",
            "-f",
            "ffmetadata",
            "-i",
            str(meta),
            "-map",
            "0:a",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            *(["-metadata:s:a:0", f"language={tags.language3}"] if tags.language3 else []),
            "-c:a",
            "aac",
            "-b:a",
            f"{_AAC_KBPS_PER_CHANNEL * channels}k",
            "-movflags",
            "+faststart",
        ]
        if fmt == "m4b":
            cmd += ["-brand", "M4B "]  # the audiobook brand, as iTunes writes it
        cmd += ["-f", "ipod", str(tmp)]  # ipod: the muxer ffmpeg itself uses for .m4a/.m4b
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
            )
            try:
                step = sample_rate * BLOCK_SECONDS
                assert proc.stdin is not None
                try:
                    for start in range(0, total, step):
                        block = encoder_samples(pcm.read(step), fmt)
                        proc.stdin.write(block.astype("<f4", copy=False).tobytes())
                        if progress is not None:
                            progress(min(start + step, total), total)
                    proc.stdin.close()
                except BrokenPipeError:
                    # ffmpeg stopped early; its exit status and log say why.
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                code = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        message = log_path.read_text(errors="replace").strip().splitlines()
        # ffmpeg 5.1 exits 0 after "Error writing trailer of ...: No space left on device",
        # leaving a file without its index; at -loglevel error every line it prints is an error.
        if code != 0 or any("error" in line.lower() for line in message):
            last = message[-1] if message else f"exit status {code}"
            if any("No space left on device" in line for line in message):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
            raise EnvironmentFault(
                f"ffmpeg could not encode {fmt}: {last}",
                "check that ffmpeg has the aac encoder (ffmpeg -hide_banner -encoders | grep aac)",
            )
