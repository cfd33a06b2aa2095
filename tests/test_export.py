"""`coach export` end to end: the real voice, real files, read back by ffprobe and ffmpeg."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import soundfile

from coach.pipeline import load_spoken
from coach.sound.render import samples_at

ROUTINE = """\
title: Export test
safety: Stop if anything hurts.
steps:
  - exercise: Seated twist
    say: Sit tall and twist to the right.
    hold: 8s
    sides: both
  - rest: 5s
  - breathe: 4-0-4
    cycles: 2
"""


@pytest.fixture(scope="module")
def routine(tmp_path_factory):
    path = tmp_path_factory.mktemp("routine") / "export-test.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    return path


def ffprobe(path, *args):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_wav_export_lasts_exactly_the_cue_script_and_matches_show(routine, tmp_path, run_coach):
    out = tmp_path / "a.wav"
    proc = run_coach("export", routine, "-o", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    script = load_spoken(str(routine)).script
    info = soundfile.info(str(out))
    assert info.frames == samples_at(script.duration_ms, info.samplerate)
    fmt = ffprobe(out, "-show_format")["format"]
    assert float(fmt["duration"]) == pytest.approx(script.duration_ms / 1000, abs=0.001)
    total = run_coach("show", routine).stdout.splitlines()[-1]
    minutes, seconds = re.match(r"Total (\d+):(\d\d)", total).groups()
    assert int(minutes) * 60 + int(seconds) == round(script.duration_ms / 1000)


def test_the_audio_is_what_the_cue_script_says_sample_for_sample(routine, tmp_path, run_coach):
    from coach.sound.render import render

    out = tmp_path / "a.wav"
    assert run_coach("export", routine, "-o", out, "--quiet").returncode == 0
    spoken = load_spoken(str(routine))
    pcm, rate = soundfile.read(str(out), dtype="float32")
    expected = render(spoken.script, spoken.voice)
    assert rate == spoken.voice.sample_rate
    assert abs(pcm - expected).max() <= 2 / 32768  # only the 16-bit conversion differs
    speech = [c for c in spoken.script.cues if c.kind == "speech"]
    for cue in speech[:5]:
        s = samples_at(cue.start_ms, rate)
        assert abs(pcm[s : s + rate // 10]).max() > 0.01  # words begin at their sample


def test_mp3_has_chapters_tags_and_captions(routine, tmp_path, run_coach):
    out = tmp_path / "a.mp3"
    proc = run_coach("export", routine, "-o", out, "--captions", "srt", "--captions", "vtt", "-q")
    assert proc.returncode == 0, proc.stderr
    script = load_spoken(str(routine)).script
    chapters = ffprobe(out, "-show_chapters")["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [ch.title for ch in script.chapters]
    assert [round(float(c["start_time"]) * 1000) for c in chapters] == [
        ch.start_ms for ch in script.chapters
    ]
    tags = ffprobe(out, "-show_format")["format"]["tags"]
    assert tags["title"] == "Export test" and tags["artist"] == "coach"
    assert tags["album"] == "Export test" and "pace 1" in tags["comment"]
    srt = (tmp_path / "a.srt").read_text()
    assert "Sit tall and twist to the right." in srt
    assert (tmp_path / "a.vtt").read_text().startswith("WEBVTT")


@pytest.mark.slow  # exports a whole built-in routine and measures it with ffmpeg
def test_loudness_is_about_minus_19_lufs_with_peaks_under_minus_1_dbtp(tmp_path, run_coach):
    out = tmp_path / "r.wav"
    assert run_coach("export", "upper-back-release", "-o", out, "-q").returncode == 0
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostats",
            "-hide_banner",
            "-i",
            str(out),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    lufs = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    assert -20.5 <= lufs <= -17.5
    assert peak <= -1.0


def test_an_existing_file_is_kept_unless_force(routine, tmp_path, run_coach):
    out = tmp_path / "a.ogg"
    out.write_bytes(b"precious")
    proc = run_coach("export", routine, "-o", out, "-q")
    assert proc.returncode == 2
    assert proc.stderr == f"coach: error: {out} exists; use --force to replace it\n"
    assert out.read_bytes() == b"precious"
    assert run_coach("export", routine, "-o", out, "-q", "--force").returncode == 0
    assert soundfile.info(str(out)).format == "OGG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ogg"]  # no temp files left


def test_default_output_goes_to_the_audio_folder(routine, tmp_path, run_coach):
    proc = run_coach("export", routine, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "audio" / "export-test.mp3").exists()


@pytest.mark.slow  # two exports of each format (opus, m4a, m4b: 20 s and more)
@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "opus", "m4a", "m4b"])
def test_the_same_routine_exports_the_same_bytes(routine, tmp_path, fmt, run_coach):
    # Ogg's stream serial number was random in libsndfile; coach makes it from the content.
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    assert run_coach("export", routine, "-o", a, "-q").returncode == 0
    assert run_coach("export", routine, "-o", b, "-q").returncode == 0
    assert a.read_bytes() == b.read_bytes()
    if fmt in ("ogg", "opus"):  # and the rewritten pages still check out
        decoded = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(a), "-f", "null", "-"],
            capture_output=True,
            text=True,
        )
        assert decoded.returncode == 0 and decoded.stderr == ""


@pytest.mark.slow  # speaks every phrase again, then exports twice
def test_an_empty_phrase_cache_exports_the_same_bytes(routine, tmp_path, monkeypatch, run_coach):
    # Warm, cold, or warmed by another routine first (so the rest is spoken in another order):
    # the samples of each phrase, and so the file, do not depend on it.
    a, b, c = (tmp_path / f"{name}.flac" for name in "abc")
    assert run_coach("export", routine, "-o", a, "-q").returncode == 0
    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "empty"))
    assert run_coach("export", routine, "-o", b, "-q").returncode == 0
    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "other-first"))
    other = tmp_path / "other.yaml"
    other.write_text(
        "title: Other\nsteps:\n  - rest: 5s\n  - say: Sit tall and twist to the right.\n",
        encoding="utf-8",
    )
    assert run_coach("show", other).returncode == 0
    assert run_coach("export", routine, "-o", c, "-q").returncode == 0
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()


def test_stereo_export_has_two_channels(routine, tmp_path, run_coach):
    out = tmp_path / "s.wav"
    assert run_coach("export", routine, "-o", out, "--stereo", "-q").returncode == 0
    assert soundfile.info(str(out)).channels == 2


def test_an_unknown_format_is_a_usage_error(routine, tmp_path, run_coach):
    proc = run_coach("export", routine, "-o", tmp_path / "a.xyz", "-q")
    assert proc.returncode == 2
    assert "xyz" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # two exports
def test_a_compiled_cue_script_exports_the_same_audio_as_its_routine(routine, tmp_path, run_coach):
    script = tmp_path / "s.json"
    assert run_coach("compile", routine, "-o", script).returncode == 0
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert run_coach("export", routine, "-o", a, "-q").returncode == 0
    assert run_coach("export", script, "-o", b, "-q").returncode == 0
    assert soundfile.read(str(a))[0].tolist() == soundfile.read(str(b))[0].tolist()


PRONOUNCED = """\
title: Spinae
steps:
  - exercise: Erector spinae release
    say: Use a tennis ball on the erector spinae.
    hold: 5s
