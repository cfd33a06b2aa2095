"""What a routine author sees in an editor, through the real engine: yaml-language-server (the
server behind the YAML support of VS Code, Neovim and most editors), driven over LSP by
tests/lsp.py with coach's schema, as an editor set up as docs/routine-format.md says would.

scripts/test installs the server into .venv/node (scripts/_bootstrap.sh). Without it these
tests are skipped, and fail under CI=true.

The quick checks run in the fast tier; the corpora (every built-in, example and bad routine)
are marked slow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from coach.routine.parser import parse_routine
from tests import lsp
from tests.support import ROOT, is_ci

SCHEMA_FILE = ROOT / "coach" / "routine" / "routine.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
BAD = ROOT / "tests" / "corpus" / "bad"
BUILTIN = sorted((ROOT / "coach" / "routine" / "routines").glob("*.yaml"))
_ROUTINE_BLOCK = re.compile(r"^```yaml routine[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)

# Problems coach finds that no JSON Schema can express, so the editor cannot show them where
# coach does: (file, line of coach's message) -> why. `coach validate` reports them. Where the
# editor flags that line for another reason, the why says so ("shows ..."); the others must
# stay unflagged, so that a limit that goes away is noticed and taken off this list.
KNOWN_LIMITS = {
    ("alias-billion-laughs.yaml", 8): "how far aliases expand is YAML, not the data a schema "
    "sees (shows the unknown key 'f' there instead)",
    ("alias-recursive.yaml", 3): "a value that holds itself through an alias is YAML, not data",
    ("control-character.yaml", 2): "a raw control character is the file's bytes, not its data",
    ("control-character-escape.yaml", 2): "the text pattern (not empty) lets control characters "
    "through, as the schema always has; coach refuses them",
    ("control-character-escape.yaml", 4): "as above, in a 'say'",
    ("deep-nesting.yaml", 3): "nesting depth is YAML (shows the server's own stack overflow)",
    ("duration-too-long.yaml", 5): "limits of a duration written as text ('90m'): a pattern "
    "cannot compare amounts",
    ("duration-too-long.yaml", 6): "as above ('10m')",
    ("key-not-a-name.yaml", 3): "a null key is YAML; JSON keys are always text",
    ("key-not-a-name.yaml", 4): "a list as a key is YAML; JSON keys are always text",
    ("merge-key.yaml", 7): "YAML 1.2, which the server reads, has no merge keys: '<<' is a key",
    ("not-utf8-latin1.yaml", 4): "the file's encoding: the editor decodes the file, not the schema",
    ("number-huge.yaml", 9): "limits of a duration written as text ('99999999999999999999s')",
    ("number-not-a-number.yaml", 3): "NaN compares false with every limit, so it passes them",
    ("only-comments.yaml", 1): "a file of only comments holds no data to check",
    ("pronounce-duplicate.yaml", 6): "the same word in another case: keys differ as JSON",
    ("pronounce-key-not-text.yaml", 4): "a number as a key is text in JSON ('7')",
    ("pronounce-key-not-text.yaml", 5): "a boolean as a key is text in JSON ('yes')",
    ("repeat-nested-too-deep.yaml", 20): "how deep repeats nest: the schema refers to itself",
    ("repeat-too-many-steps.yaml", 4): "the steps a routine expands to is arithmetic over repeats",
    ("rest-step-zero.yaml", 4): "limits of a duration written as text ('0s')",
    ("second-document.yaml", 5): "the server checks each document of a file on its own",
    ("syntax-unclosed-bracket.yaml", 3): "the server's YAML parser notices at the next line",
    ("utf16-bom.yaml", 1): "the file's encoding: the editor decodes the file, not the schema",
    ("utf16-no-bom.yaml", 1): "the file's encoding: the editor decodes the file, not the "
    "schema (shows 'Incorrect type' on the NUL-riddled text)",
}


def _command() -> list[str]:
    command = lsp.server_command()
    if command is None:
        reason = (
            "yaml-language-server is not installed (scripts/test installs it into "
            ".venv/node with npm; it needs node and npm)"
        )
        if is_ci():
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return command


@pytest.fixture(scope="module")
def server() -> Iterator[lsp.LanguageServer]:
    with lsp.LanguageServer(_command(), SCHEMA_FILE) as s:
        s.wait_for_schema()
        yield s


def _uri(name: str) -> str:
    return (ROOT / "tests" / "editor-scratch" / name).as_uri()  # never written to disk


def _plain(text: str) -> str:
    """Hover markdown as text: older servers escape punctuation (\\(1s to 1h\\))."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", text)


