"""Safe, bounded YAML reading that keeps every value's line and column.

PyYAML's composer gives a node tree with marks and never constructs objects, so tags such as
`!!python/object` cannot run code. Because aliases share nodes, a small file can stand for a
huge tree (the "billion laughs"), or for one that contains itself; `compose` measures the tree
as aliases expand it and refuses both before anything reads it. Nesting depth is capped while
composing, because PyYAML composes recursively and a deeply nested file would otherwise end in
a RecursionError.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.errors import Loc, Problem, RoutineError
from coach.values import shorten

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_VALUES = 200_000
MAX_PROBLEMS = 50  # shown for one file; a wrong file can have thousands

_STD = "tag:yaml.org,2002:"
_INT, _FLOAT, _STR, _NULL, _BOOL = (_STD + t for t in ("int", "float", "str", "null", "bool"))
_ALLOWED_TAGS = {
    _STD + name
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "binary")
}
_NOT_AN_OBJECT = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()
# YAML 1.2 reads 1e5 as a number; PyYAML (YAML 1.1) needs a dot and reads it as text. Authors
# mean a number, so a plain (unquoted) value of this form is read as one.
_EXPONENT = re.compile(r"[-+]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)[eE][-+]?\d+")
_DIGITS = re.compile(r"[-+]?[\d_]+")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Characters a person cannot see or hear; YAML refuses them in the file, but escapes in double
# quotes ("\x07", "\ud800") still make them. Whitespace controls are collapsed, so allowed.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's implicit tags, each plain value resolved once: a routine repeats the same
    few ("20s", "both", "true"), and the resolver's regular expressions are most of what
    composing costs once libyaml does the parsing. (Without path resolvers, which coach does
    not add, a scalar's tag depends on its value and `implicit` alone.)"""

    def __init__(self) -> None:
        super().__init__()
        self._tags: dict[tuple[type, str | None, object], str] = {}

    def resolve(self, kind, value, implicit):
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


class _Composer(yaml.composer.Composer):
    """PyYAML's composer, refusing nesting deeper than MAX_DEPTH and counting the values of
    each node as it composes them: a file with no aliases is measured on the way, and only
    one with aliases is walked again (`_check_aliases`). Plain values are composed here
    without PyYAML's three calls a value (the same nodes: its compose_scalar_node, inlined)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.composed = 0  # values composed so far
        self.aliased = False  # an alias was met: sizes are `_check_aliases`'s to measure
        self.too_big: yaml.Node | None = None  # see compose_node
        self._over = 0  # nodes composed of more than MAX_EXPANDED_VALUES values

    # Whether `check_scalar` is to be called for the scalars that may need it (see there).
    checks_scalars = False

    def check_scalar(self, event: yaml.ScalarEvent, parent: yaml.Node | None) -> None:
        """A hook for the libyaml loader, called before a scalar that is empty, tagged, a
        block scalar or plain in a flow collection is composed."""

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            event = self.peek_event()
            if self.depth > MAX_DEPTH:
                raise _TooDeep(event.start_mark)
            if type(event) is yaml.AliasEvent:
                self.aliased = True
                return super().compose_node(parent, index)
            first, over = self.composed, self._over
            if type(event) is yaml.ScalarEvent and event.anchor is None:
                if self.checks_scalars and (
                    not event.value
                    or event.tag is not None
                    or event.style in ("|", ">")
                    or (not event.style and getattr(parent, "flow_style", None) is True)
                ):
                    self.check_scalar(event, parent)
                self.get_event()
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
                # libyaml's plain style is '', PyYAML's None
                style = event.style or None
                node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style)
            else:
                if type(event) is yaml.ScalarEvent:
                    self.check_scalar(event, parent)
                node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.composed += 1
        # The node `_check_aliases` would report: one of more values than allowed with no
        # such node inside it, the last composed (it walks the tree from the end).
        if self.composed - first > MAX_EXPANDED_VALUES:
            if self._over == over:
                self.too_big = node
            self._over += 1
        return node

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        node.style = node.style or None  # libyaml's plain style is '', PyYAML's None
        return node


class _BoundedLoader(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Composer, _Resolver
):
    """PyYAML's own parser, in Python: the reference, and what reports every error."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Composer.__init__(self)
        _Resolver.__init__(self)


