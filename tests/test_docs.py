"""The documentation says what the code does: fields, keys, roles, commands and examples.

Tables that the tests read are marked with an HTML comment just above them, e.g.
`<!-- fields: cue -->`; their first column holds the names, in backticks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from coach.cli import app
from coach.routine import model as loader
from coach.routine.parser import parse_routine
from coach.script import cues
from coach.script.compiler import compile
from coach.script.tones import TONE_MS
from coach.settings import CONFIG_KEYS, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ROUTINE_FORMAT = ROOT / "docs" / "routine-format.md"
CUE_SCRIPT = ROOT / "docs" / "cue-script.md"
SCHEMA = json.loads(
    (ROOT / "coach" / "routine" / "routine.schema.json").read_text(encoding="utf-8")
)

# Every step kind and option, so that every role and tone the compiler has is emitted.
KITCHEN_SINK = """\
title: Kitchen sink
safety: Move gently.
pronounce:
  shoulder blades: shoulder blaids
steps:
  - say: Let's start.
  - exercise: Squeeze
    caution: Gently.
    say: Squeeze your shoulder blades.
    reps: 3
    tempo: 2s
    count: true
    sets: 2
    rest: 5s
  - exercise: Circles
    reps: 3
    tempo: 2s
  - exercise: Lean
    hold: 40s
    sides: both
    breath: box
    cues: [Keep breathing., Shoulders down.]
  - rest: 10s
    say: Sit down.
  - breathe: box
    cycles: 2
    say: Close your eyes.
  - repeat: 2
    rest: 5s
    say: Twice.
    steps:
      - exercise: Twist
        breaths: 2
        sides: right
