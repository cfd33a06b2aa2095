"""Captions: exact SRT, WebVTT and LRC text, the timing rule, escaping, and ffmpeg reading them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess

import pytest

from coach.routine.parser import parse_routine
from coach.script.captions import CAPTION_FORMATS, caption_events, captions
from coach.script.compiler import compile
from coach.script.cues import Chapter, Cue
from tests.support import fake_durations

SMALL = """\
title: Small & <simple>
safety: Stop if it hurts.
steps:
  - exercise: Reach <up> & over
    say: Say <speak> & breathe.
    hold: 6s
    sides: both
  - rest: 5s
  - breathe: box
    cycles: 1
"""


def compiled(text: str = SMALL):
    return compile(parse_routine(text, "t.yaml"), None, fake_durations)


def speech(c: Cue) -> Cue:
    return Cue(c.start_ms, c.end_ms, "speech", "say", c.step, c.text)


def tiny():
    """A hand-timed script (from a compiled one, for its settings) with every case in it."""
    base = compiled("title: Tiny\nsteps:\n  - exercise: Reach\n    hold: 2s\n")
    chapters = (
        Chapter("Introduction", 0, 3000, "intro"),
        Chapter("Reach <up> & over", 3000, 7000, "exercise", 3),
        Chapter("Rest", 7000, 9000, "rest", 5),
    )
    cues = (
        Cue(0, 900, "tone", "start", 0, tone="start"),
        Cue(1000, 2500, "speech", "start", 0, "Tiny & <small>."),
        Cue(3000, 4000, "speech", "announce", 1, "Say <speak> & breathe."),
        Cue(4500, 4800, "tone", "hold_start", 1, tone="hold_start"),
        Cue(5000, 5600, "speech", "reminder", 1, "Two lines:\n\n  keep   going\n"),
        Cue(6000, 6450, "tone", "hold_end", 1, tone="hold_end"),
        Cue(7500, 8200, "speech", "rest", 2, "Rest."),
    )
    return dataclasses.replace(
        base, title="Tiny & <small>", duration_ms=9000, chapters=chapters, cues=cues
    )


def test_formats():
    assert CAPTION_FORMATS == ("srt", "vtt", "lrc")
    with pytest.raises(ValueError, match="unknown caption format 'ass'; known: srt, vtt, lrc"):
        captions(tiny(), "ass")


def test_srt_exact():
    assert captions(tiny(), "srt") == (
        "1\n"
        "00:00:01,000 --> 00:00:03,000\n"
        "Tiny & ‹small›.\n"
        "\n"
        "2\n"
        "00:00:03,000 --> 00:00:05,000\n"
        "Say ‹speak› & breathe.\n"
        "\n"
        "3\n"
        "00:00:05,000 --> 00:00:07,000\n"
        "Two lines:\n"
        "keep going\n"
        "\n"
        "4\n"
        "00:00:07,500 --> 00:00:09,000\n"
        "Rest.\n"
    )


def test_vtt_exact():
    assert captions(tiny(), "vtt") == (
        "WEBVTT\n"
        "\n"
        "NOTE Chapter 1: Introduction (00:00:00.000)\n"
        "\n"
        "00:00:01.000 --> 00:00:03.000\n"
        "Tiny &amp; &lt;small&gt;.\n"
        "\n"
        "NOTE Chapter 2: Reach <up> & over (00:00:03.000)\n"
        "\n"
        "00:00:03.000 --> 00:00:05.000\n"
        "Say &lt;speak&gt; &amp; breathe.\n"
        "\n"
        "00:00:05.000 --> 00:00:07.000\n"
        "Two lines:\n"
        "keep going\n"
        "\n"
        "NOTE Chapter 3: Rest (00:00:07.000)\n"
        "\n"
        "00:00:07.500 --> 00:00:09.000\n"
        "Rest.\n"
    )


def test_vtt_without_chapters():
    text = captions(tiny(), "vtt", chapters=False)
    assert "NOTE" not in text
    assert text.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n")


def test_lrc_exact():
    assert captions(tiny(), "lrc") == (
        "[ti:Tiny & <small>]\n"
        "[ar:coach]\n"
        "[length:00:09]\n"
        "[00:01.00]Tiny & <small>.\n"
        "[00:03.00]Say <speak> & breathe.\n"
        "[00:05.00]Two lines: / keep going\n"
        "[00:07.00]\n"  # the chapter ended: clear the line until the next caption
        "[00:07.50]Rest.\n"
    )


def test_a_caption_lasts_at_least_as_long_as_its_cue():
    s = tiny()
    long = dataclasses.replace(s.cues[1], end_ms=3500)  # runs past its chapter's end
    s = dataclasses.replace(s, cues=(s.cues[0], long, *s.cues[2:]))
    assert caption_events(s)[0].end_ms == 3500


def test_long_scripts_count_hours():
    s = tiny()
    at = 3_723_456  # 1 h 2 min 3.456 s
    late = Cue(at, at + 1000, "speech", "rest", 2, "Late.")
    chapters = (*s.chapters[:2], dataclasses.replace(s.chapters[2], end_ms=at + 2000))
    s = dataclasses.replace(s, duration_ms=at + 2000, chapters=chapters, cues=(*s.cues, late))
    assert "01:02:03,456 --> 01:02:05,456\nLate.\n" in captions(s, "srt")
    assert "01:02:03.456 --> 01:02:05.456\nLate.\n" in captions(s, "vtt")
    assert "[62:03.45]Late.\n" in captions(s, "lrc")


@pytest.mark.parametrize("text", [SMALL, None])
def test_timing_rules_on_compiled_routines(text):
    if text is None:
        from coach.routine.library import find
        from coach.routine.parser import load_routine

        s = compile(load_routine(find("upper-back-release").path), None, fake_durations)
    else:
        s = compiled(text)
    said = s.speech()
    events = caption_events(s)
    assert len(events) == len(said)  # one per speech cue
    for i, (cue, ev) in enumerate(zip(said, events)):
        assert ev.start_ms == cue.start_ms
        chapter_end = s.chapters[cue.step].end_ms
        following = said[i + 1].start_ms if i + 1 < len(said) else s.duration_ms
        assert ev.end_ms == max(cue.end_ms, min(chapter_end, following))
        assert ev.end_ms >= cue.end_ms
        if i + 1 < len(events):
            assert ev.end_ms <= events[i + 1].start_ms  # captions never overlap
    assert events[-1].end_ms == s.duration_ms


def test_escaping_in_a_compiled_routine():
    s = compiled()
    srt, vtt, lrc = (captions(s, f) for f in CAPTION_FORMATS)
    assert "Say ‹speak› & breathe." in srt and "<" not in srt
    assert "Say &lt;speak&gt; &amp; breathe." in vtt
    assert "NOTE Chapter 2: Reach <up> & over (" in vtt  # comments are not parsed
    body = vtt.split("\n")
    assert not [
        line
        for line in body
        if "&" in line
        and not line.startswith("NOTE")
        and "&amp;" not in line
        and "&lt;" not in line
    ]
    assert "]Say <speak> & breathe.\n" in lrc
    assert lrc.startswith("[ti:Small & <simple>]\n[ar:coach]\n")
    for fmt, text in zip(CAPTION_FORMATS, (srt, vtt, lrc)):
        assert "\n\n\n" not in text, fmt
        if fmt != "lrc":
            # A blank line ends a caption: every block is a timing line and non-empty text.
            for block in text.split("\n\n")[1 if fmt == "vtt" else 0 :]:
                lines = block.strip("\n").split("\n")
                if lines[0].startswith("NOTE"):
                    continue
                timing = 1 if fmt == "srt" else 0
                assert " --> " in lines[timing] and all(lines[timing + 1 :]), block


# -- real tools ---------------------------------------------------------------------------

needs_ffmpeg = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="needs ffmpeg and ffprobe"
)


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def packets(path) -> list[dict]:
    out = run("ffprobe", "-v", "error", "-show_packets", "-of", "json", str(path))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return json.loads(out.stdout).get("packets", [])


@needs_ffmpeg
@pytest.mark.parametrize("fmt", CAPTION_FORMATS)
def test_ffmpeg_reads_the_captions_and_sees_every_event(tmp_path, fmt):
    s = compiled()
    path = tmp_path / f"small.{fmt}"
    text = captions(s, fmt)
    path.write_text(text, encoding="utf-8")
    # Decoding every event (to ASS, thrown away) is a full read of the file.
    out = run("ffmpeg", "-v", "error", "-i", str(path), "-f", "ass", "-")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    events = caption_events(s)
    got = packets(path)
    if fmt == "lrc":
        stamps = [line[1:9] for line in text.splitlines() if line[1:3].isdigit()]
        assert len(stamps) >= len(events)  # captions, and any lines that clear them
        assert [round(float(p["pts_time"]) * 100) for p in got] == [
            int(m) * 6000 + round(float(sec) * 100) for m, sec in (t.split(":") for t in stamps)
        ]
        return
    assert len(got) == len(events) == len(s.speech())
    # ffmpeg reads the times we wrote, to the millisecond.
    assert [
        (round(float(p["pts_time"]) * 1000), round(float(p["duration_time"]) * 1000)) for p in got
    ] == [(e.start_ms, e.end_ms - e.start_ms) for e in events]


@needs_ffmpeg
@pytest.mark.parametrize(
    "fmt,shown", [("srt", "Say ‹speak› & breathe."), ("vtt", "Say <speak> & breathe.")]
)
def test_ffmpeg_shows_escaped_text_as_written(tmp_path, fmt, shown):
    src = tmp_path / f"small.{fmt}"
    src.write_text(captions(compiled(), fmt), encoding="utf-8")
    ass = tmp_path / "small.ass"
    out = run("ffmpeg", "-v", "error", "-i", str(src), str(ass))
    assert out.returncode == 0, out.stderr
    dialogue = [
        line.split(",", 9)[9]
        for line in ass.read_text(encoding="utf-8").splitlines()
        if line.startswith("Dialogue:")
    ]
    assert shown in dialogue
