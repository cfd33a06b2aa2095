"""Routine files: YAML text to a frozen `Routine`, or every problem in it at once.

This module must not import audio or speech: `coach validate` runs on it alone.
The key tables below are the format's contract; `routine.schema.json` describes the same keys
for editors, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import yaml

from coach.errors import Loc
from coach.values import (
    DURATION_EXAMPLES,
    BreathPattern,
    format_duration,
    parse_duration,
    parse_pattern,
)
from coach.yamlnodes import BudgetExceeded, Reader, compose, read_text
from coach.yamlnodes import describe as _describe

SIDES = ("both", "left", "right")
KINDS = ("exercise", "breathe", "repeat", "rest", "say")
MAX_EXPANDED_STEPS = 10_000
MAX_REPEAT_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Defaults:
    """A routine's own defaults; None means the built-in default (see coach.settings)."""

    hold_ms: int | None = None
    rest_ms: int | None = None
    transition_ms: int | None = None
    tempo_ms: int | None = None
    breath: BreathPattern | None = None


@dataclass(frozen=True, slots=True)
class Exercise:
    """A movement or position, held (`hold_ms`), repeated (`reps`) or breathed (`breaths`).

    At most one of the three is set; with none, the exercise is a hold of the default length.
    """

    name: str
    say: tuple[str, ...]
    loc: Loc
    hold_ms: int | None = None
    reps: int | None = None
    breaths: int | None = None
    tempo_ms: int | None = None
    sides: str | None = None
    sets: int = 1
    rest_ms: int | None = None
    breath: BreathPattern | None = None
    cues: tuple[str, ...] = ()
    caution: str | None = None
    count: bool = False
    transition_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Rest:
    duration_ms: int
    say: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Say:
    say: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Breathe:
    """A breathing block of whole cycles; `pattern` None means the routine's default."""

    pattern: BreathPattern | None
    say: tuple[str, ...]
    loc: Loc
    cycles: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    times: int
    steps: tuple[Step, ...]
    say: tuple[str, ...]
    loc: Loc
    rest_ms: int | None = None


Step = Union[Exercise, Rest, Say, Breathe, Repeat]  # noqa: UP007 - also used at run time


@dataclass(frozen=True, slots=True)
class Routine:
    title: str
    steps: tuple[Step, ...]
    path: str
    description: str | None = None
    language: str = "en"
    voice: str | None = None
    rate_wpm: int | None = None
    pace: float | None = None
    defaults: Defaults = Defaults()
    safety: tuple[str, ...] = ()


# -- the format's keys --------------------------------------------------------------------

TOP_KEYS = (
    "$schema", "title", "description", "language", "voice", "rate", "pace", "defaults",
    "safety", "steps",
)  # fmt: skip
DEFAULTS_KEYS = ("hold", "rest", "transition", "tempo", "breath")
STEP_KEYS = {
    "exercise": (
        "exercise", "say", "hold", "reps", "breaths", "tempo", "sides", "sets", "rest",
        "breath", "cues", "caution", "count", "transition",
    ),
    "rest": ("rest", "say"),
    "say": ("say",),
    "breathe": ("breathe", "cycles", "duration", "say"),
    "repeat": ("repeat", "steps", "rest", "say"),
}  # fmt: skip

# Limits: generous for any real routine, tight enough that a typo (an extra zero, minutes
# for seconds) is caught instead of producing a ten-hour session.
HOLD_MS = (1_000, 3_600_000)
REST_MS = (0, 3_600_000)
TRANSITION_MS = (0, 300_000)
TEMPO_MS = (500, 60_000)
BREATHE_MS = (1_000, 3_600_000)
RATE_WPM = (80, 450)
PACE = (0.25, 4.0)
REPS = (1, 1000)
BREATHS = (1, 500)
SETS = (1, 100)
TIMES = (1, 100)


# -- loading ------------------------------------------------------------------------------


def load_routine(path: Path, shown: str | None = None) -> Routine:
    """Load and check a routine file; raise RoutineError with every problem found."""
    shown = shown if shown is not None else str(path)
    return parse_routine(read_text(path, shown), shown)