def _coach_lines() -> dict[str, set[int]]:
    """file -> the lines of coach's problems in it, from expected.txt."""
    out: dict[str, set[int]] = {}
    for row in (BAD / "expected.txt").read_text(encoding="utf-8").splitlines():
        if row.strip() and not row.startswith("#"):
            name, line, _ = row.split(":", 2)
            out.setdefault(name, set()).add(int(line))
    return out


def _item(items: list[dict], label: str) -> dict:
    found = [i for i in items if i["label"] == label and "insertText" in i]
    assert found, f"no completion '{label}' among {sorted({i['label'] for i in items})}"
    return found[0]


def _description(*path: str) -> str:
    node = SCHEMA
    for part in path:
        node = node[part]
    return node["description"].split("\n")[0]


# -- the quick checks (fast tier) --------------------------------------------------------------

STEPS = "title: Morning stretch\nsteps:\n  - "


@pytest.mark.parametrize(
    ("typed", "label"), [("e", "exercise"), ("br", "breathe"), ("r", "rest"), ("", "say")]
)
def test_step_kinds_complete_after_a_letter(server, typed, label):
    text = STEPS + typed
    items = server.completions(_uri("complete.yaml"), text, 2, 4 + len(typed))
    assert _item(items, label)["insertText"] == f"{label}: "


def test_completing_a_key_inserts_its_colon(server):
    items = server.completions(_uri("complete.yaml"), "ti", 0, 2)
    for key in ("title", "description", "voice", "language"):
        assert _item(items, key)["insertText"] == f"{key}: "
    items = server.completions(_uri("complete.yaml"), STEPS + "exercise: Neck tilts\n    ", 3, 4)
    for key in ("brief", "caution", "hold"):
        assert _item(items, key)["insertText"] == f"{key}: "


ROUTINE = """\
title: Morning stretch
steps:
  - exercise: Neck tilts
    hold: 30s
    sides: both
  - breathe: box
"""


@pytest.mark.parametrize(
    ("line", "col", "description"),
    [
        (0, 2, _description("properties", "title")),
        (3, 6, _description("$defs", "exerciseStep", "properties", "hold")),
        (4, 6, _description("$defs", "exerciseStep", "properties", "sides")),
        (5, 6, _description("$defs", "breatheStep", "properties", "breathe")),
    ],
    ids=["title", "hold", "sides", "breathe"],
)
def test_hovers_explain_the_key(server, line, col, description):
    shown = _plain(server.hover(_uri("hover.yaml"), ROUTINE, line, col))
    assert description in shown
    # Not the text of a shared type, as when a $ref's description won over the key's own.
    assert "A duration:" not in shown and "Text: not empty" not in shown


