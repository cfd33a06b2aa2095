"""Audio files with chapters and tags: wav, flac, mp3, ogg, opus through soundfile, m4a/m4b
through ffmpeg.

Every export is written to a temp file beside the target (`.name.xxxxxxxx.part`), tagged there,
fsynced and only then renamed onto the target, so an export that fails or is interrupted never
leaves a partial file, and the temp file is removed on every way out.

Chapters per format:

- mp3: ID3v2.4 CTOC (top level, ordered) + one CHAP per chapter with a TIT2 title.
- flac, ogg, opus: Vorbis comments CHAPTER001=HH:MM:SS.mmm and CHAPTER001NAME=title.
- wav: a `cue ` chunk (one cue point per chapter start, in samples) and a LIST/adtl chunk with
  a `labl` (title) and an `ltxt` region (length in samples) per cue point.
- m4a, m4b: ffmpeg's chapters from an ffmetadata file (a QuickTime chapter track and `chpl`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coach.atomic import create_temp, fsync_file, fsync_folder, write_fault
from coach.errors import EnvironmentFault, UsageError, UserError

if TYPE_CHECKING:
    import numpy as np

    from coach.script.cues import Chapter

AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "m4b")

_EXTENSIONS = {
    ".wav": "wav",
    ".wave": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".opus": "opus",
    ".m4a": "m4a",
    ".m4b": "m4b",
}

# format -> (libsndfile major format, subtype)
_SOUNDFILE = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
}
_INT16 = ("wav", "flac")  # written as int16 converted here; the lossy encoders take float
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# libopus takes only these; other rates are resampled to the next one up (see _Resampler).
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MAX_VORBIS_CHAPTERS = 999  # ffmpeg reads exactly three digits: CHAPTER001..CHAPTER999
_AAC_KBPS_PER_CHANNEL = 64

# One soundfile.write of a 30-minute buffer to Ogg Vorbis segfaulted the interpreter; a few
# seconds per call is safe and gives progress often enough.
BLOCK_SECONDS = 4


class Blocks:
    """Samples to write, read front to back in blocks: a session is never held whole.

    `read(n)` gives the next `n` frames (fewer only at the end) as float32, shape (n,) or
    (n, 2). An export of two hours is a few hundred MB of float samples; read this way it
    needs a few seconds' worth at a time.
    """

    def __init__(self, frames: int, channels: int, read: Callable[[int], np.ndarray]) -> None:
        self.frames = frames
        self.channels = channels
        self.read = read

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


@dataclass(frozen=True, slots=True)
class Tags:
    """What a player shows for an exported file."""

    title: str
    artist: str = "coach"
    album: str | None = None
    comment: str | None = None


def format_for(path: Path | str, explicit: str | None = None) -> str:
    """The audio format to write: `explicit` (from --format) if given, else the extension's."""
    known = ", ".join(AUDIO_FORMATS)
    if explicit is not None:
        fmt = explicit.strip().lower().lstrip(".")
        if fmt not in AUDIO_FORMATS:
            raise UsageError("--format", f"unknown audio format '{explicit}'; known: {known}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    found = f"the extension '{suffix}'" if suffix else "no extension"
    raise UserError(
        f"{path}: cannot tell the audio format from {found}; "
        f"name the file .{', .'.join(AUDIO_FORMATS)} or pass --format ({known})"
    )


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
    if fmt == "mp3" and sample_rate not in _MP3_RATES:
        raise UserError(
            f"mp3 cannot hold {sample_rate} Hz audio; it takes "
            f"{', '.join(map(str, _MP3_RATES))} Hz; choose another format such as ogg or flac"
        )
    if fmt == "wav" and pcm.frames * pcm.channels * 2 > 0xFFFF_FFFF - 1024 * 1024:
        raise UserError("the audio is too long for wav (4 GB at most); choose flac or ogg")
    if fmt in ("flac", "ogg", "opus") and len(chapters) > _MAX_VORBIS_CHAPTERS:
        raise UserError(f"{fmt} files carry at most {_MAX_VORBIS_CHAPTERS} chapters")

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
    if fmt in ("m4a", "m4b"):
        ffmpeg = _find_ffmpeg(fmt)
    else:
        _check_soundfile(fmt)

    tmp: Path | None = None
    try:
        tmp = create_temp(path, folder)
        if fmt in ("m4a", "m4b"):
            _write_ffmpeg(ffmpeg, tmp, pcm, sample_rate, fmt, chapters, tags, progress)
        else:
            _write_soundfile(tmp, pcm, sample_rate, fmt, chapters, tags, progress)
            _tag(tmp, fmt, pcm.frames, sample_rate, chapters, tags)
        fsync_file(tmp)
        os.replace(tmp, path)
        tmp = None
        fsync_folder(folder)
    except OSError as e:
        raise write_fault(path, folder, e) from None
    except _mutagen_error() as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, OSError):
            raise write_fault(path, folder, cause) from None
        raise EnvironmentFault(
            f"cannot write the tags of {path}: {e}",
            "this is a bug in coach or mutagen; export to another format meanwhile",
        ) from e
    except _libsndfile_error() as e:
        raise EnvironmentFault(
            f"cannot encode {path} as {fmt}: {e}",
            "update soundfile (pip install -U soundfile), whose wheels bundle a libsndfile "
            "with MP3, Vorbis, Opus and FLAC, or export to wav",
        ) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# -- safe files ---------------------------------------------------------------------------


