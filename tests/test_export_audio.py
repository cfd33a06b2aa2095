"""Audio file sinks, read back by tools coach did not write: ffprobe, ffmpeg, soxi, libsndfile.

Each format gets 3 s of a sine, a second of silence and another sine, with three chapters,
and is checked for duration, rate, channels, chapters and tags as players see them. The
safety tests use real failures where the machine allows it (a 64 KiB tmpfs for a full disk, a
read-only mount, a folder without write permission) and check that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal as signal_module
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coach.errors import EnvironmentFault, UsageError, UserError
from coach.export import encode
from coach.export.encode import BLOCK_SECONDS
from coach.export.formats import AUDIO_FORMATS, format_for
from coach.export.tags import Tags
from coach.export.write import write_audio
from coach.script.cues import Chapter

ROOT = Path(__file__).resolve().parent.parent
SR = 22050
CHAPTERS = (
    Chapter("Warm-up", 0, 1000, "intro"),
    Chapter("Seated twist — left", 1000, 2000, "exercise"),  # not ASCII: UTF-8 all the way
    Chapter("Rest", 2000, 3000, "rest"),
)
TAGS = Tags("Upper back release", album="coach routines", comment="exported; by=tests #1")
# The longest frame each lossy codec may add or round to, in seconds, at 22050 Hz
# (Opus always decodes at 48 kHz).
FRAME_S = {
    "wav": 0.0,
    "flac": 0.0,
    "mp3": 1152 / SR,
    "ogg": 2048 / SR,
    "opus": 960 / 48000,
    "m4a": 1024 / SR,
    "m4b": 1024 / SR,
}

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
    reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg)",
)


def signal(seconds: float = 3.0, channels: int = 1) -> np.ndarray:
    """A 440 Hz sine, one second of silence from 1 s to 2 s, then a 660 Hz sine."""
    t = np.arange(round(seconds * SR)) / SR
    mono = np.where(t < 1.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t))
    mono[(t >= 1.0) & (t < 2.0)] = 0.0
    mono = mono.astype(np.float32)
    return mono if channels == 1 else np.stack([mono, 0.5 * mono], axis=1)


def ffprobe(path: Path) -> dict:
    cmd = "ffprobe -v error -print_format json -show_format -show_streams -show_chapters"
    out = subprocess.run(
        [*cmd.split(), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def decode(path: Path, channels: int) -> np.ndarray:
    """The samples as ffmpeg decodes them, at the file's own rate."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.float32).reshape(-1, channels)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write(path: Path, fmt: str | None = None, pcm: np.ndarray | None = None, **kw) -> Path:
    pcm = signal() if pcm is None else pcm
    write_audio(path, pcm, SR, fmt or format_for(path, None), CHAPTERS, TAGS, **kw)
    return path


