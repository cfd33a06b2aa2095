"""The routine schema says what the loader says: same keys, same limits, same grammar.

Editors check routines with coach/routine/routine.schema.json, coach checks them with
coach/routine/parser.py; a routine that one accepts and the other refuses is a bug in one of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, strategies as st
from typer.testing import CliRunner

from coach.cli import app
from coach.errors import RoutineError
from coach.routine import model as loader
from coach.routine.library import schema_path
from coach.routine.parser import parse_routine
from coach.routine.schema import build_schema, schema_text
from coach.values import NAMED_PATTERNS, parse_duration, parse_pattern

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "coach" / "routine" / "routine.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BUILTIN = sorted((ROOT / "coach" / "routine" / "routines").glob("*.yaml"))
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
_ROUTINE_BLOCK = re.compile(r"^```yaml routine[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def resolve(node: dict) -> dict:
    """A subschema with a local $ref followed (its own keys win, as editors do)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def step_kinds() -> dict[str, dict]:
    """kind -> the schema of that kind of step, found through $defs/step's anyOf."""
    kinds = {}
    for branch in SCHEMA["$defs"]["step"]["anyOf"]:
        sub = resolve(branch)
        (kind,) = [k for k in sub["required"] if k in loader.KINDS]
        kinds[kind] = sub
    return kinds


def schema_ok(data) -> bool:
    return VALIDATOR.is_valid(data)


def loader_ok(text: str) -> bool:
    try:
        parse_routine(text, "t.yaml")
    except RoutineError:
        return False
    return True


def routine_blocks() -> list[tuple[str, str]]:
    """(where, text) for each ```yaml routine block in docs/*.md and README.md."""
    out = []
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for m in _ROUTINE_BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{path.relative_to(ROOT)}:{line}", m.group(1)))
    return out


# -- (a) a valid schema -----------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "https://coach.invalid/routine-v1.schema.json"
    assert SCHEMA["title"]


def test_the_library_finds_this_file():
    assert schema_path().resolve() == SCHEMA_FILE.resolve()


def test_the_file_is_what_the_generator_writes():
    # coach/routine/schema.py builds the schema from the loader's tables; the file is its output.
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "routine.schema.json is out of date: .venv/bin/python -m coach.routine.schema"
    )


def test_the_generator_refuses_a_key_it_does_not_describe(monkeypatch):
    monkeypatch.setattr("coach.routine.schema.TOP_KEYS", (*loader.TOP_KEYS, "volume"))
    with pytest.raises(ValueError, match=r"missing \[\('routine', 'volume'\)\]"):
        build_schema()


# -- shaped for editors (yaml-language-server; see coach/routine/schema.py) ---------------------


