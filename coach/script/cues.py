"""The cue script: the contract between compile and everything after it.

A cue script is a timeline of speech and tone cues in absolute milliseconds, with chapters.
Its JSON form is versioned (see docs/cue-script.md); `dumps`/`loads` round-trip it exactly.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from coach.errors import Loc, Problem, RoutineError
from coach.script.names import Name
from coach.script.tones import TONE_MS, Tone
from coach.settings import Pacing
from coach.values import format_clock

FORMAT = "coach-cues"
VERSION = 1
MAX_SCRIPT_BYTES = 256 * 1024 * 1024
SIDES = ("left", "right")


class CueKind(Name):
    SPEECH = "speech"  # words: the cue has `text`
    TONE = "tone"  # an earcon: the cue has `tone`


class ChapterKind(Name):
    INTRO = "intro"
    EXERCISE = "exercise"
    REST = "rest"
    BREATHE = "breathe"


class CueRole(Name):
    """Why a cue is there; docs/cue-script.md says what each speech role says.

    A tone cue's role is its tone's name, so every `Tone` is a role too.
    """

    START = "start"
    SAFETY = "safety"
    SAY = "say"
    ROUND = "round"
    CAUTION = "caution"
    ANNOUNCE = "announce"
    INSTRUCTION = "instruction"
    SIDE = "side"
    SWITCH = "switch"
    COUNTDOWN = "countdown"
    HALFWAY = "halfway"
    REMINDER = "reminder"
    REP_COUNT = "rep_count"
    BREATH_IN = "breath_in"
    BREATH_HOLD = "breath_hold"
    BREATH_OUT = "breath_out"
    REST = "rest"
    NEXT = "next"
    FINISH = "finish"
    HOLD_START = "hold_start"
    HOLD_END = "hold_end"
    REP = "rep"


@dataclass(frozen=True, slots=True)
class RoleUse:
    """What a role means to the stages after compile."""

    # Worth saying again on "repeat": it tells the person what to do or where they are.
    # Counts, breaths and countdowns are not; they would be wrong by the time they are heard.
    said_again: bool = False
    # Says how to do the step itself; "repeat" prefers these within the current step.
    how_to: bool = False


_HOW_TO = RoleUse(said_again=True, how_to=True)
_SAID_AGAIN = RoleUse(said_again=True)
_TIMED = RoleUse()  # true only at the moment it is heard

ROLES: dict[str, RoleUse] = {  # keyed by CueRole, whose members are their strings
    CueRole.START: _SAID_AGAIN,
    CueRole.SAFETY: _SAID_AGAIN,
    CueRole.SAY: _HOW_TO,
    CueRole.ROUND: _SAID_AGAIN,
    CueRole.CAUTION: _HOW_TO,
    CueRole.ANNOUNCE: _SAID_AGAIN,
    CueRole.INSTRUCTION: _HOW_TO,
    CueRole.SIDE: _SAID_AGAIN,
    CueRole.SWITCH: _SAID_AGAIN,
    CueRole.COUNTDOWN: _TIMED,
    CueRole.HALFWAY: _TIMED,
    CueRole.REMINDER: _SAID_AGAIN,
    CueRole.REP_COUNT: _TIMED,
    CueRole.BREATH_IN: _TIMED,
    CueRole.BREATH_HOLD: _TIMED,
    CueRole.BREATH_OUT: _TIMED,
    CueRole.REST: _SAID_AGAIN,
    CueRole.NEXT: _SAID_AGAIN,
    CueRole.FINISH: _SAID_AGAIN,
    CueRole.HOLD_START: _TIMED,
    CueRole.HOLD_END: _TIMED,
    CueRole.REP: _TIMED,
}


def role_use(role: str) -> RoleUse:
    """What `role` means to later stages. The loader keeps a role it does not know as written
    (it never checked roles), and such a role means nothing special."""
    return ROLES.get(role, RoleUse())


# Names kept for readers of the tuples these were before the enums.
KINDS = tuple(CueKind)
CHAPTER_KINDS = tuple(ChapterKind)


@dataclass(frozen=True, slots=True)
class Cue:
    """One thing heard: words (`text`) or an earcon (`tone`), from start_ms to end_ms.

    `role` says why the cue is there (e.g. "countdown", "breath_in"), so later stages can
    choose, pan or replace cues without parsing words. `step` is the index of the chapter
    the cue belongs to.
    """

    start_ms: int
    end_ms: int
    kind: CueKind
    role: CueRole | str  # a str only for a role this coach does not know, read from a file
    step: int
    text: str | None = None
    tone: Tone | None = None
    side: str | None = None


_MakeCue = Callable[
    [int, int, "CueKind", "CueRole | str", int, "str | None", "Tone | None", "str | None"], "Cue"
]


def _cue_maker() -> _MakeCue:
    # A frozen dataclass's __init__ sets each field through object.__setattr__ by name, about
    # three times as slow as a plain slot store, and the compiler makes some 13,000 cues for a
    # routine of 1,000 steps. So a cue is made as a plain object with Cue's slots (the same
    # memory layout), its fields stored as any attribute is, and then given Cue as its class,
    # which Python allows between classes of one layout. The value is Cue's own: frozen,
    # equal and hashed as Cue(...) makes it (tests/test_cues.py compares the two ways). Cue
    # has no __post_init__, so nothing is skipped; a field added to Cue breaks the check
    # below at import.
    class Unfrozen:
        # In Cue's order, to be read beside it. Python itself refuses the class change
        # below (TypeError) unless the two layouts match.
        __slots__ = ("start_ms", "end_ms", "kind", "role", "step", "text", "tone", "side")  # noqa: RUF023
        start_ms: int
        end_ms: int
        kind: CueKind
        role: CueRole | str
        step: int
        text: str | None
        tone: Tone | None
        side: str | None

    names = tuple(f.name for f in fields(Cue))
    if Unfrozen.__slots__ != names or Cue.__slots__ != names:
        raise TypeError("make_cue's class lists Cue's fields: add the new one there")
    cue_class = Cue

    def make_cue(
        start_ms: int,
        end_ms: int,
        kind: CueKind,
        role: CueRole | str,
        step: int,
        text: str | None,
        tone: Tone | None,
        side: str | None,
    ) -> Cue:
        cue = Unfrozen()
        cue.start_ms = start_ms
        cue.end_ms = end_ms
        cue.kind = kind
        cue.role = role
        cue.step = step
        cue.text = text
        cue.tone = tone
        cue.side = side
        cue.__class__ = cue_class  # type: ignore[assignment]
        return cue  # type: ignore[return-value]

    return make_cue


# Cue(start_ms, end_ms, kind, role, step, text, tone, side) with all eight given, the same
# value made faster, for the compiler: a routine of 1,000 steps has about 13,000 cues.
make_cue = _cue_maker()


@dataclass(frozen=True, slots=True)
class Chapter:
    """One step of the routine as heard: an exercise, a rest or a breathing block."""

    title: str
    start_ms: int
    end_ms: int
    kind: ChapterKind
    line: int | None = None  # where the step is written in the routine file


@dataclass(frozen=True, slots=True)
class HoldWindow:
    """A timed window (a hold, a set of reps, a breathing block) of chapter `step`: from its
    `hold_start` tone, where its timer starts, to its `hold_end` tone."""

    step: int
    start_ms: int
    end_ms: int

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class CueScript:
    title: str
    language: str
    duration_ms: int
    settings: Pacing
    chapters: tuple[Chapter, ...]
    cues: tuple[Cue, ...]
    # (written word, how it is said), applied by the voice at speech time (coach.sound.pronounce);
    # cue texts keep the written words. Added to version 1 later: a script without it has none.
    pronounce: tuple[tuple[str, str], ...] = ()

    def speech(self) -> tuple[Cue, ...]:
        return tuple(c for c in self.cues if c.kind == CueKind.SPEECH)

    def hold_windows(self) -> tuple[HoldWindow, ...]:
        """Every timed window, in the order they end.

        A `hold_end` closes the window its step opened last; one with none open is ignored.
        """
        out = []
        opened: dict[int, int] = {}
        for c in self.cues:
            if c.role == CueRole.HOLD_START:
                opened[c.step] = c.start_ms
            elif c.role == CueRole.HOLD_END and c.step in opened:
                out.append(HoldWindow(c.step, opened.pop(c.step), c.start_ms))
        return tuple(out)

    def chapter_at(self, ms: int) -> int:
        """The index of the chapter heard at `ms` (0 before the first, and when there is none)."""
        return max(0, bisect.bisect_right(self.chapters, ms, key=_chapter_start) - 1)


def _chapter_start(chapter: Chapter) -> int:
    return chapter.start_ms


# -- JSON ---------------------------------------------------------------------------------


def to_json(script: CueScript) -> dict:
    def cue(c: Cue) -> dict:
        out = {
            "start_ms": c.start_ms,
            "end_ms": c.end_ms,
            "kind": c.kind,
            "role": c.role,
            "step": c.step,
        }
        for key in ("text", "tone", "side"):
            if getattr(c, key) is not None:
                out[key] = getattr(c, key)
        return out

    data: dict = {
        "format": FORMAT,
        "version": VERSION,
        "title": script.title,
        "language": script.language,
        "duration_ms": script.duration_ms,
        "settings": script.settings.to_json(),
    }
    if script.pronounce:  # left out when empty, so scripts without it stay as they were
        data["pronounce"] = dict(script.pronounce)
    return data | {
        "chapters": [
            {
                "title": ch.title,
                "start_ms": ch.start_ms,
                "end_ms": ch.end_ms,
                "kind": ch.kind,
                "line": ch.line,
            }
            for ch in script.chapters
        ],
        "cues": [cue(c) for c in script.cues],
    }


def dumps(script: CueScript) -> str:
    return json.dumps(to_json(script), indent=1, ensure_ascii=False) + "\n"


def load_cue_script(path: Path, shown: str | None = None) -> CueScript:
    """Read a cue script file, or raise RoutineError with path:line:col for each problem."""
    from coach.routine.yamlnodes import read_text

    shown = shown if shown is not None else str(path)
    return loads(read_text(path, shown, what="cue script", max_bytes=MAX_SCRIPT_BYTES), shown)


def loads(text: str, path: str = "<cue script>") -> CueScript:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RoutineError(
            [Problem(f"invalid JSON: {e.msg}", loc=Loc(path, e.lineno, e.colno))]
        ) from None
    except ValueError:  # an integer of more than 4300 digits: Python refuses to convert it
        import re

        found = re.search(r"\d{4300,}", text)
        at = found.start() if found else 0
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        raise RoutineError(
            [Problem("invalid JSON: a number with thousands of digits", loc=Loc(path, line, col))]
        ) from None
    except RecursionError:
        raise RoutineError(
            [Problem("invalid JSON: nested too deep", loc=Loc(path, 1, 1))]
        ) from None
    checker = _Checker()
    script = checker.script(data)
    if checker.problems:
        raise RoutineError(
            [Problem(msg, loc=_locate(text, path, where)) for where, msg in checker.problems]
        )
    assert script is not None
    return script


class _Checker:
    """Checks decoded JSON against the format, noting (json path, message) for each problem."""

    def __init__(self) -> None:
        self.problems: list[tuple[tuple, str]] = []

    def fail(self, where: tuple, message: str) -> None:
        self.problems.append((where, message))

    def get(self, obj: dict, key: str, where: tuple, kind, required: bool = True):
        if key not in obj:
            if required:
                self.fail(where, f"{_name(where)} is missing '{key}'")
            return None
        value = obj[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if kind is int and isinstance(value, int) and value < 0:
            self.fail((*where, key), f"'{key}' must not be negative, found {value}")
            return None
        if not ok:
            if value is None and not required:
                return None
            self.fail(
                (*where, key), f"'{key}' must be {_KIND_NAMES[kind]}, found {_json_kind(value)}"
            )
            return None
        if isinstance(value, str) and not _encodable(value):
            self.fail(
                (*where, key),
                f"'{key}' holds a lone surrogate (an escape such as "
                "\\ud800 that is not a character); remove it",
            )
            return None
        return value

    def script(self, data) -> CueScript | None:
        if not isinstance(data, dict):
            self.fail((), f"a cue script must be a JSON object, found {_json_kind(data)}")
            return None
        fmt = data.get("format")
        if fmt != FORMAT:
            self.fail((), f"not a coach cue script: 'format' must be \"{FORMAT}\", found {fmt!r}")
            return None
        version = data.get("version")
        if version != VERSION:
            self.fail(
                ("version",),
                f"cue script version {version!r} is not supported; "
                f"this coach reads version {VERSION}",
            )
            return None
        title = self.get(data, "title", (), str)
        language = self.get(data, "language", (), str)
        duration = self.get(data, "duration_ms", (), int)
        settings = None
        raw_settings = self.get(data, "settings", (), dict)
        if raw_settings is not None:
            settings = self.settings(raw_settings)
        pronounce = self.pronounce(data.get("pronounce", {}))
        read_chapters = [
            self.chapter(c, ("chapters", i))
            for i, c in enumerate(self.get(data, "chapters", (), list) or [])
        ]
        read_cues = [
            self.cue(c, ("cues", i)) for i, c in enumerate(self.get(data, "cues", (), list) or [])
        ]
        # A chapter or cue is None only where a problem was noted, so none is left below.
        chapters = [c for c in read_chapters if c is not None]
        cues = [c for c in read_cues if c is not None]
        if self.problems or settings is None:
            return None
        last = 0
        for i, c in enumerate(cues):
            if c.start_ms < last:
                self.fail(("cues", i), f"cue {i} starts before the one before it")
            last = c.start_ms
            if c.end_ms > duration:
                self.fail(("cues", i), f"cue {i} ends after the script's duration_ms")
            if not 0 <= c.step < max(len(chapters), 1):
                self.fail(
                    ("cues", i, "step"), f"cue {i} names step {c.step}, which is not a chapter"
                )
        if self.problems:
            return None
        return CueScript(
            title, language, duration, settings, tuple(chapters), tuple(cues), pronounce
        )

    def pronounce(self, raw) -> tuple[tuple[str, str], ...]:
        """The optional `pronounce` object: words, as a routine's keys, to their respellings."""
        from coach.routine.model import PRONOUNCE_SAY_CHARS, pronounce_key_problem

        if not isinstance(raw, dict):
            self.fail(("pronounce",), f"'pronounce' must be an object, found {_json_kind(raw)}")
            return ()
        out = []
        seen: dict[str, str] = {}  # casefolded word: as first written
        for word, said in raw.items():
            where = ("pronounce", word)
            problem = pronounce_key_problem(word) if word else "must not be empty"
            first = seen.setdefault(word.casefold(), word)
            what = f"the respelling of {json.dumps(word[:40])}"
            if not _encodable(word):
                problem = "holds a lone surrogate (an escape such as \\ud800); remove it"
            if problem is not None:
                self.fail(where, f"a key of 'pronounce' {problem}, found {_json_kind(word)}")
            elif first != word:
                self.fail(
                    where,
                    f"'pronounce' gives {json.dumps(word)} twice (first as {json.dumps(first)}; "
                    "case does not matter)",
                )
            elif not isinstance(said, str) or not said.strip() or not _encodable(said):
                self.fail(where, f"{what} must be a non-empty string, found {_json_kind(said)}")
            elif len(said) > PRONOUNCE_SAY_CHARS:
                self.fail(where, f"{what} may be at most {PRONOUNCE_SAY_CHARS} characters")
            elif "[[" in said:
                self.fail(
                    where, f"{what} is written as phonemes ('[[...]]'), which coach does not read"
                )
            else:
                out.append((word, said))
        return tuple(out)

    def settings(self, raw: dict) -> Pacing | None:
        from dataclasses import fields

        from coach.settings import CHOICE, DURATION, NUMBER, SETTINGS, TEXT, WHOLE

        where = ("settings",)
        try:
            settings = Pacing.from_json(raw)
        except KeyError as e:
            self.fail(where, f"'settings' is missing {e}")
            return None
        except (TypeError, ValueError) as e:
            self.fail(where, f"'settings' has a malformed breath pattern ({e})")
            return None
        # Each setting is checked as its row in the settings table says. Problems are reported
        # kind by kind, each kind in the order of the script's keys: the order they always were
        # reported in. A breath pattern is checked by reading it, above.
        order = {f.name: i for i, f in enumerate(fields(Pacing))}
        table = sorted(SETTINGS, key=lambda s: order[s.field])
        for kind in (NUMBER, DURATION, WHOLE, CHOICE, TEXT):
            for s in table:
                if s.checked_as == kind:
                    self.setting(s.field, getattr(settings, s.field), s)
            if kind == DURATION:  # the routine's own default times, which are not settings
                for key in (
                    "default_hold_ms",
                    "default_rest_ms",
                    "default_transition_ms",
                    "default_tempo_ms",
                ):
                    self.setting(key, raw[key], None)
        return settings

    def setting(self, key: str, value, s) -> None:
        """Check one settings value against its row `s` of the settings table (None: a time)."""
        from coach.settings import CHOICE, DURATION, NUMBER, TEXT, WHOLE

        where = ("settings", key)
        nullable = s is not None and s.default is None
        if value is None and nullable:
            return
        kind = DURATION if s is None else s.checked_as
        if kind in (NUMBER, WHOLE):
            lo, hi = s.limits
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float) if kind == NUMBER else int)
                or not lo <= value <= hi
            ):
                what = "a number" if kind == NUMBER else "a whole number"
                self.fail(
                    where,
                    f"'{key}' must be {what} from {lo:g} to {hi:g}, found {_json_kind(value)}",
                )
        elif kind == DURATION:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(
                    where,
                    f"'{key}' must be a whole number of milliseconds, found {_json_kind(value)}",
                )
        elif kind == CHOICE and value not in s.choices:
            *most, last = s.choices
            self.fail(
                where, f"'{key}' must be {', '.join(most)} or {last}, found {_json_kind(value)}"
            )
        elif kind == TEXT and not isinstance(value, str):
            self.fail(where, f"'{key}' must be a string or null, found {_json_kind(value)}")

    def chapter(self, data, where) -> Chapter | None:
        if not isinstance(data, dict):
            self.fail(where, f"a chapter must be an object, found {_json_kind(data)}")
            return None
        title = self.get(data, "title", where, str)
        start = self.get(data, "start_ms", where, int)
        end = self.get(data, "end_ms", where, int)
        kind = self.get(data, "kind", where, str)
        line = self.get(data, "line", where, int, required=False)
        if kind is not None and kind not in CHAPTER_KINDS:
            self.fail((*where, "kind"), f"chapter kind must be one of {', '.join(CHAPTER_KINDS)}")
            kind = None
        if start is not None and end is not None and end < start:
            self.fail(where, "a chapter must not end before it starts")
        return Chapter(title, start, end, _named(ChapterKind, kind), line)

    def cue(self, data, where) -> Cue | None:
        if not isinstance(data, dict):
            self.fail(where, f"a cue must be an object, found {_json_kind(data)}")
            return None
        start = self.get(data, "start_ms", where, int)
        end = self.get(data, "end_ms", where, int)
        kind = self.get(data, "kind", where, str)
        role = self.get(data, "role", where, str)
        step = self.get(data, "step", where, int)
        text = self.get(data, "text", where, str, required=kind == "speech")
        tone = self.get(data, "tone", where, str, required=kind == "tone")
        side = self.get(data, "side", where, str, required=False)
        if kind is not None and kind not in KINDS:
            self.fail(
                (*where, "kind"), f"cue kind must be one of {', '.join(KINDS)}, found {kind!r}"
            )
            kind = None
        if tone is not None and tone not in TONE_MS:
            self.fail((*where, "tone"), f"unknown tone {tone!r}; known: {', '.join(TONE_MS)}")
            tone = None
        if side is not None and side not in SIDES:
            self.fail((*where, "side"), "'side' must be left or right")
        if start is not None and end is not None and end < start:
            self.fail(where, "a cue must not end before it starts")
        # Roles were never checked, so one this coach does not know stays the string it was.
        if role in ROLES:
            role = CueRole(role)
        return Cue(start, end, _named(CueKind, kind), role, step, text, _named(Tone, tone), side)