# -- every format, read back --------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_format_reads_back_with_chapters_and_tags(tmp_path, fmt, channels):
    path = write(tmp_path / f"routine.{fmt}", pcm=signal(channels=channels))
    assert leftovers(tmp_path) == [path.name]
    info = ffprobe(path)
    (audio,) = [s for s in info["streams"] if s["codec_type"] == "audio"]

    # Opus decoders always run at 48 kHz (22050 Hz is resampled to 24 kHz for libopus).
    assert int(audio["sample_rate"]) == (48000 if fmt == "opus" else SR)
    assert audio["channels"] == channels

    # For mp3 ffprobe's duration counts the encoder delay that start_time then skips.
    duration = float(info["format"]["duration"]) - float(info["format"].get("start_time", 0))
    assert abs(duration - 3.0) <= FRAME_S[fmt] + 1e-6, duration

    # What a player hears: loud, silent, loud, in the right places.
    pcm = decode(path, channels)
    rate = int(audio["sample_rate"])
    assert abs(len(pcm) / rate - 3.0) <= FRAME_S[fmt] + 1e-6, len(pcm)
    rms = [
        float(np.sqrt(np.mean(pcm[round(a * rate) : round(b * rate), 0] ** 2)))
        for a, b in ((0.1, 0.9), (1.1, 1.9), (2.1, 2.9))
    ]
    assert rms[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert rms[1] < 0.01
    assert rms[2] == pytest.approx(0.5 / np.sqrt(2), rel=0.1)

    # Chapters: ID3 CHAP (mp3), CHAPTERxxx comments (flac, ogg, opus), cue + labl (wav) and
    # the QuickTime chapter track (m4a, m4b) all come out of ffprobe as chapters.
    chapters = info["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [c.title for c in CHAPTERS]
    assert [round(float(c["start_time"]) * 1000) for c in chapters] == [0, 1000, 2000]
    # Ends: exact where the format stores them (mp3, m4a); else the next start or the end.
    ends = [float(c["end_time"]) for c in chapters]
    assert ends[:2] == [1.0, 2.0]
    assert abs(ends[2] - 3.0) <= FRAME_S[fmt] + 1e-3

    # Tags: Ogg keeps them on the stream, the others on the file.
    tags = {
        k.lower(): v for k, v in {**info["format"].get("tags", {}), **audio.get("tags", {})}.items()
    }
    assert tags["title"] == TAGS.title
    assert tags["artist"] == "coach"
    assert tags["album"] == TAGS.album
    assert tags["comment"] == TAGS.comment


@needs_ffmpeg
def test_mp3_id3_chapter_frames(tmp_path):
    from mutagen.id3 import ID3, CTOCFlags

    id3 = ID3(write(tmp_path / "r.mp3"))
    assert id3.version[:2] == (2, 4)
    (toc,) = id3.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert toc.child_element_ids == ["chp0", "chp1", "chp2"]
    chaps = [id3[f"CHAP:chp{i}"] for i in range(3)]
    assert [(c.start_time, c.end_time) for c in chaps] == [(0, 1000), (1000, 2000), (2000, 3000)]
    assert [c.sub_frames["TIT2"].text[0] for c in chaps] == [c.title for c in CHAPTERS]


@needs_ffmpeg
def test_mp3_chapters_stay_in_time_order(tmp_path):
    # mutagen writes frames smallest first; titles getting shorter would come out reversed.
    many = [Chapter("x" * (30 - i), i * 250, (i + 1) * 250, "exercise") for i in range(12)]
    path = tmp_path / "many.mp3"
    write_audio(path, signal(), SR, "mp3", many, TAGS)
    chapters = ffprobe(path)["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [c.title for c in many]
    assert [int(c["start"]) for c in chapters] == [c.start_ms for c in many]


@pytest.mark.parametrize("fmt", ["flac", "ogg", "opus"])
def test_vorbis_chapter_comments(tmp_path, fmt):
    import mutagen

    comments = mutagen.File(write(tmp_path / f"r.{fmt}")).tags
    assert comments["CHAPTER001"] == ["00:00:00.000"]
    assert comments["CHAPTER002"] == ["00:00:01.000"]
    assert comments["CHAPTER003NAME"] == ["Rest"]


def _libsndfile_cues(path: Path) -> list[tuple[int, int, str]]:
    """(id, sample offset, label) per cue point, as libsndfile's own WAV parser reads them.

    soundfile does not wrap SFC_GET_CUE, so this calls it through soundfile's cffi handle;
    the layout is SF_CUES from sndfile.h (a count, then 100 SF_CUE_POINTs of 280 bytes).
    """
    from soundfile import _ffi, _snd

    sfc_get_cue = 0x10CE
    size = 4 + 100 * 280
    buf = _ffi.new("char[]", size)
    with sf.SoundFile(path) as f:
        assert _snd.sf_command(f._file, sfc_get_cue, buf, size) == 1
    raw = bytes(_ffi.buffer(buf))
    cues = []
    for i in range(struct.unpack_from("<I", raw)[0]):
        at = 4 + i * 280
        cue_id, position, chunk, _, _, offset = struct.unpack_from("<iI4siiI", raw, at)
        assert chunk == b"data" and position == offset
        cues.append((cue_id, offset, raw[at + 24 : at + 280].split(b"\0")[0].decode()))
    return cues


def test_wav_cue_points_seen_by_libsndfile_soxi_and_ffprobe(tmp_path):
    path = write(tmp_path / "r.wav", pcm=signal(channels=2))
    assert _libsndfile_cues(path) == [
        (1, 0, "Warm-up"),
        (2, 22050, "Seated twist — left"),
        (3, 44100, "Rest"),
    ]
    info = sf.info(path)
    assert (info.frames, info.samplerate, info.channels) == (3 * SR, SR, 2)
    # The RIFF size covers the appended chunks, or readers would stop before them.
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    if shutil.which("soxi"):
        assert subprocess.run(
            ["soxi", "-s", str(path)], capture_output=True, text=True, check=True
        ).stdout.strip() == str(3 * SR)
    if shutil.which("ffprobe"):
        chapters = ffprobe(path)["chapters"]
        assert [int(c["start"]) for c in chapters] == [0, 22050, 44100]  # time base 1/22050


def _as_libsndfile_wrote_it(path: Path, pcm: np.ndarray, tags: Tags, chapters) -> bytes:
    """The wav file libsndfile writes (as coach did until it wrote wav itself), with its
    software tag, "coach (libsndfile-x.y.z)", made coach's own "coach"."""
    from coach.export.encode import encoder_samples
    from coach.export.tags import append_wav_cues

    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with sf.SoundFile(path, "w", SR, channels, "PCM_16", format="WAV") as snd:
        snd.title = tags.title
        snd.artist = tags.artist
        if tags.album:
            snd.album = tags.album
        if tags.comment:
            snd.comment = tags.comment
        snd.software = "coach"
        snd.write(encoder_samples(pcm, "wav"))
    with open(path, "r+b") as raw:
        append_wav_cues(raw, chapters, len(pcm), SR)
    data = path.read_bytes()
    at = data.index(b"ISFT")
    size = struct.unpack_from("<I", data, at + 4)[0]
    assert data[at + 8 : at + 8 + size].startswith(b"coach (libsndfile-")
    ours = b"ISFT" + struct.pack("<I", 6) + b"coach\0"
    change = len(ours) - (8 + size)
    data = data[:at] + ours + data[at + 8 + size :]
    for offset in (4, data.index(b"LIST") + 4):  # the RIFF and LIST sizes
        data = (
            data[:offset]
            + struct.pack("<I", struct.unpack_from("<I", data, offset)[0] + change)
            + data[offset + 4 :]
        )
    return data


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    "tags",
    [
        TAGS,
        Tags("Odd", album="Even", comment=None),  # texts of odd and even lengths, no comment
        Tags("Nacken — sanft, über 5 Minuten", comment="coach; voice piper:de_DE-thorsten"),
        Tags("x" * 200, album="y" * 199, comment="z" * 1000),
    ],
)
def test_wav_has_the_bytes_libsndfile_wrote_but_for_the_software_tag(tmp_path, tags, channels):
    # coach writes wav itself (coach.export.encode.write_wav): the same header, tags, samples
    # and chapters as libsndfile wrote, byte for byte, so players see what they saw.
    rng = np.random.default_rng(channels)
    pcm = np.clip(rng.standard_normal((3 * SR, 2)) * 0.4, -1.2, 1.2).astype(np.float32)
    pcm = pcm[:, 0] if channels == 1 else pcm
    ours = tmp_path / "coach.wav"
    write_audio(ours, pcm, SR, "wav", CHAPTERS, tags)
    assert ours.read_bytes() == _as_libsndfile_wrote_it(tmp_path / "lsf.wav", pcm, tags, CHAPTERS)


@needs_ffmpeg
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_samples_read_back_by_soundfile_and_ffmpeg_are_the_int16_samples(tmp_path, channels):
    from coach.export.encode import encoder_samples

    pcm = np.random.default_rng(5).uniform(-1, 1, (2 * BLOCK_SECONDS * SR + 123, 2))
    pcm = (pcm[:, 0] if channels == 1 else pcm).astype(np.float32)
    path = write(tmp_path / "r.wav", pcm=pcm)
    expected = encoder_samples(pcm, "wav").reshape(len(pcm), channels)
    back, rate = sf.read(path, dtype="int16", always_2d=True)
    assert rate == SR and np.array_equal(back, expected)
    assert np.array_equal(decode(path, channels) * 32768, expected)
    with sf.SoundFile(path) as f:
        assert (f.title, f.album, f.comment) == (TAGS.title, TAGS.album, TAGS.comment)


def test_wav_leaves_an_empty_tag_out(tmp_path):
    # libsndfile refused an empty text ("bad string"): a cue script with an empty title could
    # not be exported to wav. Now the file just has no title.
    write_audio(tmp_path / "e.wav", signal(1.0), SR, "wav", (), Tags("", album=""))
    with sf.SoundFile(tmp_path / "e.wav") as f:
        assert (f.title, f.album, f.artist, f.software, f.frames) == ("", "", "coach", "coach", SR)


def test_wav_from_a_source_shorter_than_it_said_says_what_it_holds(tmp_path):
    from coach.export.encode import Blocks

    pcm = signal(2.0)
    source = Blocks.of(pcm)
    short = Blocks(len(pcm) + SR, 1, source.read)  # promises a second more than it has
    write_audio(tmp_path / "s.wav", short, SR, "wav", CHAPTERS, TAGS)
    back, _ = sf.read(tmp_path / "s.wav", dtype="float32")
    assert len(back) == len(pcm) and np.abs(back - pcm).max() <= 1 / 32767
    data = (tmp_path / "s.wav").read_bytes()
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8


def test_int16_conversion_clips_and_rounds(tmp_path):
    pcm = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, np.nan], np.float64)
    write_audio(tmp_path / "c.wav", pcm, SR, "wav", (), TAGS)
    back, _ = sf.read(tmp_path / "c.wav", dtype="int16")
    assert back.tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32767, 0]


