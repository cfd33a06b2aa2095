"""The routine schema accepts and refuses what it did when its verdicts were recorded.

The schema is shaped for editors (how yaml-language-server completes, hovers and words its
messages), and that shaping must not change which routines it accepts. So its verdicts, under
python's jsonschema, on every routine file we have and on thousands of generated steps are kept
in tests/golden/schema-verdicts.json, recorded from the schema before it was reshaped (issue 17).

A change of verdict fails here. When the format itself changes on purpose (a new key, another
limit), record again, from the schema whose verdicts you mean to keep:

    .venv/bin/python tests/test_schema_verdicts.py --record
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "coach" / "routine" / "routine.schema.json"
VERDICTS = ROOT / "tests" / "golden" / "schema-verdicts.json"
_ROUTINE_BLOCK = re.compile(r"^```yaml routine[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)

# -- the routine files ------------------------------------------------------------------------


# libyaml's loader where present (fast), then python's, which reads a few files libyaml
# refuses (an escaped lone surrogate): the data is what coach's own reading would give.
_LOADERS = [getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader]


def _load(text: str):
    """The data of a routine file, or None when there is none for a schema to judge: not YAML
    that python reads, nested past python's stack, or aliases that make it huge or endless."""
    # Nesting too deep for either: libyaml says so at once, python after seconds of recursion.
    if text.count("[") > 1000:
        return None
    for loader in _LOADERS:
        try:
            data = yaml.load(text, Loader=loader)
        except (yaml.YAMLError, RecursionError, ValueError, TypeError):
            continue
        return data if _small(data, [10_000], 0) else None
    return None


def _small(data, budget: list[int], depth: int) -> bool:
    """Whether `data` has at most budget[0] values, nested at most 100 deep (walked with an
    early stop, since aliases can make it endless)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 100:
        return False
    if isinstance(data, dict):
        return all(_small(v, budget, depth + 1) for v in data.values())
    if isinstance(data, list):
        return all(_small(v, budget, depth + 1) for v in data)
    return True


@functools.cache
def file_cases() -> dict[str, object]:
    """name -> data of every routine file: the test corpus, the built-in routines, and the
    routines shown in the docs (named by their text's hash, so moving one changes nothing)."""
    out: dict[str, object] = {}
    paths = [
        *sorted((ROOT / "tests" / "corpus").rglob("*.yaml")),
        *sorted((ROOT / "coach" / "routine" / "routines").glob("*.yaml")),
    ]
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        data = _load(text)
        if data is not None:
            out[str(path.relative_to(ROOT))] = data
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for block in _ROUTINE_BLOCK.findall(path.read_text(encoding="utf-8")):
            digest = hashlib.sha256(block.encode()).hexdigest()[:12]
            out[f"{path.relative_to(ROOT)}#{digest}"] = _load(block)
    return out


# -- generated steps --------------------------------------------------------------------------

# A good value of each step key, so that a step of good keys differs only in which keys it has.
GOOD = {
    "exercise": "Neck tilts",
    "breathe": "box",
    "repeat": 2,
    "rest": "15s",
    "say": "Slowly.",
    "brief": "Tilt.",
    "hold": "30s",
    "reps": 10,
    "breaths": 5,
    "tempo": 2,
    "sides": "both",
    "sets": 2,
    "breath": "4-7-8",
    "cues": ["Breathe."],
    "caution": "Gently.",
    "count": True,
    "transition": "5s",
    "cycles": 4,
    "duration": "2m",
    "steps": [{"say": "Again."}],
}
DURATIONS = [0, 0.4, 0.5, 1, 45, 60, 300, 301, 3600, 3601, -1, "0s", "1m30s", "2m", "1h"]
DURATIONS += ["1m30", "45 sec", "abc", "-5s", "", " ", True, None, [1], {"s": 1}, "1.5m"]
PATTERNS = ["box", "Box", " calm ", "4-7-8", "4-4-4-4", "4-0-6", "0-4-4", "4-70-8", "4-7"]
PATTERNS += ["4-x-4", "boxx", "", None, 4, ["4", "7", "8"], "4 - 7 - 8", "60-0-60-60"]
WHOLES = [0, 1, 2, 5, 100, 101, 500, 501, 1000, 1001, -3, 2.5, 3.0, "3", "ten", None, True]
TEXTS = ["x", "", " ", "a" * 101, "a" * 2001, None, 3, True, ["a"], [], ["a", ""], {"a": 1}]
VALUES: dict[str, list] = {
    "exercise": TEXTS,
    "say": TEXTS,
    "brief": TEXTS,
    "caution": TEXTS,
    "cues": TEXTS,
    "hold": DURATIONS,
    "rest": DURATIONS,
    "tempo": DURATIONS,
    "transition": DURATIONS,
    "duration": DURATIONS,
    "reps": WHOLES,
    "breaths": WHOLES,
    "sets": WHOLES,
    "cycles": WHOLES,
    "repeat": WHOLES,
    "breath": PATTERNS,
    "breathe": PATTERNS,
    "sides": ["both", "left", "right", "Both", "bothh", "", None, ["left"], 1],
    "count": [True, False, "yes", "true", 1, 0, None],
    "steps": [[], [{"say": "x"}], [{"rest": 0}], [{"nothing": 1}], "say", None, {"say": "x"}],
}
TOP_VALUES: dict[str, list] = {
    "$schema": TEXTS,
    "title": TEXTS,
    "description": TEXTS,
    "voice": TEXTS,
    "source": TEXTS,
    "safety": TEXTS,
    "tips": TEXTS,
    "alternatives": TEXTS,
    "language": ["en", "en-GB", "de_DE", "yue", "english", "e", "", "en-", 5, None],
    "rate": [79, 80, 165, 450, 451, 150.5, "160", None],
    "pace": [0.24, 0.25, 1, 4, 4.1, "fast", None, True],
    "pitch": [-1, 0, 50, 99, 100, 40.5, None],
    "defaults": [{}, {"hold": "20s"}, {"hold": 0}, {"breath": "boxx"}, {"hodl": 1}, [], None],
    "faq": [[], [{"question": "q", "answer": "a"}], [{"question": "q"}], [{"answer": ""}], {}],
    "pronounce": [{}, {"spinae": "spy nee"}, {"spinae.": "x"}, {"a": "[[x]]"}, {"a": ""}, ["a"]],
}
STEP_KEYS = sorted(GOOD)
KINDS = ("exercise", "breathe", "repeat", "rest", "say")
OWN_KEYS = {
    "exercise": [k for k in STEP_KEYS if k not in ("breathe", "repeat", "cycles", "duration")],
    "breathe": ["breathe", "cycles", "duration", "say"],
    "repeat": ["repeat", "steps", "rest", "say"],
    "rest": ["rest", "say"],
    "say": ["say"],
}


def generated_cases() -> list[object]:
    """Routines, in a fixed order: every kind of step with every set of up to three other keys
    (good values), every key of a step with each of many values, steps without a kind, every
    top-level and defaults key with each of many values, and steps inside a repeat."""
    out: list[object] = []

    def routine(*steps: object, **top: object) -> dict:
        return {"title": "t", "steps": list(steps), **top}

    for kind in KINDS:
        others = [k for k in STEP_KEYS if k != kind]
        # Three other keys for an exercise (its rules tie keys in pairs), two for the rest.
        for size in range(4 if kind == "exercise" else 3):
            for keys in itertools.combinations(others, size):
                out.append(routine({kind: GOOD[kind], **{k: GOOD[k] for k in keys}}))
    # (A key of another kind is refused whatever its value: the sets of keys above cover it.)
    for kind in KINDS:
        for key in OWN_KEYS[kind]:
            for value in VALUES[key]:
                out.append(routine({kind: GOOD[kind], key: value}))
    for key in STEP_KEYS:
        for value in VALUES[key][::3]:
            out.append(routine({"repeat": 2, "steps": [{"exercise": "x", key: value}]}))
    for key in STEP_KEYS:
        if key not in KINDS:
            out.append(routine({key: GOOD[key]}))
    out += [routine("Let's begin."), routine(None), routine(["say"]), routine({})]
    for key, values in TOP_VALUES.items():
        out += [routine({"say": "x"}, **{key: value}) for value in values]
    for key in ("hold", "rest", "transition", "tempo", "breath"):
        for value in VALUES["breath" if key == "breath" else key]:
            out.append(routine({"say": "x"}, defaults={key: value}))
    out += [{"title": "t"}, {"steps": [{"say": "x"}]}, {"title": "t", "steps": []}, [], "t"]
    return out


def _digest(cases: list[object]) -> str:
    return hashlib.sha256(json.dumps(cases, sort_keys=True).encode()).hexdigest()


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text("utf-8")))