try:  # libyaml's parser (PyYAML's C extension), absent where PyYAML was built without it
    from yaml._yaml import CParser as _CParser

    LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML's wheels have it
    LIBYAML = False


if LIBYAML:

    class _CLoader(_Composer, _CParser, _Resolver):
        """PyYAML's composer and resolver over libyaml's parser: the same nodes with the same
        marks as `_BoundedLoader` gives, many times faster (PyYAML's scanner is pure Python).
        Its errors are not PyYAML's words, so a file it refuses is read again by
        `_BoundedLoader` (see `compose`). The composer stays PyYAML's, in Python, for the
        depth limit: libyaml's own composer recurses in C."""

        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)
            _Composer.__init__(self)
            _Resolver.__init__(self)
            self.text = text

        checks_scalars = True

        def check_scalar(self, event: yaml.ScalarEvent, parent: yaml.Node | None) -> None:
            if _libyaml_differs(event, parent, self.text):
                raise _Refused


def node_loc(path: str, node: yaml.Node) -> Loc:
    return Loc(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _mark_loc(path: str, mark: yaml.Mark | None) -> Loc:
    if mark is None:
        return Loc(path, 1, 1)
    return Loc(path, mark.line + 1, mark.column + 1)


def _offset_loc(path: str, text: str, offset: int) -> Loc:
    """The line and column of a character, counting line breaks as YAML (and its marks) do."""
    line, start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, offset):
        line, start = line + 1, brk.end()
    return Loc(path, line, offset - start + 1)


def _fail(message: str, loc: Loc) -> RoutineError:
    return RoutineError([Problem(message, loc=loc)])


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
            raise fail(
                f"file is {_mib(size, up=True)}; a {what} file may be at most {_mib(max_bytes)}"
            )
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
        before = data[: e.start].decode("utf-8-sig")  # columns count characters, not bytes
        raise fail(
            f"file is not UTF-8 text (byte 0x{data[e.start]:02x} cannot be decoded); "
            "save it as UTF-8",
            _offset_loc(shown, before, len(before)),
        ) from None


def _mib(size: int, up: bool = False) -> str:
    """Size in MiB to a tenth; rounded `up` for a file over a limit, so it never reads as equal."""
    tenths = size * 10 / (1024 * 1024)
    tenths = math.ceil(tenths) if up else round(tenths)
    return f"{tenths / 10:.1f} MiB".replace(".0 MiB", " MiB")


class _Refused(Exception):
    """libyaml's parser refused the text (or it holds a second document), or read it where
    PyYAML's parser may read it otherwise: PyYAML's parser reads it."""


# libyaml follows YAML 1.2 in places where PyYAML keeps to YAML 1.1 (the YAML test suite and
# tests/test_libyaml.py show them), so a text or a value of these kinds is PyYAML's to read:
# tabs (PyYAML refuses many that libyaml allows), byte order marks (which libyaml skips
# anywhere), directives, ...
_PYYAMLS_TO_READ = re.compile("\t|\ufeff|^%", re.M)
# ... a block scalar's header that PyYAML would not read (libyaml allows `>#comment`) ...
_BLOCK_HEADER = re.compile(r"[|>](?:[-+][1-9]?|[1-9][-+]?)?(?: +#[^\n\r\x85\u2028\u2029]*| *)")
_LINE_END = re.compile(r"[\n\r\x85\u2028\u2029]|$")


def _libyaml_differs(event: yaml.ScalarEvent, parent: yaml.Node | None, text: str) -> bool:
    """Whether PyYAML's parser may give this scalar another mark, tag or value, or refuse
    it: an empty value in a flow collection (libyaml marks it at the next token, PyYAML
    after the ':') or at the very end of the text (libyaml ends the text on a line of its
    own), a tag on an empty value or the bare '!', a plain value in a flow collection with
    '?' or ':' in it (PyYAML ends it there), a block scalar's header."""
    style = event.style
    in_flow = isinstance(parent, yaml.CollectionNode) and parent.flow_style is True
    at = event.start_mark.index if event.start_mark is not None else 0
    if event.tag == "!":
        return True
    if not event.value and not style:
        return in_flow or bool(event.tag) or at >= len(text)
    if not style and in_flow and ("?" in event.value or ":" in event.value):
        return True
    if style in ("|", ">"):
        end = _LINE_END.search(text, at)
        return _BLOCK_HEADER.fullmatch(text, at, end.start() if end else len(text)) is None
    return False