def parse_routine(text: str, path: str) -> Routine:
    """Parse routine YAML text; `path` is only used in messages."""
    root = compose(text, path)
    r = Reader(path)
    if root is None:
        r.error(None, "the file is empty; a routine needs at least 'title' and 'steps'")
        r.raise_if_any()
    try:
        routine = Parser(r).routine(root)
    except BudgetExceeded:
        routine = None
    r.raise_if_any()
    assert routine is not None
    return routine


class Parser:
    """Reads routine nodes into values; its typed fields also read the user config."""

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.expanded_steps = 0

    # -- typed fields (each returns None after recording a problem) ---------------------

    def duration(self, node: yaml.Node, what: str, limits: tuple[int, int]) -> int | None:
        r = self.r
        r.visit(node)
        ms = None
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
            seconds = r.number(node, what)
            if seconds is not None and abs(seconds) < 1e9:
                ms = round(seconds * 1000)
            elif seconds is not None:
                r.error(node, f"{what} must be at most {format_duration(limits[1])}, "
                        f"found {node.value}")  # fmt: skip
                return None
        elif isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
            ms = parse_duration(node.value)
        if ms is None:
            if not r.problems or r.problems[-1].loc != r.loc(node):
                r.error(node, f"{what} must be a duration {DURATION_EXAMPLES}, "
                        f"found {_describe(node)}")  # fmt: skip
            return None
        lo, hi = limits
        if ms < lo:
            r.error(node, f"{what} must be at least {format_duration(lo)}, found {node.value}")
            return None
        if ms > hi:
            r.error(node, f"{what} must be at most {format_duration(hi)}, found {node.value}")
            return None
        return ms

    def whole(self, node: yaml.Node, what: str, limits: tuple[int, int]) -> int | None:
        value = self.r.number(node, what, whole=True)
        return None if value is None else self._in_range(node, what, value, limits)

    def number(self, node: yaml.Node, what: str, limits: tuple[float, float]) -> float | None:
        value = self.r.number(node, what)
        return None if value is None else self._in_range(node, what, value, limits)

    def _in_range(self, node, what, value, limits):
        lo, hi = limits
        if not lo <= value <= hi:
            self.r.error(node, f"{what} must be between {lo:g} and {hi:g}, found {node.value}")
            return None
        return value

    def pattern(self, node: yaml.Node, what: str) -> BreathPattern | None:
        text = self.r.scalar(node, what)
        if text is None:
            return None
        result = parse_pattern(text)
        if isinstance(result, str):
            self.r.error(node, f"{what} {result}")
            return None
        return result

    def choice(self, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str | None:
        text = self.r.scalar(node, what)
        if text is None:
            return None
        if text not in choices:
            self.r.error(node, f"{what} must be one of {', '.join(choices)}, found '{text}'")
            return None
        return text

    def language(self, node: yaml.Node, what: str) -> str | None:
        text = self.r.text(node, what, max_chars=35)
        if text is None:
            return None
        parts = text.replace("_", "-").split("-")
        if not (parts[0].isalpha() and 2 <= len(parts[0]) <= 3 and all(p.isalnum() for p in parts)):
            self.r.error(node, f"{what} must be a language code such as en, de or en-GB, "
                         f"found '{text}'")  # fmt: skip
            return None
        return text

    # -- structure ----------------------------------------------------------------------

    def fields(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        items = self.r.mapping(node, where)
        return None if items is None else self.known(items, where, allowed)

    def known(self, items, where: str, allowed: tuple[str, ...]):
        out = {}
        for key, key_node, value_node in items:
            if key in allowed:
                out[key] = (key_node, value_node)
            else:
                self.r.unknown_key(key, key_node, where, allowed)
        return out

    def routine(self, root: yaml.Node) -> Routine | None:
        r = self.r
        if not isinstance(root, yaml.MappingNode):
            r.visit(root)
            r.error(root, "a routine must be a mapping with 'title' and 'steps' keys, "
                    f"found {_describe(root)}")  # fmt: skip
            return None
        f = self.fields(root, "the routine", TOP_KEYS)
        assert f is not None
        for required in ("title", "steps"):
            if required not in f:
                r.error(root, f"missing required key '{required}'")
        get = _Getter(f)
        title = get("title", lambda n: r.text(n, "'title'", max_chars=200))
        description = get("description", lambda n: r.text(n, "'description'", max_chars=10_000))
        language = get("language", lambda n: self.language(n, "'language'"))
        voice = get("voice", lambda n: r.text(n, "'voice'", max_chars=200))
        rate = get("rate", lambda n: self.whole(n, "'rate'", RATE_WPM))
        pace = get("pace", lambda n: self.number(n, "'pace'", PACE))
        defaults = get("defaults", self.defaults) or Defaults()
        safety = get("safety", lambda n: r.texts(n, "'safety'")) or ()
        steps = get("steps", lambda n: self.steps(n, "'steps'", depth=0))
        if "$schema" in f:
            r.text(f["$schema"][1], "'$schema'")
        if title is None or steps is None or r.problems:
            return None
        return Routine(
            title=title,
            steps=steps,
            path=r.path,
            description=description,
            language=language or "en",
            voice=voice,
            rate_wpm=rate,
            pace=pace,
            defaults=defaults,
            safety=safety,
        )

    def defaults(self, node: yaml.Node) -> Defaults | None:
        f = self.fields(node, "'defaults'", DEFAULTS_KEYS)
        if f is None:
            return None
        get = _Getter(f)
        return Defaults(
            hold_ms=get("hold", lambda n: self.duration(n, "'hold'", HOLD_MS)),
            rest_ms=get("rest", lambda n: self.duration(n, "'rest'", REST_MS)),
            transition_ms=get(
                "transition", lambda n: self.duration(n, "'transition'", TRANSITION_MS)
            ),
            tempo_ms=get("tempo", lambda n: self.duration(n, "'tempo'", TEMPO_MS)),
            breath=get("breath", lambda n: self.pattern(n, "'breath'")),
        )

    def steps(self, node: yaml.Node, what: str, depth: int) -> tuple[Step, ...] | None:
        items = self.r.sequence(node, what)
        if items is None:
            return None
        if not items:
            self.r.error(node, f"{what} must list at least one step")
            return None
        steps = [self.step(item, depth) for item in items]
        if any(s is None for s in steps):
            return None
        return tuple(steps)  # type: ignore[arg-type]

    def step(self, node: yaml.Node, depth: int = 0) -> Step | None:
        r = self.r
        items = r.mapping(node, "a step")
        if items is None:
            return None
        keys = [k for k, _, _ in items]
        kind = next((k for k in KINDS if k in keys), None)
        if kind is None:
            known = {k for ks in STEP_KEYS.values() for k in ks}
            for key, key_node, _ in items:
                if key not in known:
                    r.unknown_key(key, key_node, "a step", KINDS)
            r.error(node, "a step needs a kind: one of the keys " + ", ".join(KINDS))
            return None
        others = [k for k in keys if k in KINDS and k != kind and k not in STEP_KEYS[kind]]
        if others:
            r.error(node, f"a step has exactly one kind, this one has '{kind}' and "
                    f"'{others[0]}'; split it into two steps")  # fmt: skip
            return None
        f = self.known(items, f"a {kind} step", STEP_KEYS[kind])
        self.expanded_steps += 1
        loc = r.loc(node)
        return getattr(self, "_" + kind)(node, f, loc, depth)

    def _say_list(self, get: _Getter) -> tuple[str, ...]:
        return get("say", lambda n: self.r.texts(n, "'say'")) or ()

    def _exercise(self, node, f, loc, depth) -> Exercise | None:
        r = self.r
        get = _Getter(f)
        name = get("exercise", lambda n: r.text(n, "'exercise'", max_chars=100))
        modes = [k for k in ("hold", "reps", "breaths") if k in f]
        if len(modes) > 1:
            r.error(f[modes[1]][0], f"an exercise is held, repeated or breathed: use one of "
                    f"'hold', 'reps' and 'breaths', not both '{modes[0]}' and '{modes[1]}'")  # fmt: skip
        hold = get("hold", lambda n: self.duration(n, "'hold'", HOLD_MS))
        reps = get("reps", lambda n: self.whole(n, "'reps'", REPS))
        breaths = get("breaths", lambda n: self.whole(n, "'breaths'", BREATHS))
        for key, needs in (("tempo", "reps"), ("count", "reps"), ("cues", "hold")):
            if key in f and needs not in f and not (key == "cues" and not modes):
                r.error(f[key][0], f"'{key}' applies only to an exercise with '{needs}'")
        if "breath" in f and "reps" in f:
            r.error(f["breath"][0], "'breath' applies only to an exercise with 'hold' or 'breaths'")
        sets = get("sets", lambda n: self.whole(n, "'sets'", SETS))
        exercise = Exercise(
            name=name or "",
            say=self._say_list(get),
            loc=loc,
            hold_ms=hold,
            reps=reps,
            breaths=breaths,
            tempo_ms=get("tempo", lambda n: self.duration(n, "'tempo'", TEMPO_MS)),
            sides=get("sides", lambda n: self.choice(n, "'sides'", SIDES)),
            sets=sets or 1,
            rest_ms=get("rest", lambda n: self.duration(n, "'rest'", REST_MS)),
            breath=get("breath", lambda n: self.pattern(n, "'breath'")),
            cues=get("cues", lambda n: r.texts(n, "'cues'")) or (),
            caution=get("caution", lambda n: r.text(n, "'caution'")),
            count=bool(get("count", lambda n: r.boolean(n, "'count'"))),
            transition_ms=get(
                "transition", lambda n: self.duration(n, "'transition'", TRANSITION_MS)
            ),
        )
        return exercise if name is not None else None

    def _rest(self, node, f, loc, depth) -> Rest | None:
        get = _Getter(f)
        ms = get("rest", lambda n: self.duration(n, "'rest'", (1000, REST_MS[1])))
        say = self._say_list(get)
        return None if ms is None else Rest(ms, say, loc)

    def _say(self, node, f, loc, depth) -> Say | None:
        say = self._say_list(_Getter(f))
        return Say(say, loc) if say else None

    def _breathe(self, node, f, loc, depth) -> Breathe | None:
        r = self.r
        get = _Getter(f)
        pattern_node = f["breathe"][1]
        pattern = None
        if not (isinstance(pattern_node, yaml.ScalarNode) and pattern_node.tag.endswith(":null")):
            pattern = self.pattern(pattern_node, "'breathe'")
            if pattern is None:
                return None
        if "cycles" in f and "duration" in f:
            r.error(f["duration"][0], "a breathing block takes 'cycles' or 'duration', not both")
        return Breathe(
            pattern=pattern,
            say=self._say_list(get),
            loc=loc,
            cycles=get("cycles", lambda n: self.whole(n, "'cycles'", BREATHS)),
            duration_ms=get("duration", lambda n: self.duration(n, "'duration'", BREATHE_MS)),
        )

    def _repeat(self, node, f, loc, depth) -> Repeat | None:
        r = self.r
        get = _Getter(f)
        times = get("repeat", lambda n: self.whole(n, "'repeat'", TIMES))
        if "steps" not in f:
            r.error(node, "a repeat step needs 'steps': the steps to do each round")
            return None
        if depth + 1 > MAX_REPEAT_DEPTH:
            r.error(node, f"repeat steps are nested more than {MAX_REPEAT_DEPTH} deep")
            return None
        before = self.expanded_steps
        steps = self.steps(f["steps"][1], "'steps'", depth + 1)
        if times is not None and steps is not None:
            inner = self.expanded_steps - before
            self.expanded_steps = before + inner * times
            if self.expanded_steps > MAX_EXPANDED_STEPS:
                r.error(node, f"the routine expands to more than {MAX_EXPANDED_STEPS} steps "
                        "with its repeats; use fewer rounds")  # fmt: skip
                raise BudgetExceeded
        rest = get("rest", lambda n: self.duration(n, "'rest'", REST_MS))
        if times is None or steps is None:
            return None
        return Repeat(times, steps, self._say_list(get), loc, rest)


class _Getter:
    """Runs a field's reader only when the key is present."""

    def __init__(self, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        self.fields = fields

    def __call__(self, key: str, read: Callable[[yaml.Node], object]):
        if key not in self.fields:
            return None
        return read(self.fields[key][1])
