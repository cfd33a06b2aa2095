"""Routines are parsed by libyaml (PyYAML's C parser) where PyYAML has it, and read exactly as
PyYAML's own parser reads them: the same nodes, tags, styles and line:column marks, and for a
text libyaml refuses, PyYAML's parser says why, so every problem keeps its words and place.

Each text is composed both ways and compared: the corpus of bad routines, the built-in ones,
the YAML test suite (slow) and fuzzed texts from test_fuzz_loader's strategies.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from coach.errors import RoutineError
from coach.routine import yamlnodes
from coach.routine.parser import parse_routine
from tests.support import ROOT
from tests.test_fuzz_loader import (
    FUZZ,
    KEYWORDS,
    NUMBERS,
    ODD,
    ROUTINE_TEXT,
    mutated,
    routine_data,
)
from tests.test_yaml_suite import FILES as SUITE_FILES, SUITE

CORPUS = ROOT / "tests" / "corpus" / "bad"
BUILTINS = ROOT / "coach" / "routine" / "routines"
TEXTS = sorted([p for p in CORPUS.iterdir() if p.suffix == ".yaml"] + list(BUILTINS.glob("*.yaml")))


def _tree(node: yaml.Node, seen: dict[int, int]) -> object:
    """Everything a node carries that coach reads (a node met again, through an alias, by
    its number: the billion laughs stay small)."""
    if id(node) in seen:
        return ("again", seen[id(node)])
    seen[id(node)] = len(seen)
    # Start marks only: coach reads no end mark, and libyaml ends a block collection that
    # ends the text on the line after it, where PyYAML ends it at the end of the text.
    marks = (node.start_mark.line, node.start_mark.column, node.start_mark.index)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    kind = "map" if isinstance(node, yaml.MappingNode) else "seq"
    if isinstance(node, yaml.MappingNode):
        children = [(_tree(k, seen), _tree(v, seen)) for k, v in node.value]
    else:
        children = [_tree(item, seen) for item in node.value]
    # A list in block style not indented under its key: PyYAML's flow_style is None there,
    # libyaml's False; both mean block style (coach reads only whether it is flow).
    return (kind, node.tag, bool(node.flow_style), marks, children)


def _python(text: str) -> object:
    try:
        node = yamlnodes._compose(text, "x.yaml").node
    except RoutineError as e:
        return ("refused", e.lines())
    return None if node is None else _tree(node, {})


def check_same_nodes(text: str) -> bool:
    """libyaml's nodes equal PyYAML's; False when libyaml refuses (PyYAML then reads it)."""
    try:
        node = yamlnodes._compose_with_libyaml(text).node
    except yamlnodes._Refused:
        return False
    assert (None if node is None else _tree(node, {})) == _python(text)
    return True


def check_same_problems(text: str, monkeypatch) -> None:
    """What parse_routine says of `text` is the same with libyaml and without it."""

    def lines() -> list[str] | str:
        try:
            return repr(parse_routine(text, "x.yaml"))
        except RoutineError as e:
            return e.lines()

    with_libyaml = lines()
    with monkeypatch.context() as m:
        m.setattr(yamlnodes, "LIBYAML", False)
        assert lines() == with_libyaml


def test_pyyaml_here_has_libyaml():
    # Without it every test below passes by comparing PyYAML's parser with itself.
    assert yamlnodes.LIBYAML


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_libyaml_gives_pythons_nodes_and_problems(path, monkeypatch):
    text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")  # the odd ones too
    parsed = check_same_nodes(text)
    if path.parent == BUILTINS:
        assert parsed  # the routines coach ships are read by libyaml
    check_same_problems(text, monkeypatch)


def test_a_valid_routine_is_not_read_twice(monkeypatch):
    def refused(text, path):
        raise AssertionError("PyYAML's parser was asked")

    monkeypatch.setattr(yamlnodes, "_compose", refused)
    parse_routine((BUILTINS / "upper-back-release.yaml").read_text(encoding="utf-8"), "x.yaml")


def test_marks_count_characters_and_yaml_line_breaks():
    text = (
        "title: 'é😀'\r\nsteps:\x85  - say: [é, ü]\r  - say: é😀 x\u2028  - x: 'y'\u2029  - z: 1\n"
    )
    assert check_same_nodes(text)


@pytest.mark.parametrize(
    "text",
    [
        "title: 'never closed\n",  # libyaml's words differ from PyYAML's
        "a: \x07\n",  # a control character
        'a: "\\ud800"\n',  # an escaped lone surrogate, which libyaml refuses
        "a: \ud800\n",  # a raw one, which cannot be handed to libyaml at all
        "- " * 70 + "x\n",  # past MAX_DEPTH
        "[" * 2000 + "]" * 2000,  # past libyaml's own limit
        "a: 1\n---\nb: 2\n",  # a second document
        "a: *nothing\n",  # an undefined alias
    ],
)
def test_a_text_libyaml_refuses_gets_pythons_problem(text, monkeypatch):
    check_same_nodes(text)
    check_same_problems(text, monkeypatch)


@pytest.mark.slow  # 400 files, each composed three times
@pytest.mark.skipif(not SUITE_FILES, reason=f"the YAML test suite is not at {SUITE}")
@pytest.mark.parametrize("name", SUITE_FILES)
def test_yaml_suite_libyaml_gives_pythons_nodes_and_problems(name, monkeypatch):
    text = (SUITE / name).read_text(encoding="utf-8", errors="surrogateescape")
    check_same_nodes(text)
    check_same_problems(text, monkeypatch)


@FUZZ
@given(st.text())
def test_any_text_libyaml_reads_gives_pythons_nodes(text):
    check_same_nodes(text)


@FUZZ
@given(mutated(ROUTINE_TEXT))
def test_mutated_routine_libyaml_reads_gives_pythons_nodes(text):
    check_same_nodes(text)


@FUZZ
@given(st.lists(st.sampled_from(ODD + NUMBERS + [f"{k}:" for k in KEYWORDS]), max_size=40))
def test_token_soup_libyaml_reads_gives_pythons_nodes(tokens):
    check_same_nodes("".join(tokens))


@pytest.mark.slow  # as test_fuzz_loader's: thousands of parses
@FUZZ
@given(routine_data, st.booleans(), st.booleans())
def test_routines_built_from_the_format_keys_libyaml_gives_pythons_nodes(data, flow, unicode):
    check_same_nodes(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode))


def _items(n: int) -> str:
    return "[" + ", ".join(f"v{i}" for i in range(n)) + "]"


@pytest.mark.parametrize(
    "text",
    [
        f"a: {_items(60)}\nb: {_items(60)}\n",  # two values too big: the last is reported
        f"a: {{b: {_items(61)}, c: [x]}}\nd: {_items(10)}\n",
        f"steps:\n  - say: {_items(30)}\n  - say: {_items(30)}\n",  # too big only together
        f"a: {_items(40)}\n",
    ],
)
def test_values_are_counted_as_the_walk_over_the_tree_counts_them(text, monkeypatch):
    # Without aliases the composer measures the tree as it goes; `_check_aliases` is the
    # reference, and says the same of every text.
    monkeypatch.setattr(yamlnodes, "MAX_EXPANDED_VALUES", 50)

    def said(compose) -> list[str]:
        try:
            compose()
        except RoutineError as e:
            return e.lines()
        return []

    for libyaml in (True, False):
        monkeypatch.setattr(yamlnodes, "LIBYAML", libyaml)
        node = yamlnodes._compose(text, "x.yaml").node
        assert node is not None
        walked = said(lambda node=node: yamlnodes._check_aliases(node, "x.yaml"))
        assert said(lambda: yamlnodes.compose(text, "x.yaml")) == walked
    assert walked or text.startswith("a: [v0")
