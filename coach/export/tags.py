"""Tags and chapters, one kind per container: a RIFF `cue ` chunk and LIST/adtl for wav, ID3v2.4
CTOC/CHAP for mp3, Vorbis comments for flac, ogg and opus (and the Ogg stream's serial number,
made from what the file holds so the same export gives the same bytes).

The RIFF INFO tags of wav go in its header (`wav_info`, written by coach.export.encode); m4a and
m4b carry theirs in ffmpeg's metadata file (coach.export.ffmpeg).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coach.export.formats import FORMATS

if TYPE_CHECKING:
    from coach.script.cues import Chapter


@dataclass(frozen=True, slots=True)
class Tags:
    """What a player shows for an exported file."""

    title: str
    artist: str = "coach"
    album: str | None = None
    comment: str | None = None
    # The language of what is said: the routine's tag (de, en-GB) for Vorbis comments, and
    # its three-letter code (deu) for ID3 and MP4, where coach knows it.
    language: str | None = None
    language3: str | None = None


def mutagen_error() -> type[Exception]:
    from mutagen import MutagenError

    return MutagenError


# -- wav: INFO tags, cue points and labels -------------------------------------------------

WAV_SOFTWARE = "coach"  # the ISFT tag


def wav_info(tags: Tags) -> bytes:
    """The LIST/INFO chunk of a wav file's header: INAM (title), IART (artist), IPRD (album),
    ICMT (comment) and ISFT (software), laid out as libsndfile laid them out when it wrote
    coach's wav files: each text UTF-8, ended by a NUL (and cut at a NUL within, as C reads
    it), padded to an even size that its size field counts. An empty text is left out."""
    entries = []
    for fourcc, text in (
        (b"INAM", tags.title),
        (b"IART", tags.artist),
        (b"IPRD", tags.album),
        (b"ICMT", tags.comment),
        (b"ISFT", WAV_SOFTWARE),
    ):
        data = (text or "").encode("utf-8").split(b"\0", 1)[0]
        if data:
            data += b"\0" if len(data) % 2 else b"\0\0"
            entries.append(fourcc + struct.pack("<I", len(data)) + data)
    return _riff_chunk(b"LIST", b"INFO" + b"".join(entries))


def append_wav_cues(raw: io.FileIO, chapters: Sequence[Chapter], frames: int, rate: int) -> None:
    """Add `cue ` and LIST/adtl (labl + ltxt per cue point) chunks and fix the RIFF size."""
    if not chapters:
        return
    raw.seek(0)
    if raw.read(4) != b"RIFF":
        raise ValueError("the wav file written has no RIFF header")
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


def _write_all(raw: io.RawIOBase | io.BufferedIOBase, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[raw.write(view) :]


def _sample_at(ms: int, rate: int, frames: int) -> int:
    return max(0, min(frames, round(ms * rate / 1000)))


# -- mp3, flac, ogg, opus: tags and chapters by mutagen ----------------------------------


def tag_file(
    tmp: Path, fmt: str, frames: int, rate: int, chapters: Sequence[Chapter], tags: Tags
) -> None:
    """Write the tags and chapters of a file libsndfile has written (wav has its own, above)."""
    kind = FORMATS[fmt]
    duration_ms = round(frames * 1000 / rate)
    if kind.tags == "id3":
        _tag_id3(tmp, chapters, tags, duration_ms)
    elif kind.tags == "vorbis":
        _tag_vorbis(tmp, fmt, chapters, tags, duration_ms)
    if kind.soundfile is not None and kind.soundfile[0] == "OGG":
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
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TIT2, TLAN, TPE1, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[tags.artist]))
    if tags.album:
        id3.add(TALB(encoding=3, text=[tags.album]))
    if tags.comment:
        id3.add(COMM(encoding=3, lang=tags.language3 or "eng", desc="", text=[tags.comment]))
    if tags.language3:
        id3.add(TLAN(encoding=3, text=[tags.language3]))
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
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    opener = {"flac": FLAC, "ogg": OggVorbis}.get(fmt, OggOpus)
    audio = opener(tmp)
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    assert comments is not None  # added just above
    comments["TITLE"] = tags.title
    comments["ARTIST"] = tags.artist
    if tags.album:
        comments["ALBUM"] = tags.album
    if tags.comment:
        comments["COMMENT"] = tags.comment
    if tags.language:
        comments["LANGUAGE"] = tags.language
    for i, ch in enumerate(chapters, start=1):
        comments[f"CHAPTER{i:03d}"] = _chapter_stamp(min(ch.start_ms, duration_ms))
        comments[f"CHAPTER{i:03d}NAME"] = ch.title
    audio.save()


def _chapter_stamp(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
