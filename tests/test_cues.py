"""The cue script's JSON form: round trip, and clear errors for a bad file."""

from __future__ import annotations

import json

import pytest

from coach.errors import RoutineError
from coach.routine.library import find
from coach.routine.parser import load_routine
from coach.script import cues
from coach.script.compiler import compile


@pytest.fixture(scope="module")
def script():
    return compile(load_routine(find("upper-back-release").path))


def test_the_built_in_routine_round_trips(script, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(cues.dumps(script), encoding="utf-8")
    assert cues.load_cue_script(path) == script


def test_top_level_fields(script):
    data = json.loads(cues.dumps(script))
    assert list(data) == [
        "format",
        "version",
        "title",
        "language",
        "duration_ms",
        "settings",
        "chapters",
        "cues",
    ]
    assert data["format"] == "coach-cues" and data["version"] == 1


def problems(text: str) -> list[str]:
    with pytest.raises(RoutineError) as e:
        cues.loads(text, "s.json")
    return e.value.lines()


def test_invalid_json_points_at_the_character():
    assert problems('{"format": "coach-cues",\n  "version": 1,,\n}') == [
        "s.json:2:16: error: invalid JSON: Expecting property name enclosed in double quotes"
    ]


def test_another_format_or_version_is_refused():
    assert problems('{"format": "other"}') == [
        "s.json:1:1: error: not a coach cue script: 'format' must be \"coach-cues\", found 'other'"
    ]
    assert problems('{"format": "coach-cues", "version": 2}') == [
        "s.json:1:37: error: cue script version 2 is not supported; this coach reads version 1"
    ]


def test_a_bad_value_deep_inside_is_reported_at_its_line(script):
    data = json.loads(cues.dumps(script))
    data["cues"][3]["start_ms"] = "soon"
    data["cues"][5]["kind"] = "music"
    text = json.dumps(data, indent=1)
    lines = text.splitlines()

    SOON, MUSIC = '"soon"', '"music"'

    def place(value: str) -> str:
        row = next(i for i, line in enumerate(lines) if value in line)
        return f"{row + 1}:{lines[row].index(value) + 1}"

    assert problems(text) == [
        f"s.json:{place(SOON)}: error: 'start_ms' must be a whole number, found the string {SOON}",
        f"s.json:{place(MUSIC)}: error: cue kind must be one of speech, tone, found 'music'",
    ]


def test_cues_out_of_order_are_refused(script):
    data = json.loads(cues.dumps(script))
    data["cues"][2]["start_ms"] = 0
    data["cues"][2]["end_ms"] = 10
    assert any("cue 2 starts before the one before it" in p for p in problems(json.dumps(data)))


def test_a_lone_surrogate_in_spoken_text_is_refused(script):
    data = json.loads(cues.dumps(script))
    i = next(i for i, c in enumerate(data["cues"]) if c["kind"] == "speech")
    data["cues"][i]["text"] = "\ud800"
    found = problems(json.dumps(data))
    assert len(found) == 1 and "lone surrogate" in found[0]