def test_progress_reports_every_block_up_to_the_total(tmp_path):
    calls = []
    pcm = signal(seconds=2.5 * BLOCK_SECONDS)
    write_audio(
        tmp_path / "p.flac",
        pcm,
        SR,
        "flac",
        CHAPTERS,
        TAGS,
        progress=lambda done, total: calls.append((done, total)),
    )
    step = BLOCK_SECONDS * SR
    assert calls == [(step, len(pcm)), (2 * step, len(pcm)), (len(pcm), len(pcm))]


# -- format names -------------------------------------------------------------------------


def test_format_for():
    assert format_for(Path("a/b.MP3"), None) == "mp3"
    assert format_for("x.oga", None) == "ogg"
    assert format_for("x.m4b", None) == "m4b"
    assert format_for("x.audio", "FLAC") == "flac"
    assert format_for("x.mp3", "ogg") == "ogg"  # --format wins over the extension
    with pytest.raises(UsageError) as e:
        format_for("x.wav", "aiff")
    assert str(e.value) == (
        "--format: unknown audio format 'aiff'; known: wav, flac, mp3, ogg, opus, m4a, m4b"
    )
    with pytest.raises(
        UserError,
        match=r"x\.aiff: cannot tell the audio format from the "
        r"extension '\.aiff'.*--format \(wav, flac",
    ):
        format_for("x.aiff", None)
    with pytest.raises(UserError, match="from no extension"):
        format_for("routine", None)