def _mutagen_error() -> type[Exception]:
    from mutagen import MutagenError

    return MutagenError


def _libsndfile_error() -> type[Exception]:
    import soundfile

    return soundfile.SoundFileError


# -- soundfile ----------------------------------------------------------------------------


def _check_soundfile(fmt: str) -> None:
    import soundfile as sf

    major, subtype = _SOUNDFILE[fmt]
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


def _write_soundfile(
    tmp: Path,
    pcm: Blocks,
    sample_rate: int,
    fmt: str,
    chapters: Sequence[Chapter],
    tags: Tags,
    progress: Callable[[int, int], None] | None,
) -> None:
    import soundfile as sf

    major, subtype = _SOUNDFILE[fmt]
    channels = pcm.channels
    rate = sample_rate
    resampler = None
    if fmt == "opus" and sample_rate not in _OPUS_RATES:
        rate = next((r for r in _OPUS_RATES if r >= sample_rate), _OPUS_RATES[-1])
        resampler = _Resampler(pcm, sample_rate, rate)
    total = pcm.frames

    with open(tmp, "r+b", buffering=0) as raw, _callback_errors(out := _CheckedFile(raw)):
        with _real_cause(out):
            snd = sf.SoundFile(out, "w", rate, channels, subtype, format=major)
        ok = False
        try:
            if fmt == "wav":
                # libsndfile writes these as a LIST/INFO chunk (INAM, IART, IPRD, ICMT).
                snd.title = tags.title
                snd.artist = tags.artist
                if tags.album:
                    snd.album = tags.album
                if tags.comment:
                    snd.comment = tags.comment
                snd.software = "coach"
            step = sample_rate * BLOCK_SECONDS
            if resampler is None:
                for start in range(0, total, step):
                    _write_block(snd, out, _encoder_samples(pcm.read(step), fmt))
                    if progress is not None:
                        progress(min(start + step, total), total)
            else:
                for done, block in resampler.blocks(rate * BLOCK_SECONDS):
                    _write_block(snd, out, _encoder_samples(block, fmt))
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
        if fmt == "wav":
            _append_wav_cues(raw, chapters, total, sample_rate)
            os.fsync(raw.fileno())


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


def _encoder_samples(block: np.ndarray, fmt: str) -> np.ndarray:
    """Float samples clipped to [-1, 1]; for the PCM formats, int16 (the only conversion)."""
    import numpy as np

    block = np.clip(np.nan_to_num(block.astype(np.float32, copy=False)), -1.0, 1.0)
    if fmt in _INT16:
        return np.rint(block * 32767.0).astype(np.int16)
    return block


