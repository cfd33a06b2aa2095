"""Encoding: samples read in `Blocks` of a few seconds and converted for the encoder (clipped;
int16 for the PCM formats, the only conversion). wav is written here, a header and the int16
samples (`write_wav`); flac, mp3, ogg and opus through libsndfile, resampled block by block
where the codec needs another rate, and written through a checked file object so that a full
disk or a Ctrl-C inside libsndfile's callbacks is never lost.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault
from coach.export.formats import FORMATS, SOUNDFILE, encoder_rate
from coach.export.tags import Tags, append_wav_cues, wav_info

if TYPE_CHECKING:
    import numpy as np

    from coach.script.cues import Chapter

# One soundfile.write of a 30-minute buffer to Ogg Vorbis segfaulted the interpreter; a few
# seconds per call is safe and gives progress often enough.
BLOCK_SECONDS = 4


class Blocks:
    """Samples to write, read front to back in blocks: a session is never held whole.

    `read(n)` gives the next `n` frames (fewer only at the end) as float32, shape (n,) or
    (n, 2). An export of two hours is a few hundred MB of float samples; read this way it
    needs a few seconds' worth at a time.
    """

    def __init__(
        self,
        frames: int,
        channels: int,
        read: Callable[[int], np.ndarray],
        clipped: bool = False,
    ) -> None:
        self.frames = frames
        self.channels = channels
        self.read = read
        # The samples are finite and within [-1, 1] already (coach.sound.render's mixer
        # clips them, and its phrases and tones are finite): the encoder need not clip them.
        self.clipped = clipped

    @classmethod
    def of(cls, pcm) -> Blocks:
        """A buffer already in memory, as blocks."""
        import numpy as np

        pcm = np.asarray(pcm)
        if pcm.ndim == 2 and pcm.shape[1] == 1:
            pcm = pcm[:, 0]
        if not (pcm.ndim == 1 or (pcm.ndim == 2 and pcm.shape[1] == 2)):
            raise ValueError(f"pcm must have shape (n,) or (n, 2), not {pcm.shape}")
        at = 0

        def read(n: int):
            nonlocal at
            block = pcm[at : at + n]
            at += len(block)
            return block

        return cls(len(pcm), 1 if pcm.ndim == 1 else 2, read)


def libsndfile_error() -> type[Exception]:
    import soundfile

    return soundfile.SoundFileError


# -- wav ----------------------------------------------------------------------------------


def write_wav(
    tmp: Path,
    pcm: Blocks,
    sample_rate: int,
    chapters: Sequence[Chapter],
    tags: Tags,
    progress: Callable[[int, int], None] | None,
) -> None:
    """16-bit PCM wav, written here: the header (fmt, the INFO tags, data) and the samples as
    they come, then the chapters' cue points. The bytes libsndfile wrote for coach, but for
    the software tag (tests/test_export_audio.py compares them), without loading it: a warm
    export of a long routine to wav spent as long importing and calling soundfile as mixing.
    """
    channels, total = pcm.channels, pcm.frames
    info = wav_info(tags)
    step = sample_rate * BLOCK_SECONDS
    with open(tmp, "r+b", buffering=0) as raw:
        _write_all(raw, _wav_header(total, channels, sample_rate, info))
        done = 0
        for start in range(0, total, step):
            block = pcm.read(step)
            _write_pcm(raw, encoder_samples(block, "wav", pcm.clipped))
            done += len(block)
            if progress is not None:
                progress(min(start + step, total), total)
        if done != total:  # a source shorter than it said: the header says what was written
            raw.seek(0)
            _write_all(raw, _wav_header(done, channels, sample_rate, info))
            raw.seek(0, os.SEEK_END)
        append_wav_cues(raw, chapters, total, sample_rate)


def _wav_header(frames: int, channels: int, sample_rate: int, info: bytes) -> bytes:
    data_bytes = frames * channels * 2
    # PCM (1), channels, rate, bytes a second, bytes a frame, bits a sample
    fmt = struct.pack(
        "<HHIIHH", 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16
    )
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + info
    chunks += b"data" + struct.pack("<I", data_bytes)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + data_bytes) + b"WAVE" + chunks


def _write_pcm(raw: io.FileIO, block: np.ndarray) -> None:
    import numpy as np

    # Little-endian int16, frames interleaved: the block itself on the usual machines.
    _write_all(raw, np.ascontiguousarray(block, dtype="<i2").data.cast("B"))


def _write_all(raw: io.FileIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:  # a raw write may be short, e.g. just before a disk is full
        view = view[raw.write(view) :]


# -- soundfile ----------------------------------------------------------------------------


def check_soundfile(fmt: str) -> None:
    """An error with a fix if this libsndfile cannot write `fmt`."""
    import soundfile as sf

    major, subtype = SOUNDFILE[fmt]
    if subtype not in sf.available_subtypes(major):
        raise EnvironmentFault(
            f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}",
            "update soundfile (pip install -U soundfile), whose wheels bundle libsndfile 1.2 "
            "with MP3, Vorbis, Opus and FLAC, or export to wav",
        )


class _CheckedFile:
    """A file for libsndfile's virtual I/O that keeps the first error instead of losing it.

    libsndfile carries on after a failed write for some formats (Ogg Vorbis and MP3 go on
    after ENOSPC and close a cut-off file without an error), and an exception raised inside a
    cffi callback (an OSError, or a KeyboardInterrupt that lands there) is only printed. So
    every call catches what went wrong, tells libsndfile it failed, and the writer raises it
    again after each block with `check()`. What lands in soundfile's own part of a callback,
    before or after these methods, is caught by `_callback_errors`.
    """

    def __init__(self, raw: io.FileIO) -> None:
        self.raw = raw
        self.error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def write(self, data) -> int:
        if self.error is not None:
            return 0
        try:
            view = memoryview(data)
            done = 0
            while done < len(view):  # a raw write may be short, e.g. just before a disk is full
                done += self.raw.write(view[done:])
            return done
        except BaseException as e:
            self.error = e
            return 0

    def readinto(self, buffer) -> int:
        try:
            return self.raw.readinto(buffer) or 0
        except BaseException as e:
            self.error = self.error or e
            return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self.raw.seek(offset, whence)
        except BaseException as e:
            self.error = self.error or e
            return -1

    def tell(self) -> int:
        try:
            return self.raw.tell()
        except BaseException as e:
            self.error = self.error or e
            return -1


@contextlib.contextmanager
def _callback_errors(out: _CheckedFile):
    """Keep exceptions that cffi swallows in soundfile's I/O callbacks, for `out.check()`.

    cffi reports an exception escaping a callback through sys.unraisablehook and returns 0 to
    libsndfile, which then writes a cut-off file. A Ctrl-C usually lands in soundfile's
    `vio_write` itself (it runs Python code for every chunk libsndfile writes), so without this
    an interrupted mp3 export would finish "successfully" with a hole in it.
    """
    import soundfile

    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        tb = unraisable.exc_traceback
        if tb is not None and tb.tb_frame.f_code.co_filename == soundfile.__file__:
            out.error = out.error or unraisable.exc_value
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def write_soundfile(
    tmp: Path,
    pcm: Blocks,
    sample_rate: int,
    fmt: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    """flac, mp3, ogg or opus through libsndfile (their tags and chapters: tags.tag_file)."""
    import soundfile as sf

    major, subtype = SOUNDFILE[fmt]
    channels = pcm.channels
    rate = encoder_rate(FORMATS[fmt], sample_rate)
    resampler = None if rate == sample_rate else _Resampler(pcm, sample_rate, rate)
    total = pcm.frames

    with open(tmp, "r+b", buffering=0) as raw, _callback_errors(out := _CheckedFile(raw)):
        with _real_cause(out):
            snd = sf.SoundFile(out, "w", rate, channels, subtype, format=major)
        ok = False
        try:
            step = sample_rate * BLOCK_SECONDS
            if resampler is None:
                for start in range(0, total, step):
                    block = encoder_samples(pcm.read(step), fmt, pcm.clipped)
                    _write_block(snd, out, block)
                    if progress is not None:
                        progress(min(start + step, total), total)
            else:
                for done, block in resampler.blocks(rate * BLOCK_SECONDS):
                    _write_block(snd, out, encoder_samples(block, fmt))
                    if progress is not None:
                        progress(done, total)
            ok = True
        finally:
            if ok:
                with _real_cause(out):
                    snd.close()
            else:
                with contextlib.suppress(Exception):
                    snd.close()
        out.check()


@contextlib.contextmanager
def _real_cause(out: _CheckedFile):
    """On a failure, raise what really went wrong (say ENOSPC) if the file saw it, rather than
    libsndfile's "System error" or soundfile's bare AssertionError on a short write."""
    try:
        yield
    except Exception:
        out.check()
        raise


def _write_block(snd, out: _CheckedFile, block: np.ndarray) -> None:
    with _real_cause(out):
        snd.write(block)
    out.check()


def encoder_samples(block: np.ndarray, fmt: str, clipped: bool = False) -> np.ndarray:
    """Float samples clipped to [-1, 1]; for the PCM formats, int16 (the only conversion).
    `clipped`: the block is finite and within [-1, 1] already."""
    import numpy as np

    if clipped:
        if FORMATS[fmt].int16:
            scaled = np.multiply(block, 32767.0, dtype=np.float32)
            return np.rint(scaled, out=scaled).astype(np.int16)
        return block.astype(np.float32, copy=False)
    # One new array, changed in place after that: a 30-minute WAV export is 40 million
    # samples, and each pass over them shows (nan_to_num alone made five).
    block = np.clip(block, -1.0, 1.0, dtype=np.float32)  # infinities to -1 and 1
    np.copyto(block, 0.0, where=np.isnan(block))  # NaN to silence, as nan_to_num did
    if FORMATS[fmt].int16:
        np.rint(np.multiply(block, 32767.0, out=block), out=block)
        return block.astype(np.int16)
    return block


class _Resampler:
    """`Blocks` at another rate, resampled as they are read (a two-hour export is never held
    whole), through coach.sound.dsp's one resampler. Its output is aligned with the input
    (the filter's delay is taken out) and exactly ceil(frames * rate_out / rate_in) long, so
    chapter times stay right.
    """

    def __init__(self, pcm: Blocks, rate_in: int, rate_out: int) -> None:
        from coach.sound.dsp import Resampler

        self.source = pcm
        self.rate_in = rate_in
        self.rate_out = rate_out
        self.stream = Resampler(rate_in, rate_out, pcm.channels, pcm.frames)

    def blocks(self, approx: int) -> Iterator[tuple[int, np.ndarray]]:
        """(input samples covered, output block) pairs, about `approx` output samples each."""
        total = self.source.frames
        step = max(1, approx * self.rate_in // self.rate_out)
        done = 0
        while done < total:
            block = self.source.read(min(step, total - done))
            done += len(block)
            yield done, self.stream.process(block, last=done >= total or not len(block))
            if not len(block):  # a source shorter than it said: end the stream anyway
                return
