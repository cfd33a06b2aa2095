"""Bad routines get a clear error and nothing else: every problem at once, each at its line.

The corpus in tests/corpus/bad has one file per kind of mistake; expected.txt holds the exact
lines `coach validate` prints for each. They are checked through the library here, and a few
through the real command line, which must exit 2 with those lines on stderr and no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from coach.errors import RoutineError
from coach.routine import yamlnodes
from coach.routine.parser import load_routine, parse_routine
from coach.routine.yamlnodes import MAX_FILE_BYTES
from tests.support import ROOT

CORPUS = ROOT / "tests" / "corpus" / "bad"
BUILTIN = ROOT / "coach" / "routine" / "routines" / "upper-back-release.yaml"
LINE = re.compile(r"^[^:\n]+:\d+:\d+: error: [^\n]+$")


def _expected() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for line in (CORPUS / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            groups.setdefault(line.split(":", 1)[0], []).append(line)
    return groups


EXPECTED = _expected()
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.txt")


def problems(path: Path, shown: str) -> list[str]:
    with pytest.raises(RoutineError) as info:
        load_routine(path, shown)
    return info.value.lines()


# -- the corpus, through the library -----------------------------------------------------------


def test_every_corpus_file_has_expected_lines_and_every_expectation_a_file():
    assert sorted(EXPECTED) == FILES


@pytest.mark.parametrize("name", FILES)
def test_bad_routine_reports_exactly_its_problems(name):
    lines = problems(CORPUS / name, name)
    assert lines == EXPECTED[name]
    assert all(LINE.match(line) for line in lines)


def test_every_problem_of_a_file_is_reported_in_one_run_in_file_order():
    lines = problems(CORPUS / "several-problems.yaml", "several-problems.yaml")
    assert len(lines) == 4
    places = [tuple(int(n) for n in line.split(":")[1:3]) for line in lines]
    assert places == sorted(places)


# -- problems of the file as a whole (made here, not committed) ---------------------------------


def test_missing_file(tmp_path):
    assert problems(tmp_path / "gone.yaml", "gone.yaml") == ["gone.yaml: error: no such file"]


def test_directory(tmp_path):
    assert problems(tmp_path, "routines") == ["routines: error: is a directory, not a routine file"]


def test_file_over_one_mib_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("title: x\nsteps:\n  - say: hi\n" + "# padding\n" * 160_000)
    assert problems(big, "big.yaml") == [
        "big.yaml: error: file is 1.6 MiB; a routine file may be at most 1 MiB"
    ]
    # one byte over the limit must not read as "1 MiB; may be at most 1 MiB"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert problems(big, "big.yaml") == [
        "big.yaml: error: file is 1.1 MiB; a routine file may be at most 1 MiB"
    ]


def test_file_of_exactly_one_mib_is_read(tmp_path):
    head = "title: Padded\nsteps:\n  - say: hi\n"
    path = tmp_path / "full.yaml"
    path.write_text(head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_routine(path).title == "Padded"


# -- attacks and limits: refused, quickly, with a message that names the cause -------------------


def test_python_tags_run_nothing(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the loader ran a command")

    monkeypatch.setattr(os, "system", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)
    text = "title: !!python/object/apply:os.system ['echo pwned']\nsteps:\n  - say: hi\n"
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "t.yaml")
    assert "!!python/object/apply:os.system" in info.value.lines()[0]


@pytest.mark.parametrize("levels", [9, 40])
def test_alias_bomb_is_refused_whatever_its_size(levels):
    # 9 levels stand for 9**9 values; 40 for 9**40, which no machine could hold.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    text = "\n".join(["title: x", *lines, "steps:", f"  - say: *a{levels - 1}", ""])
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "bomb.yaml")
    assert len(info.value.lines()) == 1
    assert "aliases expand this value" in info.value.lines()[0]


def test_aliases_that_chain_deeper_than_the_nesting_limit_do_not_recurse():
    # Each anchor nests 50 deep around the one before: 40 of them stand for 2,000 levels,
    # twice Python's recursion limit, in fewer values than the expansion limit.
    lines = ["title: x", "n0: &n0 x"]
    for i in range(1, 40):
        lines.append(f"n{i}: &n{i} " + "[" * 50 + f"*n{i - 1}" + "]" * 50)
    text = "\n".join([*lines, "steps:", "  - say: hi", ""])
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "chain.yaml")
    assert all("unknown key 'n" in line for line in info.value.lines())


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000,
        "{a: " * 10_000 + "1" + "}" * 10_000,
        "".join(" " * i + "a:\n" for i in range(2_000)),
        "".join(" " * i + "- \n" for i in range(2_000)),
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings", "block-lists"],
)
def test_deep_nesting_is_refused_without_recursion_error(text):
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "deep.yaml")
    assert "nested more than 64 levels deep" in info.value.lines()[0]


def test_a_big_file_without_aliases_is_not_blamed_on_aliases(monkeypatch):
    monkeypatch.setattr(yamlnodes, "MAX_EXPANDED_VALUES", 1000)  # 200,000 takes seconds
    text = "title: x\nsteps: [" + "a, " * 1001 + "]\n"
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "big.yaml")
    assert info.value.lines() == [
        "big.yaml:2:8: error: this value holds more than 1000 values, far more than a routine "
        "needs; check that this is the right file"
    ]


def test_a_flood_of_problems_is_cut_short():
    text = "title: x\nsteps: [{say: hi}]\n" + "".join(f"extra{i}: 1\n" for i in range(500))
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "t.yaml")
    lines = info.value.lines()
    assert len(lines) == 51
    assert lines[0].startswith("t.yaml:3:1: error: unknown key 'extra0' in the routine")
    assert lines[-1] == (
        "t.yaml:53:1: error: 450 more problems from here on are not shown; fix the ones above "
        "first (is this the right file?)"
    )


def test_shared_values_report_their_problem_once():
    text = "title: x\nsteps:\n  - say: &w [[a]]\n  - say: *w\n  - say: *w\n"
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "t.yaml")
    assert info.value.lines() == [
        "t.yaml:3:14: error: each item of 'say' must be text, found a list"
    ]


def test_messages_quote_values_on_one_line():
    text = "title: x\nsteps:\n  - exercise: a\n    hold: |\n      30\n      seconds\n"
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "t.yaml")
    assert info.value.lines() == [
        "t.yaml:4:11: error: 'hold' must be a duration such as 45, 45s, 1m30s or 2m, "
        "found text '30\\nseconds\\n'; did you mean '30s'?"
    ]


# -- through the real command line ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "several-problems.yaml",
        "syntax-tab-indentation.yaml",
        "not-utf8-latin1.yaml",
        "utf16-bom.yaml",
        "control-character.yaml",
        "python-tag.yaml",
        "alias-billion-laughs.yaml",
        "deep-nesting.yaml",
        "number-too-many-digits.yaml",
    ],
)
def test_cli_validate_prints_exactly_the_problems_and_exits_2(name, run_coach):
    result = run_coach("validate", name, cwd=CORPUS)
    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "".join(line + "\n" for line in EXPECTED[name])


def test_cli_validate_reports_the_problems_of_several_files_in_one_run(run_coach):
    names = ["unknown-key-top.yaml", "empty.yaml", "syntax-unclosed-quote.yaml"]
    result = run_coach("validate", *names, cwd=CORPUS)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "".join(line + "\n" for n in names for line in EXPECTED[n])


def test_cli_validate_reports_missing_files_directories_and_big_files(tmp_path, run_coach):
    (tmp_path / "folder").mkdir()
    (tmp_path / "big.yaml").write_bytes(b"# padding\n" * 150_000)
    result = run_coach("validate", "gone.yaml", "folder", "big.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "gone.yaml: error: no such file\n"
        "folder: error: is a directory, not a routine file\n"
        "big.yaml: error: file is 1.5 MiB; a routine file may be at most 1 MiB\n"
    )


def test_cli_validate_good_file_prints_ok_and_exits_0(run_coach):
    result = run_coach("validate", str(BUILTIN), cwd=ROOT)
    assert (result.returncode, result.stderr) == (0, "")
    assert re.fullmatch(rf"{re.escape(str(BUILTIN))}: ok, \d+ steps, \d+:\d\d\n", result.stdout)


def test_cli_validate_good_and_bad_files_together(tmp_path, run_coach):
    good = tmp_path / "good.yaml"
    good.write_bytes(BUILTIN.read_bytes())
    bad = tmp_path / "bad.yaml"
    bad.write_bytes((CORPUS / "tempo-on-hold.yaml").read_bytes())
    result = run_coach("validate", "good.yaml", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert re.fullmatch(r"good\.yaml: ok, \d+ steps, \d+:\d\d\n", result.stdout)
    expected = [
        line.replace("tempo-on-hold.yaml", "bad.yaml", 1) for line in EXPECTED["tempo-on-hold.yaml"]
    ]
    assert result.stderr == "".join(line + "\n" for line in expected)