class _Resampler:
    """Kaiser-windowed sinc resampling by a rational factor, a block at a time.

    Only Opus needs it (libopus takes 8, 12, 16, 24 or 48 kHz; speech engines give 22050 Hz).
    Each output block is computed from the stretch of input around it (`_input`), read from
    the blocks as it is needed and dropped once behind, so blocks need no other state. The
    kernel is centred, so nothing is delayed and chapter times stay right.
    """

    def __init__(self, pcm: Blocks, rate_in: int, rate_out: int, half_width: int = 32):
        import numpy as np

        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.source = pcm
        self.mono = pcm.channels == 1
        self._held = np.zeros((0, pcm.channels), np.float32)  # input from _held_at on
        self._held_at = 0
        scale = min(1.0, self.up / self.down)
        self.width = math.ceil(half_width / scale)
        cutoff = 0.45 * scale  # cycles per input sample, a little under Nyquist
        r = np.arange(self.up)
        self.base = (r * self.down) // self.up
        frac = (r * self.down % self.up) / self.up
        k = np.arange(-self.width + 1, self.width + 1)
        d = k[None, :] - frac[:, None]  # distance of each tap from the output instant
        window = np.i0(8.0 * np.sqrt(np.clip(1 - (d / self.width) ** 2, 0, None))) / np.i0(8.0)
        h = 2 * cutoff * np.sinc(2 * cutoff * d) * window
        self.h = (h / h.sum(axis=1, keepdims=True)).astype(np.float32)  # unit gain per phase
        self.total_out = -(-pcm.frames * self.up // self.down)

    def _input(self, lo: int, hi: int):
        """Input samples lo..hi (zero outside the input); `lo` never goes back."""
        import numpy as np

        n_in, channels = self.source.frames, self.source.channels
        have = self._held_at + len(self._held)
        want = min(hi, n_in)
        if want > have:
            more = self.source.read(want - have).astype(np.float32, copy=False)
            self._held = np.concatenate([self._held, more.reshape(len(more), channels)])
        drop = max(0, lo - self._held_at)
        self._held, self._held_at = self._held[drop:], self._held_at + drop
        seg = np.zeros((hi - lo, channels), np.float32)
        a, b = max(lo, 0), min(hi, self._held_at + len(self._held))
        if a < b:
            seg[a - lo : b - lo] = self._held[a - self._held_at : b - self._held_at]
        return seg

    def blocks(self, approx: int):
        """(input samples covered, output block) pairs, about `approx` output samples each."""
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        n_in = self.source.frames
        q_step = max(1, approx // self.up)
        taps = 2 * self.width
        for q0 in range(0, -(-self.total_out // self.up), q_step):
            nq = min(q_step, -(-self.total_out // self.up) - q0)
            lo = q0 * self.down - self.width + 1
            hi = (q0 + nq - 1) * self.down + int(self.base[-1]) + self.width + 1
            seg = self._input(lo, hi)
            windows = sliding_window_view(seg, taps, axis=0)  # (positions, channels, taps)
            out = np.empty((nq, self.up, seg.shape[1]), np.float32)
            for r in range(self.up):
                b0 = int(self.base[r])
                out[:, r] = windows[b0 : b0 + (nq - 1) * self.down + 1 : self.down] @ self.h[r]
            out = out.reshape(nq * self.up, seg.shape[1])
            end = min((q0 + nq) * self.up, self.total_out)
            out = out[: end - q0 * self.up]
            done = min(n_in, -(-end * self.down // self.up))
            yield done, out[:, 0] if self.mono else out


def _append_wav_cues(raw: io.FileIO, chapters: Sequence[Chapter], frames: int, rate: int):
    """Add `cue ` and LIST/adtl (labl + ltxt per cue point) chunks and fix the RIFF size."""
    if not chapters:
        return
    raw.seek(0)
    if raw.read(4) != b"RIFF":
        raise ValueError("libsndfile wrote something other than a RIFF file")
    points, labels, regions = [], [], []
    for i, ch in enumerate(chapters, start=1):
        start = _sample_at(ch.start_ms, rate, frames)
        length = max(0, _sample_at(ch.end_ms, rate, frames) - start)
        # id, position, fccChunk, chunk start, block start, sample offset
        points.append(struct.pack("<II4sIII", i, start, b"data", 0, 0, start))
        labels.append(_riff_chunk(b"labl", struct.pack("<I", i) + ch.title.encode() + b"\0"))
        # a region: id, length in samples, purpose, country, language, dialect, code page
        regions.append(_riff_chunk(b"ltxt", struct.pack("<II4s4H", i, length, b"rgn ", 0, 0, 0, 0)))
    cue = _riff_chunk(b"cue ", struct.pack("<I", len(points)) + b"".join(points))
    # All labels before the regions: ffmpeg stops reading adtl at the first chunk not `labl`.
    adtl = [b"adtl", *labels, *regions]
    end = raw.seek(0, os.SEEK_END)
    pad = b"\0" if end % 2 else b""  # every chunk starts on an even offset
    _write_all(raw, pad + cue + _riff_chunk(b"LIST", b"".join(adtl)))
    size = raw.seek(0, os.SEEK_END) - 8
    raw.seek(4)
    _write_all(raw, struct.pack("<I", size))


def _riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _write_all(raw: io.FileIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[raw.write(view) :]


def _sample_at(ms: int, rate: int, frames: int) -> int:
    return max(0, min(frames, round(ms * rate / 1000)))


# -- tags and chapters by mutagen ---------------------------------------------------------


def _tag(tmp: Path, fmt: str, frames: int, rate: int, chapters: Sequence[Chapter], tags: Tags):
    duration_ms = round(frames * 1000 / rate)
    if fmt == "mp3":
        _tag_id3(tmp, chapters, tags, duration_ms)
    elif fmt in ("flac", "ogg", "opus"):
        _tag_vorbis(tmp, fmt, chapters, tags, duration_ms)
    if fmt in ("ogg", "opus"):
        _fix_ogg_serial(tmp, tags, frames)


def _fix_ogg_serial(tmp: Path, tags: Tags, frames: int) -> None:
    """Give the Ogg stream a serial number made from what it holds, in place.

    libsndfile picks a random one, so the same export gave different bytes each time. The
    number only tells streams apart within one file; made from the tags and the length, it
    still differs between routines and settings. Each page keeps its size: only the serial
    and the page's checksum change.
    """
    import hashlib

    from mutagen.ogg import OggPage

    seed = f"{tags.title}\n{tags.album}\n{tags.comment}\n{frames}".encode()
    serial = int.from_bytes(hashlib.sha256(seed).digest()[:4], "little")
    with open(tmp, "r+b") as f:
        while True:
            offset = f.tell()
            try:
                page = OggPage(f)
            except EOFError:
                break
            end = f.tell()
            page.serial = serial
            data = page.write()
            if len(data) != end - offset:  # never seen: mutagen re-packed the page
                raise OSError(f"cannot rewrite the Ogg page at byte {offset} in place")
            f.seek(offset)
            f.write(data)
            f.seek(end)


def _tag_id3(tmp: Path, chapters: Sequence[Chapter], tags: Tags, duration_ms: int) -> None:
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TIT2, TPE1, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[tags.artist]))
    if tags.album:
        id3.add(TALB(encoding=3, text=[tags.album]))
    if tags.comment:
        id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.comment]))
    if chapters:
        ids = [f"chp{i}" for i in range(len(chapters))]
        id3.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=3, text=[tags.title])],
            )
        )
        for element_id, ch in zip(ids, chapters):
            id3.add(
                CHAP(
                    element_id=element_id,
                    start_time=min(ch.start_ms, duration_ms),
                    end_time=min(ch.end_ms, duration_ms),
                    sub_frames=[TIT2(encoding=3, text=[ch.title])],
                )
            )
    id3.save(tmp, v2_version=4)
    if len(chapters) > 1:
        _order_chap_frames(tmp)


