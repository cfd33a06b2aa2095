"""Safe, bounded YAML reading that keeps every value's line and column.

PyYAML's composer gives a node tree with marks and never constructs objects, so tags such as
`!!python/object` cannot run code. Because aliases share nodes, a small file can stand for a
huge tree (the "billion laughs"); readers of the tree therefore spend from an `ExpansionBudget`
and stop early. Nesting depth is capped while composing, because PyYAML composes recursively and
a deeply nested file would otherwise end in a RecursionError.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.errors import Loc, Problem, RoutineError

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_VALUES = 200_000

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _STD + name
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "binary")
}
_NOT_AN_OBJECT = yaml.constructor.SafeConstructor()


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def node_loc(path: str, node: yaml.Node) -> Loc:
    return Loc(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _mark_loc(path: str, mark: yaml.Mark | None) -> Loc:
    if mark is None:
        return Loc(path, 1, 1)
    return Loc(path, mark.line + 1, mark.column + 1)


def _offset_loc(path: str, text: str | bytes, offset: int) -> Loc:
    nl = "\n" if isinstance(text, str) else b"\n"
    line = text.count(nl, 0, offset) + 1
    col = offset - (text.rfind(nl, 0, offset) + 1) + 1
    return Loc(path, line, col)


def read_text(
    path: Path, shown: str | None = None, what: str = "routine", max_bytes: int = MAX_FILE_BYTES
) -> str:
    """Read a small UTF-8 text file, or raise a RoutineError that says what is wrong with it."""
    shown = shown if shown is not None else str(path)

    def fail(message: str, loc: Loc | None = None) -> RoutineError:
        return RoutineError([Problem(message, loc=loc, path=None if loc else shown)])

    try:
        if path.is_dir():
            raise fail(f"is a directory, not a {what} file")
        size = path.stat().st_size
        if size > max_bytes:
            raise fail(f"file is {_mib(size)}; a {what} file may be at most {_mib(max_bytes)}")
        with path.open("rb") as f:  # read one byte past the limit: /dev/zero has no size
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise fail("no such file") from None
    except PermissionError:
        raise fail("permission denied; check the file's permissions") from None
    except OSError as e:
        raise fail(f"cannot read the file: {e.strerror or e}") from None
    if len(data) > max_bytes:  # the file grew, or is a special file with no size
        raise fail(f"file is larger than {_mib(max_bytes)}; a {what} file may be at most that")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail("file is UTF-16 text; save it as UTF-8", Loc(shown, 1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise fail(
            f"file is not UTF-8 text (byte 0x{data[e.start]:02x} cannot be decoded); "
            "save it as UTF-8",
            _offset_loc(shown, data, e.start),
        ) from None


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB".replace(".0 MiB", " MiB")


def compose(text: str, path: str) -> yaml.Node | None:
    """Parse one YAML document into a node tree; None for an empty document."""
    loader = _BoundedLoader(text)
    try:
        if not loader.check_node():
            return None
        node = loader.get_node()
        if loader.check_node():
            extra = loader.get_node()
            raise RoutineError(
                [
                    Problem(
                        "a file holds one YAML document; remove the second one "
                        "(or the '---' line that starts it)",
                        loc=node_loc(path, extra) if extra is not None else Loc(path, 1, 1),
                    )
                ]
            )
        return node
    except yaml.MarkedYAMLError as e:
        message = e.problem or "invalid YAML"
        if e.context:
            where = e.context_mark
            ctx = e.context if where is None else f"{e.context} at line {where.line + 1}"
            message = f"{message} ({ctx})"
        raise RoutineError(
            [Problem(f"invalid YAML: {message}", loc=_mark_loc(path, e.problem_mark))]
        ) from None
    except yaml.reader.ReaderError as e:
        char = e.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise RoutineError(
            [
                Problem(
                    f"invalid YAML: the character {shown} is not allowed in YAML text",
                    loc=_offset_loc(path, text, e.position),
                )
            ]
        ) from None
    except yaml.YAMLError as e:  # pragma: no cover - every PyYAML error above has a mark
        raise RoutineError([Problem(f"invalid YAML: {e}", loc=Loc(path, 1, 1))]) from None
    except _TooDeep as e:
        raise RoutineError(
            [
                Problem(
                    f"values are nested more than {MAX_DEPTH} levels deep",
                    loc=_mark_loc(path, e.mark),
                )
            ]
        ) from None
    finally:
        loader.dispose()


class BudgetExceeded(Exception):
    """Raised by `Reader.visit` once the expansion budget is spent; the reader records where."""


@dataclass
class Reader:
    """Reads a node tree into values, collecting problems instead of stopping at the first.

    Every node it looks at is paid for from a budget, so aliases cannot expand a small file
    into a huge amount of work.
    """

    path: str
    problems: list[Problem] = field(default_factory=list)
    budget: int = MAX_EXPANDED_VALUES

    def loc(self, node: yaml.Node) -> Loc:
        return node_loc(self.path, node)

    def error(self, node: yaml.Node | None, message: str) -> None:
        loc = self.loc(node) if node is not None else Loc(self.path, 1, 1)
        self.problems.append(Problem(message, loc=loc))

    def visit(self, node: yaml.Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            self.error(
                node,
                f"the file expands to more than {MAX_EXPANDED_VALUES} values "
                "(aliases repeat too much); write it out without so many aliases",
            )
            raise BudgetExceeded
        if node.tag not in _ALLOWED_TAGS:
            self.error(node, f"YAML tags such as '{node.tag}' are not supported; remove the tag")

    def raise_if_any(self) -> None:
        if self.problems:
            self.problems.sort(key=lambda p: (p.loc.line, p.loc.col) if p.loc else (0, 0))
            raise RoutineError(self.problems)

    # -- shapes -------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        """(key, key node, value node) for each entry, or None (with a problem) if not a map."""
        self.visit(node)
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values, found {describe(node)}")
            return None
        seen: dict[str, yaml.Node] = {}
        items = []
        for key_node, value_node in node.value:
            self.visit(key_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _STD + "null":
                self.error(key_node, f"keys must be plain names, found {describe(key_node)}")
                continue
            key = key_node.value
            if key == "<<":
                self.error(
                    key_node,
                    "merge keys ('<<') are not supported; write the keys out, "
                    "or put shared values under 'defaults'",
                )
                continue
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' (first set at line {first})")
                continue
            seen[key] = key_node
            items.append((key, key_node, value_node))
        return items

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        self.visit(node)
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, found {describe(node)}")
            return None
        return list(node.value)

    def unknown_key(self, key: str, key_node: yaml.Node, where: str, allowed: Iterable[str]):
        allowed = sorted(allowed)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(allowed)
        self.error(key_node, f"unknown key '{key}' in {where}; {hint}")

    # -- scalars ------------------------------------------------------------------------

    def scalar(self, node: yaml.Node, what: str) -> str | None:
        """The source text of a scalar (numbers and booleans as written), or None."""
        self.visit(node)
        if not isinstance(node, yaml.ScalarNode) or node.tag == _STD + "null":
            self.error(node, f"{what} must be text, found {describe(node)}")
            return None
        return node.value

    def text(self, node: yaml.Node, what: str, max_chars: int = 2000) -> str | None:
        value = self.scalar(node, what)
        if value is None:
            return None
        value = " ".join(value.split())
        if not value:
            self.error(node, f"{what} must not be empty")
            return None
        if len(value) > max_chars:
            self.error(node, f"{what} is {len(value)} characters long; at most {max_chars}")
            return None
        return value

    def texts(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """One text or a list of texts."""
        if isinstance(node, yaml.SequenceNode):
            items = self.sequence(node, what)
            if items is None:
                return None
            if not items:
                self.error(node, f"{what} must not be an empty list")
                return None
            out = [self.text(item, f"each item of {what}") for item in items]
            return None if any(t is None for t in out) else tuple(out)  # type: ignore[arg-type]
        value = self.text(node, what)
        return None if value is None else (value,)

    def number(self, node: yaml.Node, what: str, whole: bool = False) -> float | int | None:
        self.visit(node)
        kind = "a whole number" if whole else "a number"
        if isinstance(node, yaml.ScalarNode) and node.tag == _STD + "int":
            return _NOT_AN_OBJECT.construct_yaml_int(node)
        if isinstance(node, yaml.ScalarNode) and node.tag == _STD + "float" and not whole:
            value = _NOT_AN_OBJECT.construct_yaml_float(node)
            if value != value or value in (float("inf"), float("-inf")):
                self.error(node, f"{what} must be {kind}, found '{node.value}'")
                return None
            return value
        self.error(node, f"{what} must be {kind}, found {describe(node)}")
        return None

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        self.visit(node)
        if isinstance(node, yaml.ScalarNode) and node.tag == _STD + "bool":
            return _NOT_AN_OBJECT.construct_yaml_bool(node)
        self.error(node, f"{what} must be true or false, found {describe(node)}")
        return None


def describe(node: yaml.Node) -> str:
    """How a value reads in an error message: what kind it is, and a short quote of it."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag
    if tag == _STD + "null":
        return "nothing (an empty value)" if not node.value else f"null ('{node.value}')"
    value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    if tag == _STD + "int":
        return f"the whole number {value}"
    if tag == _STD + "float":
        return f"the number {value}"
    if tag == _STD + "bool":
        return f"the boolean {value}"
    return f"text '{value}'"