def compose(text: str, path: str) -> yaml.Node | None:
    """Parse one YAML document into a node tree; None for an empty document.

    Parsed by libyaml where PyYAML has it, else by PyYAML's own parser, which also reads
    again any text libyaml refuses: problems are always reported with PyYAML's marks and
    words."""
    if LIBYAML:
        try:
            composed = _compose_with_libyaml(text)
        except _Refused:
            composed = _compose(text, path)
    else:  # pragma: no cover - PyYAML's wheels have libyaml
        composed = _compose(text, path)
    node = composed.node
    if node is not None and composed.aliased:
        _check_aliases(node, path)
    elif composed.too_big is not None:
        raise _fail(_too_big(False), node_loc(path, composed.too_big))
    return node


@dataclass(frozen=True, slots=True)
class _Composed:
    """A document's node tree (None: an empty document), and what its composer measured."""

    node: yaml.Node | None
    aliased: bool = False  # it has aliases: `_check_aliases` measures it
    too_big: yaml.Node | None = None  # without aliases: the node of too many values, if any

    @classmethod
    def of(cls, node: yaml.Node | None, loader: _Composer) -> _Composed:
        return cls(node, loader.aliased, loader.too_big)


def _compose_with_libyaml(text: str) -> _Composed:
    if _PYYAMLS_TO_READ.search(text):
        raise _Refused
    loader = None
    try:
        loader = _CLoader(text)
        if not loader.check_node():
            return _Composed(None)
        node = loader.get_node()
        if loader.check_node():
            raise _Refused
        return _Composed.of(node, loader)
    # UnicodeError: a lone surrogate, which libyaml cannot be given as UTF-8
    except (yaml.YAMLError, _TooDeep, UnicodeError):
        raise _Refused from None
    finally:
        if loader is not None:
            loader.dispose()


