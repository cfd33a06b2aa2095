"""The cue script's JSON form: round trip, and clear errors for a bad file."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

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


# -- pronounce: optional, after settings, left out when empty ------------------------------------

SPOKEN = (("spinae", "spy nee"), ("Erector spinae", "e-rector spy nee"), ("use", "yooz"))


def test_pronounce_round_trips_in_its_order(script, tmp_path):
    with_it = replace(script, pronounce=SPOKEN)
    data = json.loads(cues.dumps(with_it))
    assert list(data)[5:7] == ["settings", "pronounce"]
    assert list(data["pronounce"].items()) == list(SPOKEN)
    path = tmp_path / "s.json"
    path.write_text(cues.dumps(with_it), encoding="utf-8")
    assert cues.load_cue_script(path) == with_it


def test_pronounce_is_left_out_when_empty_and_a_script_without_it_has_none(script):
    assert script.pronounce == ()
    assert "pronounce" not in json.loads(cues.dumps(script))
    assert cues.loads(cues.dumps(script)).pronounce == ()


def _with_pronounce(script, value) -> str:
    data = json.loads(cues.dumps(script))
    data = {**{k: data[k] for k in list(data)[:6]}, "pronounce": value, **data}
    return json.dumps(data, indent=1, ensure_ascii=False)


def test_a_bad_pronounce_is_reported_at_its_line(script):
    text = _with_pronounce(
        script,
        {
            "spinae": "spy nee",
            "Spinae": "spine ee",
            "spinae.": "x",
            "": "x",
            "use": "",
            "rhomboid": 7,
            "trapezius": "[[tr@p'i:zi@s]]",
            "kyphosis": "k" * 201,
        },
    )
    lines = text.splitlines()

    def at(key: str) -> str:
        row = next(i for i, line in enumerate(lines) if line.startswith(f'  "{key}":'))
        return f"s.json:{row + 1}:{len(key) + 7}: error: "

    assert problems(text) == [
        at("Spinae") + '\'pronounce\' gives "Spinae" twice (first as "spinae"; case does not '
        "matter)",
        at("spinae.") + "a key of 'pronounce' must be a word or a few words (letters and digits; "
        '\' and - only inside a word), found the string "spinae."',
        at("") + "a key of 'pronounce' must not be empty, found the string \"\"",
        at("use") + 'the respelling of "use" must be a non-empty string, found the string ""',
        at("rhomboid") + 'the respelling of "rhomboid" must be a non-empty string, found the '
        "number 7",
        at("trapezius") + "the respelling of \"trapezius\" is written as phonemes ('[[...]]'), "
        "which coach does not read",
        at("kyphosis") + 'the respelling of "kyphosis" may be at most 200 characters',
    ]


def test_pronounce_must_be_an_object(script):
    text = _with_pronounce(script, ["spinae", "spy nee"])
    (line,) = problems(text)
    assert line.endswith("error: 'pronounce' must be an object, found a list")


def test_make_cue_makes_the_same_frozen_value_as_cue(script):
    # The compiler's faster way to make a cue (which the script's cues were made with):
    # equal, hashed and printed as Cue(...) makes them, and as frozen.
    assert {c.kind for c in script.cues} == {"speech", "tone"}
    for c in script.cues:
        values = [getattr(c, f.name) for f in dataclasses.fields(cues.Cue)]
        made, usual = cues.make_cue(*values), cues.Cue(*values)
        assert type(made) is cues.Cue
        assert made == usual and hash(made) == hash(usual) and repr(made) == repr(usual)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.start_ms = 0  # type: ignore[misc]