def _order_chap_frames(path: Path) -> None:
    """Put the CHAP frames of a saved ID3v2.4 tag in order of start time, in place.

    mutagen writes frames sorted by size (quodlibet/mutagen#506), and ffmpeg lists ID3
    chapters in tag order, so chapters would come out ordered by the length of their titles.
    """
    with open(path, "r+b") as f:
        head = f.read(10)
        if head[:3] != b"ID3" or head[3] != 4:
            raise ValueError("mutagen wrote something other than an ID3v2.4 tag")
        body = f.read(_syncsafe(head[6:10]))
        frames, pos = [], 0
        while pos + 10 <= len(body) and body[pos] != 0:  # a zero byte starts the padding
            end = pos + 10 + _syncsafe(body[pos + 4 : pos + 8])
            frames.append(body[pos:end])
            pos = end

        def start_ms(frame: bytes) -> int:  # after the NUL-terminated element id
            at = frame.index(b"\0", 10) + 1
            return struct.unpack(">I", frame[at : at + 4])[0]

        chaps = iter(sorted((fr for fr in frames if fr[:4] == b"CHAP"), key=start_ms))
        ordered = [next(chaps) if fr[:4] == b"CHAP" else fr for fr in frames]
        f.seek(10)
        _write_all(f, b"".join(ordered))


def _syncsafe(four: bytes) -> int:
    return (four[0] << 21) | (four[1] << 14) | (four[2] << 7) | four[3]


def _tag_vorbis(
    tmp: Path, fmt: str, chapters: Sequence[Chapter], tags: Tags, duration_ms: int
) -> None:
    if fmt == "flac":
        from mutagen.flac import FLAC as Opener
    elif fmt == "ogg":
        from mutagen.oggvorbis import OggVorbis as Opener
    else:
        from mutagen.oggopus import OggOpus as Opener

    audio = Opener(tmp)
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    comments["TITLE"] = tags.title
    comments["ARTIST"] = tags.artist
    if tags.album:
        comments["ALBUM"] = tags.album
    if tags.comment:
        comments["COMMENT"] = tags.comment
    for i, ch in enumerate(chapters, start=1):
        comments[f"CHAPTER{i:03d}"] = _chapter_stamp(min(ch.start_ms, duration_ms))
        comments[f"CHAPTER{i:03d}NAME"] = ch.title
    audio.save()


def _chapter_stamp(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


# -- ffmpeg (m4a, m4b) --------------------------------------------------------------------


def _find_ffmpeg(fmt: str) -> str:
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


def _write_ffmpeg(
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
                        block = _encoder_samples(pcm.read(step), fmt)
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