def test_empty_audio_is_refused(tmp_path):
    with pytest.raises(UserError, match="no audio to write"):
        write_audio(tmp_path / "x.flac", np.zeros(0, np.float32), SR, "flac", (), TAGS)
    assert leftovers(tmp_path) == []


def test_mp3_refuses_a_rate_it_cannot_hold(tmp_path):
    with pytest.raises(UserError, match="mp3 cannot hold 96000 Hz"):
        write_audio(tmp_path / "x.mp3", signal(), 96000, "mp3", (), TAGS)
    assert leftovers(tmp_path) == []


# -- safety -------------------------------------------------------------------------------


def test_existing_file_is_kept_without_force(tmp_path):
    path = tmp_path / "r.ogg"
    path.write_bytes(b"precious")
    with pytest.raises(UserError, match=r"r\.ogg already exists; use --force to overwrite it"):
        write(path)
    assert path.read_bytes() == b"precious"
    assert leftovers(tmp_path) == ["r.ogg"]
    write(path, force=True)
    assert sf.info(path).frames == 3 * SR
    assert leftovers(tmp_path) == ["r.ogg"]


def _holders(inode: tuple[int, int]) -> list[int]:
    """The processes that have the file `inode` (device, inode) open."""
    found = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            st = fd.stat()
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        if (st.st_dev, st.st_ino) == inode:
            found.append(int(fd.parent.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
@pytest.mark.parametrize("with_cat", [True, False], ids=["helper", "no cat on PATH"])
def test_a_large_file_replaced_is_let_go_by_a_helper_then_freed(tmp_path, monkeypatch, with_cat):
    """A rename over a big file frees its blocks within the rename (80-110 ms for a 30-minute
    wav): a helper holds the old file across the rename, then lets go; without `cat` it is a
    plain rename. Either way the new file is whole and nothing holds the old one after."""
    from coach.export import write as write_module

    path = tmp_path / "r.wav"
    path.write_bytes(b"\1" * write_module.HELD_BYTES)
    old = path.stat()
    inode = (old.st_dev, old.st_ino)
    if not with_cat:
        monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    at_rename: list[list[int]] = []
    rename = os.replace

    def noted(a, b):
        at_rename.append(_holders(inode))
        rename(a, b)

    monkeypatch.setattr(write_module.os, "replace", noted)
    write(path, force=True)
    assert sf.info(path).frames == 3 * SR
    assert leftovers(tmp_path) == ["r.wav"]
    [holders] = at_rename
    if with_cat:
        assert holders and os.getpid() not in holders  # another process, not coach
    else:
        assert holders == []
    deadline = time.monotonic() + 10
    while _holders(inode) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _holders(inode) == [], "the replaced file is still held open"


def test_a_small_file_replaced_needs_no_helper(tmp_path, monkeypatch):
    import subprocess as subprocess_module

    path = tmp_path / "r.wav"
    path.write_bytes(b"small")
    started = []
    monkeypatch.setattr(subprocess_module, "Popen", lambda *a, **k: started.append(a))
    write(path, force=True)
    assert sf.info(path).frames == 3 * SR and started == []


def test_folder_as_target_is_refused(tmp_path):
    (tmp_path / "out.wav").mkdir()
    with pytest.raises(UserError, match="it is a folder"):
        write(tmp_path / "out.wav", force=True)


def test_missing_folder(tmp_path):
    with pytest.raises(EnvironmentFault) as e:
        write(tmp_path / "nope" / "r.mp3")
    assert "the folder" in str(e.value) and "does not exist" in str(e.value)
    assert e.value.hint.startswith(f"create it first (mkdir -p {tmp_path / 'nope'})")


def test_m4a_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EnvironmentFault, match="m4b export needs ffmpeg") as e:
        write(tmp_path / "r.m4b")
    assert "apt-get install ffmpeg" in e.value.hint
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "opus"])
def test_failed_block_write_leaves_nothing(tmp_path, monkeypatch, fmt):
    # A fake of one layer: the second block write fails as a full disk would (wav's blocks
    # are written by coach itself, the others' by libsndfile through soundfile).
    owner, name = (encode, "_write_pcm") if fmt == "wav" else (sf.SoundFile, "write")
    real_write = getattr(owner, name)
    calls = []

    def failing_write(*args):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(*args)

    monkeypatch.setattr(owner, name, failing_write)
    with pytest.raises(EnvironmentFault, match="the disk is full") as e:
        write(tmp_path / f"r.{fmt}", pcm=signal(seconds=3 * BLOCK_SECONDS))
    assert "free some space" in e.value.hint
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_interrupt_from_progress_leaves_nothing(tmp_path, fmt):
    if fmt in ("m4a", "m4b") and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    existing = tmp_path / f"r.{fmt}"
    existing.write_bytes(b"old export")

    def interrupt(done, total):
        if done >= 2 * BLOCK_SECONDS * SR:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(existing, pcm=signal(seconds=4 * BLOCK_SECONDS), force=True, progress=interrupt)
    assert leftovers(tmp_path) == [existing.name]
    assert existing.read_bytes() == b"old export"