def _named(names, value):
    """The member of enum `names` for a checked `value` (None stays None)."""
    return None if value is None else names(value)


_KIND_NAMES = {
    str: "a string",
    int: "a whole number",
    list: "a list",
    dict: "an object",
    bool: "true or false",
}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40])}"
    return "a list" if isinstance(value, list) else "an object"


def _name(where: tuple) -> str:
    if not where:
        return "the cue script"
    return "".join(f"[{w}]" if isinstance(w, int) else f".{w}" for w in where).lstrip(".")


def _locate(text: str, path: str, where: tuple) -> Loc:
    """The line and column of a JSON value, found again only when there is a problem to show.

    JSON is (nearly) YAML, and PyYAML's composer keeps marks, so the slow path of finding a
    position costs nothing on a good file.
    """
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        assert node is not None  # the text was JSON that did not load as a cue script
        for step in where:
            if isinstance(node, yaml.MappingNode):
                node = next(v for k, v in node.value if k.value == step)
            else:
                node = node.value[step]
        return Loc(path, node.start_mark.line + 1, node.start_mark.column + 1)
    except Exception:  # any trouble finding it again still leaves the message worth showing
        return Loc(path, 1, 1)


def timeline(script: CueScript) -> list[str]:
    """A readable timeline: one line per cue, with chapter headings."""
    lines = []
    step = None
    for cue in script.cues:
        if cue.step != step:
            step = cue.step
            ch = script.chapters[step]
            lines.append(f"## {ch.title}  [{format_clock(ch.start_ms)}-{format_clock(ch.end_ms)}]")
        what = cue.text if cue.kind == CueKind.SPEECH else f"({cue.tone})"
        side = f" [{cue.side}]" if cue.side else ""
        lines.append(f"{format_clock(cue.start_ms):>9}  {cue.kind:<6} {cue.role:<11} {what}{side}")
    lines.append(f"{format_clock(script.duration_ms):>9}  end")
    return lines