def _nodes(node, path="#"):
    """(path, subschema) for every schema object in the file."""
    if isinstance(node, dict):
        yield path, node
        for key, sub in node.items():
            if key not in ("examples", "default", "defaultSnippets", "enum"):
                yield from _nodes(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _nodes(sub, f"{path}/{i}")


def test_no_ref_has_siblings():
    # A $ref beside other keywords: the editor shows the target's description instead of the
    # key's own, and (1.25+) completes the key without its ': '.
    refs = [(p, n) for p, n in _nodes(SCHEMA) if "$ref" in n]
    assert refs
    for path, node in refs:
        assert set(node) == {"$ref"}, path


def test_shared_definitions_have_no_description():
    for name, node in SCHEMA["$defs"].items():
        assert "description" not in node, name


def test_no_oneof_and_no_not_outside_a_condition():
    # oneOf stops step kinds completing; `not` reports on the step's first line, not the key.
    for path, node in _nodes(SCHEMA):
        assert "oneOf" not in node, path
        if "not" in node:
            assert path.endswith("/if"), path


def test_rules_between_keys_name_the_key_coach_points_at():
    rules = [n for _, n in _nodes(SCHEMA) if "if" in n and "else" not in n]
    assert len(rules) >= 8
    for rule in rules:
        assert set(rule["then"]["properties"].values()) == {False}
        assert rule["then"]["errorMessage"]


def _filled(body):
    """A snippet's body with each placeholder ${n:text} replaced by its text."""
    text = json.dumps(body)
    return json.loads(re.sub(r"\$\{\d+:([^}]*)\}", r"\1", text))


def test_the_snippets_are_valid_routines():
    (routine,) = SCHEMA["defaultSnippets"]
    data = _filled(routine["body"])
    assert schema_ok(data)
    parse_routine(yaml.safe_dump(data, sort_keys=False), "snippet.yaml")
    steps = SCHEMA["$defs"]["step"]["defaultSnippets"]
    assert {next(iter(s["body"])) for s in steps} == set(loader.KINDS)
    for snippet in steps:
        data = _step(**_filled(snippet["body"]))
        assert schema_ok(data), snippet["label"]
        parse_routine(yaml.safe_dump(data, sort_keys=False), "snippet.yaml")


# -- (b) the same keys as the loader's tables ---------------------------------------------------


def test_top_level_keys_are_the_loaders():
    assert set(SCHEMA["properties"]) == set(loader.TOP_KEYS)
    assert SCHEMA["additionalProperties"] is False
    assert set(SCHEMA["required"]) == {"title", "steps"}


def test_defaults_keys_are_the_loaders():
    defaults = resolve(SCHEMA["properties"]["defaults"])
    assert set(defaults["properties"]) == set(loader.DEFAULTS_KEYS)
    assert defaults["additionalProperties"] is False


def test_step_kinds_and_their_keys_are_the_loaders():
    kinds = step_kinds()
    assert set(kinds) == set(loader.KINDS) == set(loader.STEP_KEYS)
    for kind, sub in kinds.items():
        assert set(sub["properties"]) == set(loader.STEP_KEYS[kind]), kind
        assert sub["additionalProperties"] is False, kind
    # The step says "object" once, for every kind (so a step written as text gets one message).
    assert SCHEMA["$defs"]["step"]["type"] == "object"


def _properties(node, where="", seen=None):
    """(where, property schema) for every key the schema describes, through $refs."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        if "$ref" in node:
            if node["$ref"] in seen:
                return
            seen.add(node["$ref"])
            yield from _properties(resolve(node), where, seen)
            return
        for key, sub in node.get("properties", {}).items():
            yield f"{where}.{key}", sub
            yield from _properties(sub, f"{where}.{key}", seen)
        for keyword in ("items", "anyOf", "oneOf", "allOf"):
            subs = node.get(keyword)
            for sub in subs if isinstance(subs, list) else [subs] if subs else []:
                yield from _properties(sub, where, seen)


def test_every_key_has_a_description_with_an_example():
    found = list(_properties(SCHEMA))
    assert len(found) >= len(loader.TOP_KEYS) + len(loader.DEFAULTS_KEYS) + 20
    for where, sub in found:
        description = sub.get("description", "")
        assert "Example:" in description, f"{where} needs a description with an example"


def test_builtin_routines_name_the_schema_in_a_modeline():
    for path in BUILTIN:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../routine.schema.json", path.name
        assert (path.parent / "../routine.schema.json").resolve() == SCHEMA_FILE.resolve()


# -- the same limits as the loader ------------------------------------------------------------


def _step(**keys):
    return {"title": "t", "steps": [keys]}


def _seconds(ms: int):
    s = ms / 1000
    return int(s) if s.is_integer() else s


# (what, routine with the value in place, (lowest, highest), kind of value)
LIMITS = [
    ("defaults.hold", lambda v: {**_step(say="x"), "defaults": {"hold": v}}, loader.HOLD_MS),
    ("defaults.rest", lambda v: {**_step(say="x"), "defaults": {"rest": v}}, loader.REST_MS),
    (
        "defaults.transition",
        lambda v: {**_step(say="x"), "defaults": {"transition": v}},
        loader.TRANSITION_MS,
    ),
    ("defaults.tempo", lambda v: {**_step(say="x"), "defaults": {"tempo": v}}, loader.TEMPO_MS),
    ("exercise.hold", lambda v: _step(exercise="x", hold=v), loader.HOLD_MS),
    ("exercise.tempo", lambda v: _step(exercise="x", reps=2, tempo=v), loader.TEMPO_MS),
    ("exercise.rest", lambda v: _step(exercise="x", sets=2, rest=v), loader.REST_MS),
    ("exercise.transition", lambda v: _step(exercise="x", transition=v), loader.TRANSITION_MS),
    # a rest step lasts at least a second (coach/routine/parser.py Parser._rest)
    ("rest.rest", lambda v: _step(rest=v), (1000, loader.REST_MS[1])),
    ("breathe.duration", lambda v: _step(breathe="box", duration=v), loader.BREATHE_MS),
    ("repeat.rest", lambda v: _step(repeat=2, rest=v, steps=[{"say": "x"}]), loader.REST_MS),
]
WHOLE_LIMITS = [
    ("rate", lambda v: {**_step(say="x"), "rate": v}, loader.RATE_WPM),
    ("exercise.reps", lambda v: _step(exercise="x", reps=v), loader.REPS),
    ("exercise.breaths", lambda v: _step(exercise="x", breaths=v), loader.BREATHS),
    ("exercise.sets", lambda v: _step(exercise="x", sets=v), loader.SETS),
    ("breathe.cycles", lambda v: _step(breathe="box", cycles=v), loader.BREATHS),
    ("repeat.repeat", lambda v: _step(repeat=v, steps=[{"say": "x"}]), loader.TIMES),
]


def _cases():
    for what, make, (lo, hi) in LIMITS:
        below = _seconds(lo) - 0.1 if lo else -1
        yield from ((what, make, v) for v in (_seconds(lo), _seconds(hi), below, _seconds(hi) + 1))
    for what, make, (lo, hi) in WHOLE_LIMITS:
        yield from ((what, make, v) for v in (lo, hi, lo - 1, hi + 1))
    lo, hi = loader.PACE
    make = lambda v: {**_step(say="x"), "pace": v}  # noqa: E731
    yield from (("pace", make, v) for v in (lo, hi, lo - 0.05, hi + 0.5))


@pytest.mark.parametrize(("what", "make", "value"), list(_cases()))
def test_numeric_limits_are_the_loaders(what, make, value):
    data = make(value)
    text = yaml.safe_dump(data, sort_keys=False)
    assert schema_ok(data) == loader_ok(text), f"{what}: {value!r}"


def test_the_limits_cases_include_both_answers():
    answers = {loader_ok(yaml.safe_dump(make(v))) for _, make, v in _cases()}
    assert answers == {True, False}


# -- (c) every routine we ship or show --------------------------------------------------------


def _check_routine(where: str, text: str) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in VALIDATOR.iter_errors(yaml.safe_load(text))
    ]
    assert not errors, f"{where} does not validate against the schema: {errors}"
    parse_routine(text, where)  # raises RoutineError with line:col on a problem


@pytest.mark.parametrize("path", BUILTIN, ids=lambda p: p.name)
def test_builtin_routines_validate_and_load(path):
    assert BUILTIN
    _check_routine(path.name, path.read_text(encoding="utf-8"))


def test_docs_show_routine_examples():
    wheres = [w.split(":")[0] for w, _ in routine_blocks()]
    assert "README.md" in wheres
    assert "docs/routine-format.md" in wheres


@pytest.mark.parametrize(("where", "text"), routine_blocks(), ids=lambda v: str(v)[:40])
def test_routine_examples_in_docs_validate_and_load(where, text):
    _check_routine(where, text)


# Problems both must find, each at a place the schema can express.
REFUSED = [
    {"title": "t"},
    {"title": "t", "steps": []},
    {"steps": [{"say": "x"}]},
    {"title": "", "steps": [{"say": "x"}]},
    {"title": "t", "steps": [{"say": "x"}], "tempo": 3},
    _step(exercise="x", hodl="30s"),
    _step(exercise="x", sides="both sides"),
    _step(exercise="x", hold="30s", reps=3),
    _step(exercise="x", reps=3, breaths=3),
    _step(exercise="x", hold="30s", tempo="3s"),
    _step(exercise="x", count=True),
    _step(exercise="x", reps=3, cues="Slowly."),
    _step(exercise="x", breaths=3, cues="Slowly."),
    _step(exercise="x", reps=3, breath="box"),
    _step(exercise="x", count="yes please"),
    _step(exercise="x", say=[]),
    _step(exercise="x", say=["ok", ""]),
    _step(exercise="x", rest="15s", breathe="box"),
    _step(rest="15s", say="x", hold="3s"),
    _step(say=None),
    _step(breathe="box", cycles=3, duration="1m"),
    _step(breathe="4-7"),
    _step(repeat=2),
    _step(repeat=2, steps=[]),
    _step(nothing="x"),
    {**_step(say="x"), "language": "english"},
    {**_step(say="x"), "defaults": {"breath": "fast"}},
    {**_step(say="x"), "safety": []},
    {**_step(say="x"), "pronounce": ["spinae"]},
    {**_step(say="x"), "pronounce": {"spinae": ""}},
    {**_step(say="x"), "pronounce": {"spinae": "[[sp'aIni:]]"}},
    {**_step(say="x"), "pronounce": {"spinae.": "spy nee"}},
    {**_step(say="x"), "pronounce": {"one two three four five six": "x"}},
]
ACCEPTED = [
    _step(say="x"),
    _step(say=["a", "b"]),
    _step(exercise="x"),
    _step(exercise="x", cues="Slowly."),
    _step(exercise="x", hold="30s", cues=["a", "b"], breath="4-7-8", sides="left"),
    _step(exercise="x", breath="box"),
    _step(exercise="x", breaths=4, breath="coherent", sides="both", sets=2, rest=0),
    _step(exercise="x", reps=10, tempo=2.5, count=True, transition="10s", caution="Gently."),
    _step(rest=15),
    _step(breathe=None),
    _step(breathe="Box", duration="2m", say="Eyes closed."),
    _step(repeat=2, rest="30s", say="Twice.", steps=[{"repeat": 2, "steps": [{"rest": 5}]}]),
    {
        **_step(say="x"),
        "language": "en-GB",
        "rate": 150,
        "pace": 1.5,
        "voice": "v",
        "description": "d",
        "safety": "Gently.",
        "$schema": "./routine.schema.json",
        "defaults": {"hold": "20s", "rest": 0, "transition": "5s", "tempo": 3, "breath": "calm"},
    },
    {**_step(say="x"), "pronounce": {}},
    {**_step(say="x"), "pronounce": {"spinae": "spy nee", "erector spinae": "e-rector spy nee"}},
    {**_step(say="x"), "pronounce": {"child's": "chyld's", "cat-cow": "cat cow"}},
]


@pytest.mark.parametrize("data", REFUSED)
def test_both_refuse(data):
    assert not schema_ok(data)
    assert not loader_ok(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("data", ACCEPTED)
def test_both_accept(data):
    assert schema_ok(data), list(VALIDATOR.iter_errors(data))
    parse_routine(yaml.safe_dump(data, sort_keys=False), "t.yaml")


# -- (d) durations and breath patterns: the same grammar -----------------------------------------

GOOD_DURATIONS = [
    "45",
    "45s",
    "1m30s",
    "2m",
    "1.5m",
    "1h",
    "1h5m",
    "1h2m3s",
    "1h30s",
    " 45 s ",
    "1 m 30 s",
    "0.5",
    "90s",
    "007",
    "1.25s",
    "2m0s",
]
BAD_DURATIONS = [
    "",
    " ",
    "s",
    "m",
    "h",
    "45x",
    "45sec",
    "1.s",
    ".5s",
    "1s30m",
    "30s1m",
    "1m 30",
    "-5",
    "+5",
    "5-",
    "1,5s",
    "1e3",
    "1hh",
    "1m1m",
    "1 2s",
    "45 seconds",
    "1:30",
    "ms",
    "5ms",
]


def duration_ok(text: str) -> bool:
    """What the schema says of a duration written as text (range limits do not apply)."""
    return schema_ok({**_step(say="x"), "defaults": {"rest": text}})


@pytest.mark.parametrize("text", GOOD_DURATIONS + BAD_DURATIONS)
def test_duration_grammar_is_parse_durations(text):
    expected = text in GOOD_DURATIONS
    assert (parse_duration(text) is not None) == expected
    assert duration_ok(text) == expected


@given(st.text(alphabet="0123456789.hms -", max_size=14))
def test_duration_grammar_agrees_on_any_text(text):
    assert duration_ok(text) == (parse_duration(text) is not None)


GOOD_PATTERNS = [
    "4-7-8",
    "4-4-4-4",
    "4-0-6",
    "4-0-6-0",
    "5-0-5",
    " 4 - 7 - 8 ",
    "4.5-0-6.5",
    "0.5-0-0.5",
    "60-60-60-60",
    "60.0-0-4",
    "007-0-8",
    "box",
    "relax",
    "calm",
    "coherent",
    "Box",
    " CALM ",
    "4-7-8-0",
]
BAD_PATTERNS = [
    "",
    "4",
    "4-7",
    "4-7-8-9-1",
    "0-4-4",
    "4-4-0",
    "0.0-1-1",
    "4-61-8",
    "61-0-4",
    "60.5-0-4",
    "4-7-8-",
    "-4-7-8",
    "4--7-8",
    "4-7-8s",
    "4_7_8",
    "boxx",
    "square",
    "4 7 8",
    "4.-7-8",
    ".5-0-4",
    "4-0-100",
]


def pattern_ok(text) -> bool:
    return schema_ok({**_step(say="x"), "defaults": {"breath": text}})


@pytest.mark.parametrize("text", GOOD_PATTERNS + BAD_PATTERNS)
def test_breath_pattern_grammar_is_parse_patterns(text):
    expected = text in GOOD_PATTERNS
    assert (not isinstance(parse_pattern(text), str)) == expected
    assert pattern_ok(text) == expected


_phase = st.one_of(
    st.integers(0, 99).map(str),
    st.builds(
        lambda i, f: f"{i}.{f}", st.integers(0, 99), st.from_regex(r"[0-9]{1,3}", fullmatch=True)
    ),
)
_dash = st.sampled_from(["-", " - ", "- ", " -"])


@given(st.lists(_phase, min_size=1, max_size=5), _dash)
def test_breath_pattern_grammar_agrees_on_numbers(phases, dash):
    # Up to three decimals (a millisecond): finer than that, the loader rounds.
    text = dash.join(phases)
    assert pattern_ok(text) == (not isinstance(parse_pattern(text), str)), text


def test_named_patterns_are_offered_for_completion():
    # As examples, which editors offer, not as an enum, which editors would name as the only
    # values allowed when a pattern such as 4-x-4 is wrong.
    for where, sub in _properties(SCHEMA):
        if where.rsplit(".", 1)[-1] in ("breath", "breathe"):
            assert sub["examples"][: len(NAMED_PATTERNS)] == list(NAMED_PATTERNS), where
            assert "enum" not in sub and "anyOf" not in sub, where


# -- (e) `coach schema` prints this file --------------------------------------------------------


def test_coach_schema_prints_the_file_through_clirunner():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_coach_schema_prints_the_file_through_python_m_coach():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "coach", "schema"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == SCHEMA_FILE.read_bytes()
    assert done.stderr == b""
