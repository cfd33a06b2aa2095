"""The command line, through typer's CliRunner and through the installed `coach` executable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from coach.cli import app
from coach.pipeline import load_spoken
from coach.routine.library import builtin_names
from coach.script import cues
from coach.script.summary import summary_lines
from tests.support import ROOT

TINY = """\
title: Tiny
safety: Stop if it hurts.
steps:
  - exercise: Doorway stretch
    say: Stand in a doorway.
    hold: 10s
  - rest: 10s
  - breathe: box
    cycles: 1
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def spoken(path, **options):
    from coach.settings import Settings

    return load_spoken(str(path), Settings(**options)).script


def test_compile_prints_a_readable_timeline(tiny):
    result = run("compile", tiny)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == cues.timeline(spoken(tiny))
    assert lines[0].startswith("## Introduction  [0:00.0-")
    assert lines[1] == "   0:00.0  tone   start       (start)"
    assert lines[2].endswith("speech start       Tiny. About 1 minute.")
    assert lines[3].endswith("speech safety      Stop if it hurts.")
    said = [line.split(None, 3)[-1] for line in lines if " speech " in line]
    assert said[2:5] == ["Doorway stretch.", "Stand in a doorway.", "Hold for 10 seconds."]
    assert "Next up: Box breathing." in said
    assert lines[-1].endswith("  end")


def test_compile_json_is_the_cue_script_timed_by_the_real_voice(tiny):
    result = run("compile", tiny, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["format"] == "coach-cues" and data["version"] == 1
    assert data["title"] == "Tiny"
    assert cues.loads(result.stdout) == spoken(tiny)


def test_compile_output_file_then_use_it_as_the_routine(tiny, tmp_path):
    out = tmp_path / "tiny.json"
    result = run("compile", tiny, "-o", out, "--pace", "1.25")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(out.read_text())["settings"]["pace"] == 1.25
    assert set(tmp_path.iterdir()) == {tiny, out}  # no temp file left beside it
    again = run("show", out)
    assert again.exit_code == 0 and "(pace 1.25, speech 165 words/min)" in again.stdout
    refused = run("show", out, "--pace", "2")
    assert refused.exit_code == 2
    assert "pacing options: do not apply to a compiled cue script" in refused.stderr


def test_compile_to_a_missing_folder_says_how_to_fix_it(tiny, tmp_path):
    result = run("compile", tiny, "-o", tmp_path / "no" / "such" / "x.json")
    assert result.exit_code == 1
    assert "the folder" in result.stderr and "does not exist" in result.stderr
    assert "fix: create it first" in result.stderr
    assert not (tmp_path / "no").exists()


def test_show_lists_steps_with_start_length_and_total(tiny):
    result = run("show", tiny)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines == summary_lines(spoken(tiny))
    assert lines[:3] == ["Tiny", "", "    #   start  length  step"]
    steps = [line.split(None, 3)[-1] for line in lines[3:7]]
    assert steps == ["Introduction", "Doorway stretch  (10s)", "Rest", "Box breathing  (16s)"]
    assert lines[-1].startswith("Total 1:") and lines[-1].endswith("(pace 1, speech 165 words/min)")


def test_show_at_another_pacing(tiny):
    result = run("show", tiny, "--hold", "20s", "--rest-scale", "2", "--pace", "0.5")
    assert result.exit_code == 0
    assert "Doorway stretch  (40s)" in result.stdout
    assert "Box breathing  (32s)" in result.stdout
    assert "(pace 0.5, speech 165 words/min, holds 20s, rests x2)" in result.stdout


@pytest.mark.slow  # the first run speaks every phrase of the four routines (about 14 s)
def test_list_shows_the_built_in_routine():
    result = run("list")
    assert result.exit_code == 0
    rows = [line.split(None, 3) for line in result.stdout.splitlines() if "[built-in]" in line]
    assert [r[0] for r in rows] == builtin_names()
    _, length, language, title = next(r for r in rows if r[0] == "upper-back-release")
    assert (language, title) == ("en", "Upper back release  [built-in]")
    assert length.count(":") == 1


def test_config_file_sits_between_the_command_line_and_the_routine(tiny, tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text("hold: 30s\nrest_scale: 2\n")
    monkeypatch.setenv("COACH_CONFIG", str(config))
    shown = run("config")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[0] == f"config file: {config} (exists)"
    assert "  hold         30s  [config]" in shown.stdout
    assert "  pace         1 (unless the routine sets one)  [default]" in shown.stdout
    assert "Doorway stretch  (30s)" in run("show", tiny).stdout  # config beats the routine
    assert "Doorway stretch  (15s)" in run("show", tiny, "--hold", "15s").stdout  # CLI beats config


def test_a_bad_config_file_is_reported_with_its_line(tmp_path, monkeypatch, tiny):
    config = tmp_path / "config.yaml"
    config.write_text("pace: 1.5\nhold: forever\n")
    monkeypatch.setenv("COACH_CONFIG", str(config))
    for args in (("config",), ("show", tiny)):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"{config}:2:7: error: 'hold' must be a duration such as 45, 45s, 1m30s or 2m, "
            "found text 'forever'\n"
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pace", "0"), "coach: error: --pace: must be between 0.25 and 4, found 0\n"),
        (("--hold", "2h"), "coach: error: --hold: must be between 1s and 1h, found '2h'\n"),
        (
            ("--rest", "soon"),
            "coach: error: --rest: must be a duration such as 45, 45s, 1m30s or 2m, found 'soon'\n",
        ),
        (
            ("--breath", "boxx"),
            "coach: error: --breath: must be a breath pattern such as 4-7-8 "
            "(in-hold-out) or 4-4-4-4, or a name: box, relax, calm, coherent, "
            "found 'boxx'; did you mean 'box'?\n",
        ),
        (("--rate", "1000"), "coach: error: --rate: must be between 80 and 450, found 1000\n"),
        (
            ("--hold-scale", "0"),
            "coach: error: --hold-scale: must be between 0.1 and 10, found 0\n",
        ),
    ],
)
def test_bad_option_values_exit_2_with_the_option_named(tiny, args, message):
    result = run("show", tiny, *args)
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_an_unknown_routine_name_suggests_the_built_in_one():
    result = run("show", "upper-back-relase")
    assert result.exit_code == 2
    assert result.stderr == (
        "upper-back-relase: error: no routine file or built-in routine by this name; "
        "did you mean 'upper-back-release'?\n"
    )


