"""The routine model: frozen steps and routine, the format's key tables and its limits.

These tables are the routine format's contract: the parser (coach.routine.parser) reads them,
`routine.schema.json` describes the same keys for editors (a test keeps the two in step), and
the settings table (coach.settings) takes the limits of the keys a routine shares with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from coach.errors import Loc

# The limits of the format's numbers live in coach.routine.limits, so the settings table (and
# with it the command line) reads them without building this module's dataclasses; they are
# re-exported here for the parser.
from coach.routine.limits import (
    BREATHE_MS as BREATHE_MS,
    BREATHS as BREATHS,
    HOLD_MS as HOLD_MS,
    PACE as PACE,
    PITCH as PITCH,
    RATE_WPM as RATE_WPM,
    REPS as REPS,
    REST_MS as REST_MS,
    SETS as SETS,
    TEMPO_MS as TEMPO_MS,
    TIMES as TIMES,
    TRANSITION_MS as TRANSITION_MS,
)
from coach.values import BreathPattern

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
    brief: str | None = None  # the short wording: `--verbosity brief`, and repeats in full


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
class Faq:
    question: str
    answer: str


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
    pitch: int | None = None
    defaults: Defaults = Defaults()
    safety: tuple[str, ...] = ()
    # Shown by `coach show`, never spoken: for reading before or after a session.
    source: str | None = None
    tips: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    faq: tuple[Faq, ...] = ()
    # (written word, how it is said) in file order: applied to speech, never to captions.
    pronounce: tuple[tuple[str, str], ...] = ()
    language_loc: Loc | None = None  # where `language` is written, for messages about it


# -- the format's keys --------------------------------------------------------------------

TOP_KEYS = (
    "$schema",
    "title",
    "description",
    "language",
    "voice",
    "rate",
    "pace",
    "pitch",
    "defaults",
    "safety",
    "steps",
    "source",
    "tips",
    "alternatives",
    "faq",
    "pronounce",
)
FAQ_KEYS = ("question", "answer")
DEFAULTS_KEYS = ("hold", "rest", "transition", "tempo", "breath")
STEP_KEYS = {
    "exercise": (
        "exercise",
        "say",
        "brief",
        "hold",
        "reps",
        "breaths",
        "tempo",
        "sides",
        "sets",
        "rest",
        "breath",
        "cues",
        "caution",
        "count",
        "transition",
    ),
    "rest": ("rest", "say"),
    "say": ("say",),
    "breathe": ("breathe", "cycles", "duration", "say"),
    "repeat": ("repeat", "steps", "rest", "say"),
}

ALL_STEP_KEYS = tuple(sorted({k for keys in STEP_KEYS.values() for k in keys}))
# Step keys that are not kinds: in a step of the wrong kind, one belongs to another kind.
STEP_FIELDS = {k for k in ALL_STEP_KEYS if k not in KINDS}
# How an exercise fills its time; it uses at most one of them (none: a hold of the default).
MODES = ("hold", "reps", "breaths")
# Exercise keys that need another key: (key, the key it needs, what it does). 'cues' needs a
# hold, which an exercise with no mode also is.
NEEDS = (
    ("tempo", "reps", "sets the time of one rep"),
    ("count", "reps", "counts the reps aloud"),
    ("cues", "hold", "gives reminders during a hold"),
)
# Exercise keys that another key rules out: (key, the key that rules it out, why).
EXCLUDES = (("breath", "reps", "paces the breathing of a hold"),)
# A rest step lasts at least a second: a rest of nothing is a mistake, not a pause.
REST_STEP_MS = (1_000, REST_MS[1])
# The longest text of each key, in characters; other texts (and each item of a list of texts)
# may be TEXT_CHARS long.
TEXT_CHARS = 2000
MAX_CHARS = {
    "title": 200,
    "description": 10_000,
    "voice": 200,
    "source": 1000,
    "exercise": 100,
    "answer": 10_000,
    "language": 35,
}


def needs_problem(key: str, needs: str, does: str) -> str:
    """What coach (and the editor, through the schema) says of `key` without `needs`."""
    return f"'{key}' {does}, so it applies only to an exercise with '{needs}'; remove it here"


def excludes_problem(key: str, does: str) -> str:
    """What coach (and the editor) says of `key` beside the key that rules it out."""
    others = " or ".join(f"'{m}'" for m in MODES if m != "reps")
    return f"'{key}' {does}, so it applies only to an exercise with {others}; remove it here"


def modes_problem(first: str, second: str) -> str:
    """What coach (and the editor) says of an exercise with two of MODES."""
    named = ", ".join(f"'{m}'" for m in MODES[:-1]) + f" and '{MODES[-1]}'"
    return (
        f"an exercise is held, repeated or breathed: use one of {named}, "
        f"not both '{first}' and '{second}'"
    )


CYCLES_AND_DURATION = "a breathing block takes 'cycles' or 'duration', not both; remove one of them"

# `pronounce`: a key is a word or a short phrase of words separated by single spaces; a word is
# letters and digits, with ' or - only inside it ("child's", "cat-cow"). Matching in speech is
# whole-word and case-insensitive (coach.sound.pronounce), so a key is one word in any case.
PRONOUNCE_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
PRONOUNCE_PHRASE = re.compile(rf"{PRONOUNCE_WORD.pattern}(?: {PRONOUNCE_WORD.pattern})*")
PRONOUNCE_KEY_CHARS = 100
PRONOUNCE_WORDS = 5  # a phrase of at most this many words
PRONOUNCE_SAY_CHARS = 200


def pronounce_key_problem(key: str) -> str | None:
    """Why `key` (spaces already collapsed) cannot be a `pronounce` key, or None if it can."""
    if not PRONOUNCE_PHRASE.fullmatch(key):
        return "must be a word or a few words (letters and digits; ' and - only inside a word)"
    if len(key.split()) > PRONOUNCE_WORDS:
        return f"may be at most {PRONOUNCE_WORDS} words"
    if len(key) > PRONOUNCE_KEY_CHARS:
        return f"may be at most {PRONOUNCE_KEY_CHARS} characters"
    return None