@pytest.fixture(scope="module")
def ten_minutes_of_noise() -> np.ndarray:
    return np.random.default_rng(3).uniform(-0.5, 0.5, 600 * SR).astype(np.float32)


@pytest.mark.skipif(not hasattr(signal_module, "setitimer"), reason="needs POSIX timers")
@pytest.mark.parametrize("delay_s", [0.05, 0.2, 0.4])
@pytest.mark.parametrize("fmt", ["mp3", "ogg", "opus"])
def test_interrupt_at_any_moment_leaves_nothing(tmp_path, ten_minutes_of_noise, fmt, delay_s):
    # A real asynchronous interrupt, as Ctrl-C delivers it (a signal handler raising
    # KeyboardInterrupt): it may land in our loop, in the encoder, or inside soundfile's write
    # callback, where cffi would only print it. Ten minutes take seconds to encode.
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal_module.signal(signal_module.SIGALRM, interrupt)
    try:
        signal_module.setitimer(signal_module.ITIMER_REAL, delay_s)
        with pytest.raises(KeyboardInterrupt):
            write(tmp_path / f"r.{fmt}", pcm=ten_minutes_of_noise)
    finally:
        signal_module.setitimer(signal_module.ITIMER_REAL, 0)
        signal_module.signal(signal_module.SIGALRM, previous)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_full_disk_leaves_nothing(tiny_disk, fmt):
    if fmt in ("m4a", "m4b") and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    # Noise does not compress: 20 s is far more than 64 KiB in every format. Ogg Vorbis and
    # MP3 are the interesting ones: libsndfile itself ignores ENOSPC for them.
    noise = np.random.default_rng(7).uniform(-0.5, 0.5, 20 * SR).astype(np.float32)
    with pytest.raises(EnvironmentFault) as e:
        write(tiny_disk / f"r.{fmt}", pcm=noise)
    assert str(e.value) == (
        f"cannot write {tiny_disk / f'r.{fmt}'}: the disk is full (No space left on device)"
    )
    assert e.value.hint == (
        f"free some space on the disk that holds {tiny_disk}, or export to another folder"
    )
    assert leftovers(tiny_disk) == []