def test_validate_reports_ok_files_and_bad_ones_together(tiny, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: Bad\nsteps:\n  - exercise: A\n    hold: 0s\n")
    result = run("validate", tiny, bad)
    assert result.exit_code == 2
    assert result.stdout == f"{tiny}: ok, 3 steps, 1:13\n"
    assert result.stderr == f"{bad}:4:11: error: 'hold' must be at least 1s, found 0s\n"


def test_schema_prints_json():
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"]


def test_every_command_has_help_with_an_example():
    import typer.main

    group = typer.main.get_command(app)
    for name in group.commands:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Example: coach " in result.stdout, name


# -- the installed executable ----------------------------------------------------------------


def test_installed_coach_validates_the_built_in_routine(run_coach):
    proc = run_coach("validate", "upper-back-release")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("upper-back-release: ok, ")
    assert proc.stderr == ""


def test_installed_coach_reports_bad_input_without_a_traceback(tmp_path, run_coach):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    proc = run_coach("validate", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"{bad}:1:8: error: invalid YAML: this list in '[ ]' is not closed; "
        "add the ']' at its end, or a ',' between its items\n"
    )
    assert "Traceback" not in proc.stderr


def test_python_dash_m_coach_runs_the_same_cli(tiny):
    proc = subprocess.run(
        [sys.executable, "-m", "coach", "compile", str(tiny), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["title"] == "Tiny"


def test_debug_shows_a_traceback_for_bug_reports(run_coach):
    proc = run_coach("--debug", "show", "no-such-routine")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume", "--from", "1"], "coach: error: --resume: cannot be used with --from"),
        (["--from", "9"], "coach: error: --from: there is no step 9; steps are numbered 0 to 3"),
        (["--from", "doorway strech"], "did you mean 'Doorway stretch'?"),
        (["--output", "speakers"], "--output: must be one of paplay, pw-play, aplay, simpleaudio"),
    ],
)
def test_play_refuses_bad_options_before_making_a_sound(tiny, args, message):
    result = run("play", tiny, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_doctor_checks_the_set_up_through_the_executable(run_coach):
    proc = run_coach("doctor", timeout=120)
    assert "Traceback" not in proc.stderr
    names = [
        "TTS engine",
        "voice",
        "audio output",
        "ffmpeg",
        "phrase cache",
        "config",
        "state folder",
        "media keys",
    ]
    lines = proc.stdout.splitlines()
    for name in names:
        assert any(line[8:].startswith(name) for line in lines), (name, proc.stdout)
    # Exit 1 exactly when a check failed (no audio server here is a failure, not a crash).
    failed = any(line.lstrip().startswith("fail") for line in lines)
    assert proc.returncode == (1 if failed else 0), proc.stdout


def test_show_ends_with_what_the_routine_gives_to_read_not_to_hear(tmp_path):
    path = tmp_path / "notes.yaml"
    path.write_text(
        TINY
        + """\
source: An article
tips: [Stretch before and after.]
alternatives: [Massage therapy, Heat therapy]
faq:
  - question: Is it safe?
    answer: Stop if you feel any pain.
""",
        encoding="utf-8",
    )
    result = run("show", path)
    assert result.exit_code == 0, result.output
    tail = result.output.split("Total ")[1].splitlines()[1:]
    assert tail == [
        "",
        "Source: An article",
        "",
        "Tips",
        "  - Stretch before and after.",
        "",
        "Alternatives",
        "  - Massage therapy",
        "  - Heat therapy",
        "",
        "Questions",
        "  Is it safe?",
        "    Stop if you feel any pain.",
    ]
    # None of it is spoken.
    script = spoken(path)
    assert not any("Massage" in (c.text or "") or "safe?" in (c.text or "") for c in script.cues)


@pytest.mark.slow  # plays the starter through the real engine: some 8 s
def test_new_writes_a_starter_that_validates_and_plays_by_name(tmp_path, monkeypatch):
    import os

    from coach.pipeline import load_script
    from coach.routine.library import find
    from coach.routine.parser import load_routine

    result = run("new", "my-morning")
    assert result.exit_code == 0, result.output
    path = tmp_path / "x"  # not used: the file goes to the routines folder
    folder = find("my-morning").path.parent
    assert str(folder) == os.environ["COACH_ROUTINES_DIR"]
    written = folder / "my-morning.yaml"
    assert result.output.splitlines()[0] == f"wrote {written}"
    text = written.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=file://")
    routine = load_routine(written)
    assert routine.title == "My morning"
    kinds = {type(s).__name__ for s in routine.steps}
    assert kinds == {"Say", "Exercise", "Rest", "Repeat", "Breathe"}  # one of each kind
    assert load_script("my-morning").duration_ms > 60_000  # compiles, found by its name
    assert run("validate", "my-morning").exit_code == 0
    listed = run("list")
    assert listed.exit_code == 0
    assert any(
        line.startswith("my-morning") and line.endswith("My morning  [yours]")
        for line in listed.output.splitlines()
    ), listed.output
    # Not again without --force; elsewhere with --output.
    again = run("new", "my-morning")
    assert again.exit_code == 2 and "exists; use --force to replace it" in again.output
    assert run("new", "my-morning", "--force").exit_code == 0
    elsewhere = tmp_path / "desk.yaml"
    assert run("new", "desk", "-o", elsewhere).exit_code == 0
    assert load_routine(elsewhere).title == "Desk"
    assert not path.exists()


@pytest.mark.parametrize("name", ["bad name", "../escape", "_x", "x" * 65, ""])
def test_new_refuses_names_that_are_not_plain_file_names(name):
    result = run("new", name)
    assert result.exit_code == 2
    assert "NAME: must be letters, digits" in result.output


def test_your_own_routine_is_played_instead_of_a_built_in_of_the_same_name(tmp_path):
    import os
    from pathlib import Path

    from coach.routine.library import find

    folder = Path(os.environ["COACH_ROUTINES_DIR"])
    folder.mkdir(parents=True)
    (folder / "upper-back-release.yaml").write_text(TINY, encoding="utf-8")
    (folder / "broken.yaml").write_text("title: B\nsteps: []\n", encoding="utf-8")
    assert find("upper-back-release").path == folder / "upper-back-release.yaml"
    listed = run("list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert any("[built-in (yours is played)]" in line for line in lines)
    assert any(line.startswith("upper-back-release") and "Tiny  [yours]" in line for line in lines)
    assert any(line.startswith("broken") and "does not load:" in line for line in lines)