@functools.cache
def file_verdicts() -> dict[str, bool]:
    validator = _validator()
    return {name: validator.is_valid(data) for name, data in sorted(file_cases().items())}


@functools.cache
def generated_verdicts() -> dict:
    validator = _validator()
    generated = generated_cases()
    return {
        "count": len(generated),
        "sha256": _digest(generated),
        # one character per case, in order: 1 accepted, 0 refused
        "verdicts": "".join("1" if validator.is_valid(d) else "0" for d in generated),
    }


def verdicts() -> dict:
    """The current schema's verdicts, in the form the golden file keeps."""
    return {"files": file_verdicts(), "generated": generated_verdicts()}


# -- the tests --------------------------------------------------------------------------------


def _recorded() -> dict:
    return json.loads(VERDICTS.read_text(encoding="utf-8"))


def test_the_recorded_cases_are_these_cases():
    recorded = _recorded()
    assert sorted(recorded["files"]) == sorted(file_cases()), (
        "routine files were added or changed since the verdicts were recorded; check the "
        "schema's verdict on them, then record (see this module's docstring)"
    )
    generated = generated_cases()
    assert recorded["generated"]["count"] == len(generated)
    assert recorded["generated"]["sha256"] == _digest(generated)


def test_the_schema_gives_the_recorded_verdicts_on_routine_files():
    recorded = _recorded()["files"]
    changed = [name for name, ok in file_verdicts().items() if recorded.get(name) != ok]
    assert not changed, f"the schema's verdict changed on: {changed}"


@pytest.mark.slow  # about 5 s: thousands of validations
def test_the_schema_gives_the_recorded_verdicts_on_generated_routines():
    generated = generated_cases()
    was, got = _recorded()["generated"]["verdicts"], generated_verdicts()["verdicts"]
    assert len(was) == len(got) == len(generated)
    flipped = [json.dumps(generated[i]) for i, (a, b) in enumerate(zip(was, got)) if a != b]
    assert not flipped, f"{len(flipped)} verdicts changed, e.g. {flipped[:5]}"


def test_the_cases_include_both_verdicts():
    recorded = _recorded()
    assert set(recorded["files"].values()) == {True, False}
    assert set(recorded["generated"]["verdicts"]) == {"0", "1"}
    # The routines we ship are among them, and accepted.
    builtin = [n for n in recorded["files"] if n.startswith("coach/routine/routines/")]
    assert len(builtin) >= 4
    assert all(recorded["files"][n] for n in builtin)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(__doc__)
    VERDICTS.write_text(json.dumps(verdicts(), indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"recorded {VERDICTS.relative_to(ROOT)}")