def _compose(text: str, path: str) -> _Composed:
    """`compose` by PyYAML's parser (in Python)."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # checks every character of the text up front
        if not loader.check_node():
            return _Composed(None)
        node = loader.get_node()
        if loader.check_node():
            start = loader.peek_event().start_mark  # the second document's '---'
            raise _fail(
                "a file holds one YAML document; remove the second one "
                "(or the '---' line that starts it)",
                _mark_loc(path, start),
            )
    except yaml.MarkedYAMLError as e:
        message, mark = _syntax_message(e)
        raise _fail(f"invalid YAML: {message}", _mark_loc(path, mark)) from None
    except yaml.reader.ReaderError as e:
        char = e.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        hint = " (is the file UTF-16? save it as UTF-8)" if char == 0 else ""
        raise _fail(
            f"the file contains the control character {shown}, which YAML does not allow; "
            f"remove it{hint}",
            _offset_loc(path, text, e.position),
        ) from None
    except yaml.YAMLError as e:  # pragma: no cover - every PyYAML error above has a mark
        raise _fail(f"invalid YAML: {e}", Loc(path, 1, 1)) from None
    except _TooDeep as e:
        raise _fail(
            f"values are nested more than {MAX_DEPTH} levels deep; no routine needs that many, "
            "so check the brackets and indentation",
            _mark_loc(path, e.mark),
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return _Composed.of(node, loader)


# PyYAML's wording, said for a person writing a routine: (pattern of PyYAML's problem, our
# message, whether to point at PyYAML's context mark - where the trouble started, such as an
# opening quote - rather than where PyYAML noticed it). The message may use the pattern's
# groups as {0} and the context mark's line as {line}; problems not listed keep PyYAML's words.
_SYNTAX = [
    (
        r"found character '\\t' that cannot start any token",
        "a tab character here; YAML indents with spaces only, so replace it with spaces",
        False,
    ),
    (
        r"found character '(.)' that cannot start any token",
        "a value cannot start with '{0}'; put the value in quotes",
        False,
    ),
    (
        r"found unexpected (end of stream|document separator)$",
        "this quoted text is never closed; add the closing quote",
        True,
    ),
    (
        r"expected <block end>, but found '<scalar>'",
        "unexpected text after the end of a value; check this line's indentation, or put the "
        "whole value in quotes (inside single quotes, write ' as '')",
        False,
    ),
    (
        r"expected <block end>, but found '-'",
        "a '- ' list item where a key was expected; check this line's indentation",
        False,
    ),
    (
        r"expected <block end>, but found",
        "this line is indented differently from the lines above it; line it up with the block "
        "that starts at line {line}",
        False,
    ),
    (
        r"mapping values are not allowed here",
        "a ': ' inside a value, or a line indented too far; put the value in quotes "
        "(title: 'Stretch: part 1'), or line the key up with the keys above it",
        False,
    ),
    (
        r"could not find expected ':'",
        "this key has no ':' after it; write it as 'key: value'",
        True,
    ),
    (
        r"expected ',' or '\]', but got",
        "this list in '[ ]' is not closed; add the ']' at its end, or a ',' between its items",
        True,
    ),
    (
        r"expected ',' or '\}', but got",
        "this mapping in '{{ }}' is not closed; add the '}}' at its end, or a ',' between its "
        "items",
        True,
    ),
    (
        r"found undefined alias '(.*)'",
        "'*{0}' refers to an anchor '&{0}' that is not defined before it; define it first, or "
        "write the value out",
        False,
    ),
    (
        r"second occurrence",
        "this anchor is defined twice (first at line {line}); give one of them another name",
        False,
    ),
    (
        r"expected '<document start>', but found '(?!<stream end>)",
        "unexpected text after the end of the document; remove it, or check its indentation",
        False,
    ),
    (
        r"expected the node content, but found '(.*)'",
        "expected a value here, found '{0}'; remove it, or put the value in quotes",
        False,
    ),
    (
        r"expected chomping or indentation indicators",
        "text cannot follow '|' or '>' on the same line; start it on the next line, indented",
        False,
    ),
    (
        r"found unknown escape character (?:'(.*)'|\"(.*)\")",
        "'\\{0}' is not an escape that double-quoted text allows; write '\\\\' for a backslash, "
        "or use single quotes",
        False,
    ),
    (
        r"sequence entries are not allowed here",
        "a '- ' list item cannot start here; check this line's indentation, or put the value in "
        "quotes",
        False,
    ),
]


def _syntax_message(e: yaml.MarkedYAMLError) -> tuple[str, yaml.Mark | None]:
    problem = e.problem or "not valid YAML"
    line = e.context_mark.line + 1 if e.context_mark is not None else 1
    for pattern, message, at_context in _SYNTAX:
        match = re.match(pattern, problem)
        if match:
            mark = e.context_mark if at_context and e.context_mark else e.problem_mark
            fields = (shorten(g) for g in match.groups() if g is not None)
            return message.format(*fields, line=line), mark
    if e.context:
        ctx = e.context if e.context_mark is None else f"{e.context} at line {line}"
        problem = f"{problem} ({ctx})"
    return shorten(problem, 200), e.problem_mark


def _check_aliases(root: yaml.Node, path: str) -> None:
    """Refuse a tree that contains itself, or that expands past MAX_EXPANDED_VALUES.

    Sizes are memoized per shared node, so this costs one pass over the file's own nodes
    however much the aliases repeat them; it walks with a stack because aliases can chain
    far deeper than the composer's nesting limit.
    """
    sizes: dict[int, int] = {}
    reused: set[int] = set()  # nodes with an alias to an already measured node below them
    open_nodes: set[int] = set()  # the path from the root to the node being measured
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 0)]
    while stack:
        node, measured_children, parent = stack.pop()
        key = id(node)
        if measured_children:
            open_nodes.discard(key)
            children = _children(node)
            size = 1 + sum(sizes[id(c)] for c in children)
            if any(id(c) in reused for c in children):
                reused.add(key)
            if size > MAX_EXPANDED_VALUES:
                raise _fail(_too_big(key in reused), node_loc(path, node))
            sizes[key] = size
        elif key in open_nodes:
            raise _fail(
                "this value contains itself through an alias ('*name' inside the value that "
                "'&name' marks); write it out instead",
                node_loc(path, node),
            )
        elif key in sizes:
            reused.add(parent)
        else:
            open_nodes.add(key)
            stack.append((node, True, parent))
            stack.extend((c, False, key) for c in _children(node))


def _too_big(through_aliases: bool) -> str:
    if through_aliases:
        return (
            f"aliases expand this value to more than {MAX_EXPANDED_VALUES} values; "
            "write it out with fewer aliases ('*name')"
        )
    return (
        f"this value holds more than {MAX_EXPANDED_VALUES} values, far more than a routine "
        "needs; check that this is the right file"
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class BudgetExceeded(Exception):
    """Raised by readers that must stop early (e.g. too many steps); the problem is recorded."""


@dataclass
class Reader:
    """Reads a node tree into values, collecting problems instead of stopping at the first."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    def loc(self, node: yaml.Node) -> Loc:
        return node_loc(self.path, node)

    def error(self, node: yaml.Node | None, message: str) -> None:
        loc = self.loc(node) if node is not None else Loc(self.path, 1, 1)
        self.problems.append(Problem(message, loc=loc))

    def visit(self, node: yaml.Node) -> bool:
        """Whether the node may be read; records a problem for a tag that coach does not read."""
        if node.tag in _ALLOWED_TAGS:
            return True
        if node.tag == _STD + "merge":
            self.error(
                node,
                "merge keys ('<<') are not supported; write the keys out, "
                "or put shared values under 'defaults'",
            )
        else:
            self.error(
                node,
                f"YAML tags such as '{_short_tag(node.tag)}' are not supported; remove the tag",
            )
        return False

    def raise_if_any(self) -> None:
        if self.problems:
            # A node shared through aliases is read once per use; say each problem once.
            unique = list(dict.fromkeys(self.problems))
            unique.sort(key=lambda p: (p.loc.line, p.loc.col) if p.loc else (0, 0))
            if len(unique) > MAX_PROBLEMS:
                more = len(unique) - MAX_PROBLEMS
                unique[MAX_PROBLEMS:] = [
                    Problem(
                        f"{more} more problems from here on are not shown; fix the ones "
                        "above first (is this the right file?)",
                        loc=unique[MAX_PROBLEMS].loc,
                    )
                ]
            raise RoutineError(unique)

    # -- shapes -------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        """(key, key node, value node) for each entry, or None (with a problem) if not a map."""
        if not self.visit(node):
            return None
        if not isinstance(node, yaml.MappingNode):
            hint = ""
            if (
                isinstance(node, yaml.SequenceNode)
                and node.value
                and all(isinstance(item, yaml.MappingNode) for item in node.value)
            ):
                hint = "; remove the '- ' in front of its keys"
            self.error(
                node, f"{what} must be a mapping of keys to values, found {describe(node)}{hint}"
            )
            return None
        seen: dict[str, yaml.Node] = {}
        items: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if not self.visit(key_node):
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL:
                self.error(key_node, f"keys must be plain names, found {describe(key_node)}")
                continue
            key = key_node.value
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.error(
                    key_node,
                    f"duplicate key '{shorten(key)}' (first set at line "
                    f"{first}); remove one of them",
                )
                continue
            seen[key] = key_node
            items.append((key, key_node, value_node))
        return items

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not self.visit(node):
            return None
        if not isinstance(node, yaml.SequenceNode):
            hint = "; start each item with '- '" if isinstance(node, yaml.MappingNode) else ""
            self.error(node, f"{what} must be a list, found {describe(node)}{hint}")
            return None
        return list(node.value)

    def unknown_key(
        self, key: str, key_node: yaml.Node, where: str, allowed: Iterable[str]
    ) -> str | None:
        """Record an unknown key; returns the key it probably meant, if one is close."""
        allowed = sorted(allowed)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(allowed)
        self.error(key_node, f"unknown key '{shorten(key)}' in {where}; {hint}")
        return close[0] if close else None

    # -- scalars ------------------------------------------------------------------------

    def scalar(self, node: yaml.Node, what: str) -> str | None:
        """The source text of a scalar (numbers and booleans as written), or None."""
        if not self.visit(node):
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.error(node, f"{what} must be text, found {describe(node)}")
            return None
        bad = _INVISIBLE.search(node.value)
        if bad:
            self.error(
                node,
                f"{what} contains the character U+{ord(bad[0]):04X}, which cannot "
                "be shown or spoken; remove it",
            )
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
            self.error(
                node,
                f"{what} is {len(value)} characters long; it may be at most "
                f"{max_chars}, so shorten it",
            )
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
        if isinstance(node, yaml.MappingNode) and self.visit(node):
            self.error(
                node,
                f"{what} must be text or a list of texts, found a mapping; "
                "put text with a ': ' in it in quotes",
            )
            return None
        value = self.text(node, what)
        return None if value is None else (value,)

    def number(self, node: yaml.Node, what: str, whole: bool = False) -> float | int | None:
        """The number written, or None with a problem recorded.

        A number too large for a float reads as an infinity, so that the caller's range check
        answers it ("must be at most ...") instead of calling it "not a number".
        """
        if not self.visit(node):
            return None
        kind = "a whole number" if whole else "a number"
        tag = number_tag(node)
        if tag is None:
            quoted = isinstance(node, yaml.ScalarNode) and node.tag == _STR and bool(node.style)
            hint = "; remove the quotes around it" if quoted and _as_plain(node) else ""
            self.error(node, f"{what} must be {kind}, found {describe(node)}{hint}")
            return None
        value = _to_number(node.value, tag)
        if value is None or value != value:  # unreadable under an explicit tag, or NaN
            self.error(node, f"{what} must be {kind}, found '{shorten(node.value)}'")
            return None
        if whole and isinstance(value, float) and abs(value) != float("inf"):
            if not value.is_integer():
                self.error(node, f"{what} must be {kind}, found the number {shorten(node.value)}")
                return None
            return int(value)
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if not self.visit(node):
            return None
        found = describe(node)
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            value = _NOT_AN_OBJECT.bool_values.get(node.value.lower())
            if value is not None:
                return value
            found = f"'{shorten(node.value)}'"  # an explicit !!bool on something else
        self.error(node, f"{what} must be true or false, found {found}")
        return None