def test_the_routine_snippet_inserts_a_valid_routine(server):
    items = server.completions(_uri("snippet.yaml"), "", 0, 0)
    snippet = _item(items, "routine")["insertText"]
    text = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", snippet) + "\n"
    parse_routine(text, "snippet.yaml")
    assert server.diagnostics(_uri("snippet.yaml"), text) == []


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("duration", STEPS + "exercise: x\n    hold: 1m30\n", 4, "must be a duration such as"),
        ("pattern", STEPS + "breathe: 4-x-4\n", 3, "must be a breath pattern such as 4-7-8"),
        ("text-step", STEPS + "Let's begin.\n", 3, "to speak text, write it as '- say: ...'"),
        (
            "tempo",
            STEPS + "exercise: x\n    hold: 5\n    tempo: 2\n",
            5,
            "only to an exercise with",
        ),
        ("count", STEPS + "exercise: x\n    count: true\n", 4, "'count' counts the reps aloud"),
        ("hold-reps", STEPS + "exercise: x\n    hold: 5\n    reps: 2\n", 5, "not both 'hold'"),
        ("say-hold", STEPS + "say: x\n    hold: 5\n", 4, "does not apply to a say step"),
    ],
    ids=["duration", "pattern", "text-step", "tempo", "count", "hold-reps", "say-hold"],
)
def test_messages_an_author_can_act_on(server, name, text, line, message):
    found = server.diagnostics(_uri(f"{name}.yaml"), text)
    assert any(d.line == line and message in d.message for d in found), found


YES = STEPS + "exercise: Arm circles\n    reps: 10\n    count: yes\n"


@pytest.mark.slow  # a second server
def test_yes_is_true_with_yaml_1_1_as_the_docs_set_it(server):
    # coach reads YAML 1.1, where yes is true; the server reads 1.2 unless told, where it is
    # text. docs/routine-format.md sets yaml.yamlVersion to 1.1 for that.
    parse_routine(YES, "yes.yaml")
    assert [d.line for d in server.diagnostics(_uri("yes.yaml"), YES)] == [5]
    with lsp.LanguageServer(_command(), SCHEMA_FILE, yaml_version="1.1") as s:
        s.wait_for_schema()
        assert s.diagnostics(_uri("yes.yaml"), YES) == []


def test_a_builtin_routine_has_no_problems(server):
    path = BUILTIN[0]
    assert server.diagnostics(path.as_uri(), path.read_text(encoding="utf-8")) == []


# -- the corpora (slow) --------------------------------------------------------------------------


def _examples() -> list[tuple[str, str]]:
    out = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for m in _ROUTINE_BLOCK.finditer(text):
            out.append((f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)))
    return out


@pytest.mark.slow
def test_no_problems_on_builtin_and_example_routines(server):
    examples = _examples()
    assert len(examples) >= 2
    found = {}
    for path in BUILTIN:
        found[path.name] = server.diagnostics(path.as_uri(), path.read_text(encoding="utf-8"))
    for where, text in examples:
        found[where] = server.diagnostics(_uri("example.yaml"), text)
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.slow
def test_bad_routines_are_flagged_on_coachs_line(server):
    missed, gone = [], []
    for name, lines in sorted(_coach_lines().items()):
        try:
            text = (BAD / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:  # an encoding mistake: a known limit
            assert all((name, line) in KNOWN_LIMITS for line in lines), name
            continue
        flagged = {d.line for d in server.diagnostics(_uri(name), text)}
        for line in sorted(lines):
            why = KNOWN_LIMITS.get((name, line))
            if why is None and line not in flagged:
                missed.append(f"{name}:{line}")
            elif why is not None and "(shows " not in why and line in flagged:
                gone.append(f"{name}:{line}")
    assert missed == [], f"the editor does not flag coach's line: {missed}"
    assert gone == [], f"known limits the editor now flags (take them off the list): {gone}"


def test_known_limits_are_problems_coach_reports():
    # Each limit names a line of expected.txt, so the list cannot hide a stale entry.
    lines = _coach_lines()
    for name, line in KNOWN_LIMITS:
        assert line in lines.get(name, set()), f"{name}:{line} is not in expected.txt"
    assert all(why for why in KNOWN_LIMITS.values())


def _count_cases() -> tuple[int, int]:
    lines = _coach_lines()
    total = sum(len(v) for v in lines.values())
    return total, total - len(KNOWN_LIMITS)


def test_most_of_coachs_problems_are_shown_in_the_editor():
    total, shown = _count_cases()
    assert shown / total > 0.75, (shown, total)