"""


def marked_table(text: str, marker: str) -> list[str]:
    """The first-column names of the table under `<!-- marker -->`."""
    start = text.find(f"<!-- {marker} -->")
    assert start >= 0, f"no table marked <!-- {marker} -->"
    names = []
    lines = text[start:].splitlines()[1:]
    for line in lines[2:]:  # skip the header and the --- row
        if not line.startswith("|"):
            break
        first = line.split("|")[1].strip()
        found = re.fullmatch(r"`([^`]+)`", first)
        assert found, f"{marker}: first column should be a `name`, found {first!r}"
        names.append(found.group(1))
    assert names, f"the table marked <!-- {marker} --> is empty"
    assert len(names) == len(set(names)), f"{marker}: a name is listed twice"
    return names


def fenced(text: str, info: str) -> list[str]:
    return re.findall(rf"^```{re.escape(info)}[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M)


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def real():
    """Real compiler output (estimated phrase lengths, no voice) of the kitchen sink: plain,
    with a breath override, and with `breath_cues: tones`."""
    script = compile(parse_routine(KITCHEN_SINK, "sink.yaml"))
    with_breath = compile(
        parse_routine(KITCHEN_SINK, "sink.yaml"), Settings(breath=script.settings.default_breath)
    )
    tones = compile(parse_routine(KITCHEN_SINK, "sink.yaml"), Settings(breath_cues="tones"))
    return cues.to_json(script), cues.to_json(with_breath), cues.to_json(tones)


# -- docs/cue-script.md -------------------------------------------------------------------------


def test_cue_script_example_loads():
    (example,) = fenced(CUE_SCRIPT.read_text(encoding="utf-8"), "json")
    script = cues.loads(example, "docs/cue-script.md")
    assert script.cues and script.chapters


def test_cue_script_example_is_real_output():
    text = CUE_SCRIPT.read_text(encoding="utf-8")
    (routine_text,) = fenced(text, "yaml routine")
    (example,) = fenced(text, "json")
    shown = json.loads(example)
    # Timed by the compiler's estimate (no voice), so it is the same on every machine; the doc
    # must say so, since `coach compile --json` times phrases by the real voice.
    assert "`coach.script.compiler.compile(routine)`" in text
    produced = cues.to_json(compile(parse_routine(routine_text, "side-stretch.yaml")))
    hint = (
        "regenerate the example in docs/cue-script.md with "
        "coach.script.cues.dumps(coach.script.compiler.compile(routine))"
    )
    assert {k: v for k, v in shown.items() if k != "cues"} == {
        k: v for k, v in produced.items() if k != "cues"
    }, hint
    assert all(c in produced["cues"] for c in shown["cues"]), hint
    assert len(shown["cues"]) >= len(produced["cues"]) - 3, "trim less of the example"


def test_cue_script_fields_are_documented_and_real(real):
    text = CUE_SCRIPT.read_text(encoding="utf-8")
    plain, with_breath, _ = real
    seen = {
        "top": set(plain),
        "settings": set(plain["settings"]),
        "breath": set(plain["settings"]["default_breath"]) | set(with_breath["settings"]["breath"]),
        "chapter": {k for ch in plain["chapters"] for k in ch},
        "cue": {k for c in plain["cues"] for k in c},
    }
    for table, fields in seen.items():
        assert set(marked_table(text, f"fields: {table}")) == fields, table


def test_cue_roles_and_tones_are_documented_and_real(real):
    text = CUE_SCRIPT.read_text(encoding="utf-8")
    all_cues = [c for script in real for c in script["cues"]]
    speech = {c["role"] for c in all_cues if c["kind"] == "speech"}
    assert set(marked_table(text, "roles: speech")) == speech
    assert set(marked_table(text, "tones")) == set(TONE_MS)
    assert {c["tone"] for c in all_cues if c["kind"] == "tone"} == set(TONE_MS)
    assert all(c["role"] == c["tone"] for c in all_cues if c["kind"] == "tone")
    for kind in (*cues.KINDS, *cues.CHAPTER_KINDS):
        assert f"`{kind}`" in text


def test_cue_script_documents_its_version():
    text = CUE_SCRIPT.read_text(encoding="utf-8")
    assert f'"{cues.FORMAT}"' in text
    assert f"# The cue script, version {cues.VERSION}" in text


# -- docs/routine-format.md ---------------------------------------------------------------------


def test_routine_format_documents_every_key():
    text = ROUTINE_FORMAT.read_text(encoding="utf-8")
    assert set(marked_table(text, "keys: top")) == set(loader.TOP_KEYS)
    assert set(marked_table(text, "keys: defaults")) == set(loader.DEFAULTS_KEYS)
    for kind, keys in loader.STEP_KEYS.items():
        assert set(marked_table(text, f"keys: {kind}")) == set(keys), kind


@pytest.mark.parametrize("path", [ROUTINE_FORMAT, README, CUE_SCRIPT], ids=lambda p: p.name)
def test_routine_examples_load_and_validate(path):
    blocks = fenced(path.read_text(encoding="utf-8"), "yaml routine")
    assert blocks, f"{path.name} shows no ```yaml routine example"
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for block in blocks:
        parse_routine(block, path.name)
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(block))]
        assert not errors, f"{path.name}: {block[:60]!r}: {errors}"


def test_routine_format_has_an_example_of_every_step_kind():
    blocks = fenced(ROUTINE_FORMAT.read_text(encoding="utf-8"), "yaml routine")
    kinds = set()
    for block in blocks:
        for step in yaml.safe_load(block)["steps"]:
            kinds |= set(step) & set(loader.KINDS)
    assert kinds == set(loader.KINDS)


# -- README.md ----------------------------------------------------------------------------------


def commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_there_are_commands():
    assert {"validate", "compile", "list", "show", "schema", "config"} <= set(commands())


def test_there_are_the_audio_commands():
    assert {"export", "voices", "cache"} <= set(commands())


def pacing_options() -> list[str]:
    compile_command = typer.main.get_command(app).commands["compile"]
    return sorted(
        opt
        for param in compile_command.params
        if getattr(param, "rich_help_panel", None) and "Pacing" in param.rich_help_panel
        for opt in param.opts
    )


def test_pacing_options_and_config_keys_are_documented():
    readme = README.read_text(encoding="utf-8")
    routine_format = ROUTINE_FORMAT.read_text(encoding="utf-8")
    options = pacing_options()
    assert "--breath-cues" in options
    for option in options:
        assert f"`{option}" in readme, option
        assert f"`{option}`" in routine_format, option
    for key in CONFIG_KEYS:
        assert f"`{key}`" in readme, key
        assert f"`{key}`" in routine_format, key


@pytest.mark.parametrize("name", commands())
def test_every_command_is_in_the_readme_and_has_help_with_an_example(name):
    assert f"coach {name}" in README.read_text(encoding="utf-8")
    result = run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Example:" in result.stdout
    assert f"coach {name}" in result.stdout