def number_tag(node: yaml.Node) -> str | None:
    """_INT or _FLOAT if the node is a number (as tagged, or a plain 1e5), else None."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag in (_INT, _FLOAT):
        return node.tag
    if node.tag == _STR and not node.style and _EXPONENT.fullmatch(node.value):
        return _FLOAT
    return None


def _as_plain(node: yaml.Node) -> str | None:
    """The number tag `node`'s text would have without its quotes, if it would be a number."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False))
    return number_tag(yaml.ScalarNode(tag, node.value))


def _to_number(text: str, tag: str) -> float | int | None:
    try:
        if tag == _INT:
            return _NOT_AN_OBJECT.construct_yaml_int(yaml.ScalarNode(tag, text))
        return _NOT_AN_OBJECT.construct_yaml_float(yaml.ScalarNode(tag, text))
    except ValueError:
        if tag == _INT and _DIGITS.fullmatch(text):
            # More digits than Python turns into an int (4300): far beyond any limit.
            return float("-inf") if text.startswith("-") else float("inf")
        return None  # an explicit !!int or !!float on something that is not one
    except (IndexError, KeyError):  # an explicit tag on an empty or odd value
        return None


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def describe(node: yaml.Node) -> str:
    """How a value reads in an error message: what kind it is, and a short quote of it."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag
    value = shorten(node.value)
    if tag == _NULL:
        return "nothing (an empty value)" if not node.value else f"null ('{value}')"
    if tag == _INT:
        return f"the whole number {value}"
    if tag == _FLOAT:
        return f"the number {value}"
    if tag == _BOOL:
        return f"the boolean {value}"
    return f"text '{value}'"