"""


def test_pronounce_changes_the_spoken_audio_and_not_the_captions(tmp_path, run_coach):
    """The same routine with and without a `pronounce` entry, exported through the real voice:
    the audio says the respelling, the captions, chapters and `coach show` keep the word."""
    import numpy as np

    from coach.sound.pronounce import respell
    from coach.sound.voice import SpeechVoice

    fix = "pronounce:\n  spinae: spy nee\n  use: yooz\n"
    exported = {}
    for name, text in (("plain", PRONOUNCED), ("fixed", PRONOUNCED + fix)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        out = tmp_path / f"{name}.wav"
        proc = run_coach("export", path, "-o", out, "--captions", "srt", "-q")
        assert proc.returncode == 0, proc.stderr
        pcm, _ = soundfile.read(str(out), dtype="float32")
        srt = (tmp_path / f"{name}.srt").read_text(encoding="utf-8")
        words = [line for line in srt.splitlines() if line and "-->" not in line]
        exported[name] = (pcm, [w for w in words if not w.isdigit()], path)

    plain, fixed = exported["plain"], exported["fixed"]
    assert fixed[1] == plain[1]  # the same captions, word for word
    assert "Use a tennis ball on the erector spinae." in fixed[1]
    assert not any("yooz" in w or "spy nee" in w for w in fixed[1])
    assert len(fixed[0]) != len(plain[0]) or not np.array_equal(fixed[0], plain[0])

    # What is said at the instruction's cue is the respelling, as the voice speaks it alone.
    spoken = load_spoken(str(fixed[2]))
    (cue,) = [c for c in spoken.script.cues if c.text == "Use a tennis ball on the erector spinae."]
    without = SpeechVoice(spoken.voice.choice, spoken.voice.folder)  # the same voice, no fixes
    said = without.pcm(respell(cue.text, spoken.script.pronounce))
    rate = spoken.voice.sample_rate
    start = samples_at(cue.start_ms, rate)
    assert abs(fixed[0][start : start + len(said)] - said).max() <= 2 / 32768
    assert cue.end_ms - cue.start_ms == round(len(said) * 1000 / rate)

    show = run_coach("show", fixed[2]).stdout
    assert "Erector spinae release" in show and "spy nee" not in show

    # A compiled cue script carries the fixes, and is spoken the same way.
    script = tmp_path / "fixed.json"
    assert run_coach("compile", fixed[2], "-o", script).returncode == 0
    assert run_coach("export", script, "-o", tmp_path / "json.wav", "-q").returncode == 0
    assert np.array_equal(soundfile.read(str(tmp_path / "json.wav"), dtype="float32")[0], fixed[0])


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_the_mixers_clipped_blocks_are_encoded_as_any_other_block(fmt):
    # The mixer's blocks skip the encoder's clipping; what is written must not change.
    import numpy as np

    from coach.export.encode import encoder_samples

    rng = np.random.default_rng(16)
    block = np.clip(rng.standard_normal((50_000, 2)) * 0.7, -1, 1).astype(np.float32)
    block[:4] = [[1.0, -1.0], [0.5 / 32767, -0.5 / 32767], [1.5 / 32767, 0.0], [0.0, -0.0]]
    for pcm in (block, block[:, 0]):
        expected = encoder_samples(pcm.copy(), fmt)
        found = encoder_samples(pcm.copy(), fmt, clipped=True)
        assert found.dtype == expected.dtype and np.array_equal(found, expected)
