"""Routine files: YAML text to a frozen `Routine` (coach.routine.model), or every problem in it
at once.

This module must not import audio or speech: `coach validate` runs on it alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import yaml

from coach.routine.model import (
    ALL_STEP_KEYS,
    BREATHE_MS,
    BREATHS,
    CYCLES_AND_DURATION,
    DEFAULTS_KEYS,
    EXCLUDES,
    FAQ_KEYS,
    HOLD_MS,
    KINDS,
    MAX_CHARS,
    MAX_EXPANDED_STEPS,
    MAX_REPEAT_DEPTH,
    MODES,
    NEEDS,
    PACE,
    PITCH,
    PRONOUNCE_SAY_CHARS,
    RATE_WPM,
    REPS,
    REST_MS,
    REST_STEP_MS,
    SETS,
    SIDES,
    STEP_FIELDS,
    STEP_KEYS,
    TEMPO_MS,
    TIMES,
    TOP_KEYS,
    TRANSITION_MS,
    Breathe,
    Defaults,
    Exercise,
    Faq,
    Repeat,
    Rest,
    Routine,
    Say,
    Step,
    excludes_problem,
    modes_problem,
    needs_problem,
    pronounce_key_problem,
)
from coach.routine.yamlnodes import (
    BudgetExceeded,
    Reader,
    compose,
    describe as _describe,
    number_tag,
    read_text,
)
from coach.values import (
    DURATION_EXAMPLES,
    BreathPattern,
    duration_hint,
    format_duration,
    parse_duration,
    parse_pattern,
    shorten,
)

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
        has = "only comments" if text.strip() else "nothing in it"
        r.error(None, f"the file has {has}; a routine needs at least 'title' and 'steps'")
        r.raise_if_any()
    assert root is not None  # an empty file was reported just above
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
        # The keys that the unknown keys of the last `known` call were probably meant as, so
        # that "did you mean 'title'?" is not followed by "the routine has no 'title'".
        self.meant: set[str] = set()

    # -- typed fields (each returns None after recording a problem) ---------------------

    def duration(self, node: yaml.Node, what: str, limits: tuple[int, int]) -> int | None:
        r = self.r
        if number_tag(node) is not None:  # plain seconds: 45, 1.5, 1e400
            seconds = r.number(node, what)
            if seconds is None:
                return None
            return self._ms_in_range(node, what, seconds * 1000, limits)
        if not r.visit(node):
            return None
        text = node.value if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str") else ""
        ms = parse_duration(text)
        if ms is not None:
            return self._ms_in_range(node, what, ms, limits)
        if text.strip().startswith("-") and parse_duration(text.strip()[1:]) is not None:
            return self._ms_in_range(node, what, -1, limits)  # a negative duration
        hint = duration_hint(text) if text else None
        r.error(
            node,
            f"{what} must be a duration {DURATION_EXAMPLES}, found {_describe(node)}"
            + (f"; did you mean '{hint}'?" if hint else ""),
        )
        return None

    def _ms_in_range(self, node, what: str, ms: float, limits: tuple[int, int]) -> int | None:
        lo, hi = limits
        if ms < lo:
            self.r.error(
                node, f"{what} must be at least {format_duration(lo)}, found {shorten(node.value)}"
            )
            return None
        if ms > hi:
            self.r.error(
                node, f"{what} must be at most {format_duration(hi)}, found {shorten(node.value)}"
            )
            return None
        return round(ms)

    def whole(self, node: yaml.Node, what: str, limits: tuple[int, int]) -> int | None:
        value = self.r.number(node, what, whole=True)
        return None if value is None else self._in_range(node, what, value, limits)

    def number(self, node: yaml.Node, what: str, limits: tuple[float, float]) -> float | None:
        value = self.r.number(node, what)
        return None if value is None else self._in_range(node, what, value, limits)

    def _in_range(self, node, what, value, limits):
        lo, hi = limits
        if not lo <= value <= hi:
            self.r.error(
                node, f"{what} must be between {lo:g} and {hi:g}, found {shorten(node.value)}"
            )
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
            close = difflib.get_close_matches(text.lower(), choices, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.r.error(
                node, f"{what} must be one of {', '.join(choices)}, found '{shorten(text)}'{hint}"
            )
            return None
        return text

    def language(self, node: yaml.Node, what: str) -> str | None:
        text = self.r.text(node, what, max_chars=MAX_CHARS["language"])
        if text is None:
            return None
        parts = text.replace("_", "-").split("-")
        if not (parts[0].isalpha() and 2 <= len(parts[0]) <= 3 and all(p.isalnum() for p in parts)):
            self.r.error(
                node,
                f"{what} must be a language code such as en, de or en-GB, found '{shorten(text)}'",
            )
            return None
        return text

    # -- structure ----------------------------------------------------------------------

    def fields(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        items = self.r.mapping(node, where)
        return None if items is None else self.known(items, where, allowed)

    def known(self, items, where: str, allowed: tuple[str, ...]):
        """The items whose key is allowed; each other key is reported (see `meant`)."""
        out = {}
        self.meant = set()
        for key, key_node, value_node in items:
            if key in allowed:
                out[key] = (key_node, value_node)
            elif where.endswith(" step") and key in STEP_FIELDS:
                kinds = [k for k in KINDS if key in STEP_KEYS[k]]
                self.r.error(
                    key_node,
                    f"'{key}' does not apply to {where}; it belongs in "
                    + " or ".join(_a(f"{k} step") for k in kinds),
                )
            else:
                close = self.r.unknown_key(key, key_node, where, allowed)
                if close is not None:
                    self.meant.add(close)
        return out

    def routine(self, root: yaml.Node) -> Routine | None:
        r = self.r
        if not isinstance(root, yaml.MappingNode):
            if r.visit(root):
                hint = ""
                if isinstance(root, yaml.SequenceNode):
                    hint = "; put the steps under 'steps:', below a 'title:'"
                r.error(
                    root,
                    "a routine must be a mapping with 'title' and 'steps' keys, "
                    f"found {_describe(root)}{hint}",
                )
            return None
        f = self.fields(root, "the routine", TOP_KEYS)
        if f is None:  # a tag on the whole file, already reported
            return None
        for required, fix in (
            ("title", "add one, e.g. 'title: Morning stretch'"),
            ("steps", "add 'steps:' with the list of steps under it"),
        ):
            if required not in f and required not in self.meant:  # a typo is reported already
                r.error(root, f"the routine has no '{required}'; {fix}")
        get = _Getter(f)
        title = get("title", lambda n: r.text(n, "'title'", max_chars=MAX_CHARS["title"]))
        description = get(
            "description", lambda n: r.text(n, "'description'", max_chars=MAX_CHARS["description"])
        )
        language = get("language", lambda n: self.language(n, "'language'"))
        voice = get("voice", lambda n: r.text(n, "'voice'", max_chars=MAX_CHARS["voice"]))
        rate = get("rate", lambda n: self.whole(n, "'rate'", RATE_WPM))
        pace = get("pace", lambda n: self.number(n, "'pace'", PACE))
        pitch = get("pitch", lambda n: self.whole(n, "'pitch'", PITCH))
        defaults = get("defaults", self.defaults) or Defaults()
        safety = get("safety", lambda n: r.texts(n, "'safety'")) or ()
        steps = get("steps", lambda n: self.steps(n, "'steps'", depth=0))
        source = get("source", lambda n: r.text(n, "'source'", max_chars=MAX_CHARS["source"]))
        tips = get("tips", lambda n: r.texts(n, "'tips'")) or ()
        alternatives = get("alternatives", lambda n: r.texts(n, "'alternatives'")) or ()
        faq = get("faq", self.faq) or ()
        pronounce = get("pronounce", self.pronounce) or ()
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
            pitch=pitch,
            defaults=defaults,
            safety=safety,
            source=source,
            tips=tips,
            alternatives=alternatives,
            faq=faq,
            pronounce=pronounce,
            language_loc=r.loc(f["language"][1]) if "language" in f else None,
        )

    def pronounce(self, node: yaml.Node) -> tuple[tuple[str, str], ...] | None:
        """`pronounce`: (word, how it is said) pairs in file order; every problem is reported."""
        r = self.r
        if not r.visit(node):
            return None
        if not isinstance(node, yaml.MappingNode):
            hint = ""
            if isinstance(node, yaml.SequenceNode) and node.value:
                hint = "; remove the '- ' in front of its words"
            r.error(
                node,
                "'pronounce' must be a mapping of words to how they are said, such as "
                f"'spinae: spy nee', found {_describe(node)}{hint}",
            )
            return None
        out: list[tuple[str, str]] = []
        seen: dict[str, tuple[str, int]] = {}  # casefolded word: (as written, its line)
        bad = False
        for key_node, value_node in node.value:
            if not r.visit(key_node):
                bad = True
                continue
            word = self._pronounced_word(key_node)
            said = self._respelling(value_node, word or shorten(str(key_node.value)))
            if word is None or said is None:
                bad = True
                continue
            folded = word.casefold()
            if folded in seen:
                first, line = seen[folded]
                same = "" if first == word else f" (as '{shorten(first)}'; case does not matter)"
                r.error(
                    key_node,
                    f"'pronounce' gives '{shorten(word)}' twice: first at line {line}{same}; "
                    "remove one of them",
                )
                bad = True
                continue
            seen[folded] = (word, key_node.start_mark.line + 1)
            out.append((word, said))
        return None if bad else tuple(out)

    def _pronounced_word(self, key_node: yaml.Node) -> str | None:
        r = self.r
        if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":str")):
            quote = isinstance(key_node, yaml.ScalarNode) and key_node.tag != _NULL_TAG
            r.error(
                key_node,
                f"a key of 'pronounce' must be a word, found {_describe(key_node)}"
                + ("; put it in quotes to use it as a word" if quote else ""),
            )
            return None
        word = " ".join(key_node.value.split())
        if not word:
            r.error(key_node, "a key of 'pronounce' must not be empty")
            return None
        problem = pronounce_key_problem(word)
        if problem is not None:
            r.error(key_node, f"a key of 'pronounce' {problem}, found '{shorten(key_node.value)}'")
            return None
        return word

    def _respelling(self, node: yaml.Node, word: str) -> str | None:
        what = f"the respelling of '{word}'"
        said = self.r.text(node, what, max_chars=PRONOUNCE_SAY_CHARS)
        if said is not None and "[[" in said:
            self.r.error(
                node,
                f"{what} is written as phonemes ('[[...]]'), which coach does not read; "
                "spell it as it sounds instead, such as 'spy nee'",
            )
            return None
        return said

    def faq(self, node: yaml.Node) -> tuple[Faq, ...] | None:
        items = self.r.sequence(node, "'faq'")
        if items is None:
            return None
        out = []
        for item in items:
            f = self.fields(item, "a 'faq' entry", FAQ_KEYS)
            if f is None:
                continue
            get = _Getter(f)
            question = get("question", lambda n: self.r.text(n, "'question'"))
            answer = get(
                "answer", lambda n: self.r.text(n, "'answer'", max_chars=MAX_CHARS["answer"])
            )
            for key in FAQ_KEYS:
                if key not in f and key not in self.meant:
                    article = "an" if key == "answer" else "a"
                    self.r.error(
                        item,
                        f"a 'faq' entry needs {article} '{key}'; write "
                        "each entry as '- question: ...' with 'answer: ...' "
                        "under it",
                    )
            if question is not None and answer is not None:
                out.append(Faq(question, answer))
        return tuple(out)

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
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
            r.error(
                node,
                f"a step must be a mapping of keys to values, found {_describe(node)}; "
                "to speak it, write it as '- say: ...'",
            )
            return None
        items = r.mapping(node, "a step")
        if items is None:
            return None
        keys = [k for k, _, _ in items]
        kind = next((k for k in KINDS if k in keys), None)
        if kind is None:
            self.known([i for i in items if i[0] not in STEP_FIELDS], "a step", ALL_STEP_KEYS)
            if not self.meant & set(KINDS):  # else a misspelt kind is reported already
                found = ", ".join(f"'{shorten(k)}'" for k in keys) or "no keys"
                r.error(
                    node,
                    "a step needs one of the keys exercise, breathe, repeat, rest or "
                    f"say, to say what kind of step it is; found {found}",
                )
            return None
        others = [k for k in keys if k in KINDS and k != kind and k not in STEP_KEYS[kind]]
        if others:
            other_node = next(kn for k, kn, _ in items if k == others[0])
            r.error(
                other_node,
                f"a step has one kind, but this one is both '{kind}' and "
                f"'{others[0]}'; split it into two steps",
            )
            return None
        f = self.known(items, _a(f"{kind} step"), STEP_KEYS[kind])
        self.expanded_steps += 1
        loc = r.loc(node)
        return getattr(self, "_" + kind)(node, f, loc, depth)

    def _say_list(self, get: _Getter) -> tuple[str, ...]:
        return get("say", lambda n: self.r.texts(n, "'say'")) or ()

    def _exercise(self, node, f, loc, depth) -> Exercise | None:
        r = self.r
        get = _Getter(f)
        name = get("exercise", lambda n: r.text(n, "'exercise'", max_chars=MAX_CHARS["exercise"]))
        modes = [k for k in MODES if k in f]
        if len(modes) > 1:
            r.error(f[modes[1]][0], modes_problem(modes[0], modes[1]))
        hold = get("hold", lambda n: self.duration(n, "'hold'", HOLD_MS))
        reps = get("reps", lambda n: self.whole(n, "'reps'", REPS))
        breaths = get("breaths", lambda n: self.whole(n, "'breaths'", BREATHS))
        for key, needs, does in NEEDS:
            if key in f and needs not in f and not (key == "cues" and not modes):
                r.error(f[key][0], needs_problem(key, needs, does))
        for key, other, does in EXCLUDES:
            if key in f and other in f:
                r.error(f[key][0], excludes_problem(key, does))
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
            brief=get("brief", lambda n: r.text(n, "'brief'")),
            count=bool(get("count", lambda n: r.boolean(n, "'count'"))),
            transition_ms=get(
                "transition", lambda n: self.duration(n, "'transition'", TRANSITION_MS)
            ),
        )
        return exercise if name is not None else None

    def _rest(self, node, f, loc, depth) -> Rest | None:
        get = _Getter(f)
        ms = get("rest", lambda n: self.duration(n, "'rest'", REST_STEP_MS))
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
        bad_pattern = False
        if not (isinstance(pattern_node, yaml.ScalarNode) and pattern_node.tag.endswith(":null")):
            pattern = self.pattern(pattern_node, "'breathe'")
            bad_pattern = pattern is None
        if "cycles" in f and "duration" in f:
            r.error(f["duration"][0], CYCLES_AND_DURATION)
        step = Breathe(
            pattern=pattern,
            say=self._say_list(get),
            loc=loc,
            cycles=get("cycles", lambda n: self.whole(n, "'cycles'", BREATHS)),
            duration_ms=get("duration", lambda n: self.duration(n, "'duration'", BREATHE_MS)),
        )
        return None if bad_pattern else step

    def _repeat(self, node, f, loc, depth) -> Repeat | None:
        r = self.r
        get = _Getter(f)
        times = get("repeat", lambda n: self.whole(n, "'repeat'", TIMES))
        rest = get("rest", lambda n: self.duration(n, "'rest'", REST_MS))
        say = self._say_list(get)
        if "steps" not in f:
            r.error(node, "a repeat step needs 'steps': the list of steps to do each round")
            return None
        if depth + 1 > MAX_REPEAT_DEPTH:
            r.error(
                node,
                f"repeats are nested more than {MAX_REPEAT_DEPTH} deep; "
                "put fewer repeats inside one another",
            )
            return None
        before = self.expanded_steps
        steps = self.steps(f["steps"][1], "'steps'", depth + 1)
        if times is not None and steps is not None:
            inner = self.expanded_steps - before
            self.expanded_steps = before + inner * times
            if self.expanded_steps > MAX_EXPANDED_STEPS:
                r.error(
                    node,
                    f"the routine expands to more than {MAX_EXPANDED_STEPS} steps "
                    "with its repeats; use fewer rounds",
                )
                raise BudgetExceeded
        if times is None or steps is None:
            return None
        return Repeat(times, steps, say, loc, rest)


_NULL_TAG = "tag:yaml.org,2002:null"


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


class _Getter:
    """Runs a field's reader only when the key is present."""

    def __init__(self, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        self.fields = fields

    def __call__(self, key: str, read: Callable[[yaml.Node], object]):
        if key not in self.fields:
            return None
        return read(self.fields[key][1])