def test_read_only_file_system(read_only_disk):
    with pytest.raises(EnvironmentFault, match="is on a read-only file system") as e:
        write(read_only_disk / "r.flac")
    assert e.value.hint == "export to a folder you can write to"


def test_folder_without_write_permission(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    target = folder / "r.mp3"
    try:
        if os.name == "posix" and os.geteuid() == 0:
            # Root writes anywhere; without CAP_DAC_OVERRIDE it meets the permission bits.
            if shutil.which("setpriv") is None:
                pytest.skip("running as root and setpriv (util-linux) is not installed")
            lines = _write_without_dac_override(target)
        else:
            with pytest.raises(EnvironmentFault) as e:
                write(target)
            lines = e.value.lines()
        assert lines == [
            f"error: cannot write {target}: permission denied in the folder {folder}",
            f"  fix: export to a folder you can write to, or make it writable (chmod u+w {folder})",
        ]
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o755)


def _write_without_dac_override(target: Path) -> list[str]:
    code = textwrap.dedent(f"""
        import json, numpy as np
        from pathlib import Path
        from coach.errors import EnvironmentFault
        from coach.export.tags import Tags
        from coach.export.write import write_audio
        try:
            write_audio(Path({str(target)!r}), np.zeros(22050, np.float32), 22050, "mp3", (),
                        Tags("t"))
        except EnvironmentFault as e:
            print(json.dumps(e.lines()))
    """)
    drop = "-dac_override,-dac_read_search,-fowner"
    done = subprocess.run(
        ["setpriv", "--bounding-set", drop, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0 and "setpriv" in done.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- long exports -------------------------------------------------------------------------


@pytest.mark.slow  # about 8 s here; it runs by default
def test_thirty_minutes_to_ogg_vorbis_in_blocks(tmp_path):
    # One soundfile.write of this buffer segfaulted the interpreter; block writes must not.
    n = 30 * 60 * SR
    pcm = np.tile(signal(), n // (3 * SR))
    calls = []
    started = time.perf_counter()
    write_audio(
        tmp_path / "long.ogg",
        pcm,
        SR,
        "ogg",
        CHAPTERS,
        TAGS,
        progress=lambda done, total: calls.append(done),
    )
    elapsed = time.perf_counter() - started
    assert calls == sorted(calls) and calls[-1] == n
    assert len(calls) == -(-n // (BLOCK_SECONDS * SR))
    info = sf.info(tmp_path / "long.ogg")
    assert (info.frames, info.samplerate) == (n, SR)
    assert elapsed < 120, f"30 min of Ogg Vorbis took {elapsed:.0f} s"


def test_opus_resampling_reads_its_input_block_by_block_with_the_same_result():
    # The resampler reads the session as it goes (a two-hour export is never held whole):
    # output blocks of any size, over input read piece by piece, equal one pass over it all.
    from coach.export.encode import Blocks, _Resampler

    pcm = np.tile(signal(), 2)
    reads = []

    def blocks():
        source = Blocks.of(pcm)
        inner = source.read
        source.read = lambda n: reads.append(n) or inner(n)
        return source

    whole = np.concatenate([b for _, b in _Resampler(blocks(), SR, 24000).blocks(10**9)])
    reads.clear()
    pieces = list(_Resampler(blocks(), SR, 24000).blocks(4000))
    assert len(pieces) > 20 and max(reads) < 5000
    assert [done for done, _ in pieces][-1] == len(pcm)
    np.testing.assert_allclose(np.concatenate([b for _, b in pieces]), whole, atol=1e-6)
    assert len(whole) == -(-len(pcm) * 24000 // SR)
