"""The routine format's JSON Schema for editors (`routine.schema.json`), built from the loader's
tables in coach.routine.model: the same keys, kinds, limits, rules and wording of problems.

The schema is written for yaml-language-server, the engine behind the YAML support of VS Code,
Neovim and most other editors, and shaped by how it reads a schema (measured with 1.19, 1.25 and
2.0; tests/test_editor.py drives the real server):

- Steps are an `anyOf` of the kinds, not a `oneOf`: with `oneOf` the server stops offering
  the kinds once a letter is typed. No step is two kinds, so both accept the same steps.
- Every key's schema is written out in full, without a `$ref` to a shared definition: the
  server shows a referenced definition's description instead of the key's own, and (1.25 and
  later, with draft 2020-12) completes a key whose schema is a `$ref` with siblings as the bare
  key, without its ': '.
- A value of two types is one schema with a list of types (a duration is a number or text),
  not an `anyOf`: the server words an `anyOf` that nothing matches by its branches' types
  ("Expected number"), but a single schema by its `errorMessage`.
- A step's kind is the first kind key it has, as the parser decides; a key of another kind is
  reported on that key (`if` that kind, `then` the key `false`), where the server would
  otherwise guess the kind ('Missing property "exercise"' on the step's first line).
- The rules that tie keys together ('tempo' only with 'reps', ...) are `if`/`then` with the
  ruled-out key set to `false`: the server puts that problem on the key, as coach does, and
  words it by the `then`'s `errorMessage`. `not` would put "Matches a schema that is not
  allowed" on the step's first line.
- `errorMessage` and `patternErrorMessage` are the server's own keywords; other validators
  ignore them, so they change no verdict. tests/test_schema_verdicts.py holds the schema to
  the verdicts it gave before it was shaped for editors.

Run `python -m coach.routine.schema` to write the file after a change to the tables here or
in the model; tests/test_schema.py fails while the file and this module disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from coach.routine.model import (
    BREATHE_MS,
    BREATHS,
    CYCLES_AND_DURATION,
    DEFAULTS_KEYS,
    EXCLUDES,
    FAQ_KEYS,
    HOLD_MS,
    KINDS,
    MAX_CHARS,
    MAX_REPEAT_DEPTH,
    MODES,
    NEEDS,
    PACE,
    PITCH,
    PRONOUNCE_KEY_CHARS,
    PRONOUNCE_SAY_CHARS,
    PRONOUNCE_WORDS,
    RATE_WPM,
    REPS,
    REST_MS,
    REST_STEP_MS,
    SETS,
    SIDES,
    STEP_FIELDS,
    STEP_KEYS,
    TEMPO_MS,
    TEXT_CHARS,
    TIMES,
    TOP_KEYS,
    TRANSITION_MS,
    excludes_problem,
    modes_problem,
    needs_problem,
)
from coach.values import DURATION_EXAMPLES, NAMED_PATTERNS, PATTERN_EXAMPLES, format_duration
from coach.words import LANGUAGES

SCHEMA_FILE = Path(__file__).with_name("routine.schema.json")

# The grammars of coach.values in the regular expressions of JavaScript and python alike
# (ASCII [0-9], no named groups); tests/test_schema.py checks them against parse_duration and
# parse_pattern on thousands of texts.
_NUM = r"[0-9]+(?:\.[0-9]+)?"
DURATION_PATTERN = (
    rf"^\s*(?:{_NUM}|{_NUM}\s*h(?:\s*{_NUM}\s*m)?(?:\s*{_NUM}\s*s)?"
    rf"|{_NUM}\s*m(?:\s*{_NUM}\s*s)?|{_NUM}\s*s)\s*$"
)
_PHASE_IN = r"0*(?:(?:[1-9]|[1-5][0-9])(?:\.[0-9]+)?|60(?:\.0+)?|0\.[0-9]*[1-9][0-9]*)"  # > 0
_PHASE_HOLD = r"0*(?:[1-5]?[0-9](?:\.[0-9]+)?|60(?:\.0+)?)"  # may be 0
_NAMES = "|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in name) for name in NAMED_PATTERNS
)
PATTERN_PATTERN = (
    rf"^\s*(?:{_PHASE_IN}\s*-\s*{_PHASE_HOLD}\s*-\s*{_PHASE_IN}(?:\s*-\s*{_PHASE_HOLD})?"
    rf"|{_NAMES})\s*$"
)
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*$"
# A pronounce key: up to PRONOUNCE_WORDS words without punctuation (the loader's full rule,
# letters and digits with ' and - inside, needs Unicode classes that editors' engines lack).
_WORD = r"""[^\s.,;:!?"()\[\]{}<>/\\]+"""
PRONOUNCE_KEY_PATTERN = rf"^\s*{_WORD}(?:\s+{_WORD}){{0,{PRONOUNCE_WORDS - 1}}}\s*$"


# -- each key: what it means (the hover), examples (completion), its kind of value -----------

# Description texts may name the key's limits as {range}; "Example:" lines show it written.
_KEYS: dict[tuple[str, str], tuple[str, list[Any] | None]] = {
    ("routine", "$schema"): (
        "The JSON Schema editors use to check this file. coach ignores it. A modeline comment "
        "does the same without a key.\n\nExample: $schema: ./routine.schema.json",
        None,
    ),
    ("routine", "title"): (
        "The routine's name: said first, and the title of a compiled cue script. Required. "
        "At most {chars} characters.\n\nExample: title: Upper back release",
        None,
    ),
    ("routine", "description"): (
        "What the routine is for, for people choosing one (not spoken). At most {chars} "
        "characters.\n\nExample: description: A gentle routine for a stiff upper back.",
        None,
    ),
    ("routine", "language"): (
        "Language of the spoken text: a language code (2 or 3 letters, then optional parts "
        "after - or _). It picks the voice, and the language of what coach says by itself "
        "(the countdown, sides, breaths, rests, chapter titles): {words}. In another "
        "language your own text is spoken in it and coach's words in English (coach "
        "validate warns). Default: en.\n\nExample: language: de",
        ["en", "en-GB", "de", "es", "fr"],
    ),
    ("routine", "voice"): (
        "Voice name or id to speak with; the --voice option and the config file override it. "
        "Default: the language's default voice.\n\nExample: voice: english_rp",
        None,
    ),
    ("routine", "rate"): (
        "Speech rate in words per minute, {range}; --rate and the config file override it. "
        "Default: 165.\n\nExample: rate: 150",
        [150, 165, 180],
    ),
    ("routine", "pace"): (
        "Tempo multiplier, {range}: every hold, rest, transition, tempo and breath phase lasts "
        "1/pace as long (1.25 is a quarter faster). --pace and the config file override it. "
        "Default: 1.\n\nExample: pace: 0.8",
        [0.8, 1, 1.25],
    ),
    ("routine", "pitch"): (
        "Voice pitch on espeak-ng's scale, {range}; --pitch and the config file override it. "
        "Default: 50.\n\nExample: pitch: 40",
        [40, 50, 60],
    ),
    ("routine", "defaults"): (
        "The routine's own defaults for steps that give no value of their own. Without them: "
        "hold 30s, rest 15s, transition 5s, tempo 3s, breath calm.\n\n"
        "Example: defaults: {hold: 20s, rest: 15s, breath: calm}",
        None,
    ),
    ("routine", "safety"): (
        "Safety advice, said once after the title and before the first step: one sentence or "
        "a list of them.\n\nExample: safety: [Move gently., Stop at once if you feel any pain.]",
        None,
    ),
    ("routine", "steps"): (
        "The steps in order. Required, at least one. Each step is exactly one kind: exercise, "
        "rest, say, breathe or repeat.\n\n"
        "Example: steps: [{exercise: Neck tilts, hold: 20s, sides: both}, {rest: 15s}]",
        None,
    ),
    ("routine", "source"): (
        "Where the routine comes from (an article, a book, a person), shown by coach show and "
        "never spoken. At most {chars} characters.\n\n"
        "Example: source: How To Crack Upper Back At Home, Workout Planner, 2023",
        None,
    ),
    ("routine", "tips"): (
        "Advice to read before or after a session, shown by coach show and never spoken: one "
        "sentence or a list of them.\n\nExample: tips: [Stretch before and after., Be consistent.]",
        None,
    ),
    ("routine", "alternatives"): (
        "Other things that may help, shown by coach show and never spoken: one or a list.\n\n"
        "Example: alternatives: [Massage therapy, Physical therapy, Heat therapy]",
        None,
    ),
    ("routine", "faq"): (
        "Questions and answers, shown by coach show and never spoken: a list of entries with "
        "'question' and 'answer'.\n\n"
        "Example: faq: [{question: Is it safe?, answer: Stop if you feel any pain.}]",
        None,
    ),
    ("routine", "pronounce"): (
        f"How words are said: each word (or phrase of up to {PRONOUNCE_WORDS} words) maps to a "
        "respelling that the voice reads instead. Matching is whole-word and ignores case; "
        "captions, chapters and coach show keep the written word. Respell in letters, not "
        "phonemes.\n\nExample: pronounce: {spinae: spy nee, use: yooz}",
        None,
    ),
    ("defaults", "hold"): (
        "How long an exercise with none of hold, reps and breaths is held ({range}). "
        "Default: 30s.\n\nExample: hold: 20s",
        ["20s", "30s", "1m"],
    ),
    ("defaults", "rest"): (
        "Rest between the sets of an exercise that gives no rest of its own ({range}). "
        "Default: 15s.\n\nExample: rest: 15s",
        ["10s", "15s", "30s"],
    ),
    ("defaults", "transition"): (
        "Time to get into position: after an exercise is announced and after switching sides, "
        "before the hold starts ({range}). Default: 5s.\n\nExample: transition: 5s",
        ["3s", "5s", "10s"],
    ),
    ("defaults", "tempo"): (
        "Time per rep for exercises with reps and no tempo of their own ({range}). "
        "Default: 3s.\n\nExample: tempo: 3s",
        ["2s", "3s", "4s"],
    ),
    ("defaults", "breath"): (
        "Breath pattern for exercises with breaths and for breathe steps that name none: "
        "{pattern}. Default: calm (4-0-6).\n\nExample: breath: 4-7-8",
        None,
    ),
    ("faq", "question"): (
        "The question.\n\nExample: question: Is it safe to crack your upper back?",
        None,
    ),
    ("faq", "answer"): (
        "Its answer. At most {chars} characters.\n\n"
        "Example: answer: Stop at once if you feel any pain.",
        None,
    ),
    ("exercise", "exercise"): (
        "An exercise step: a movement or position, held (hold), repeated (reps) or breathed "
        "(breaths), at most one of the three; with none it is held for defaults.hold. The value "
        "is the exercise's name: said to announce it, and its chapter title. At most {chars} "
        "characters.\n\nExample: exercise: Seated twist",
        None,
    ),
    ("exercise", "say"): (
        "Instructions, said after the name and before the hold starts: one sentence or a list "
        "of them.\n\nExample: say: [Sit tall., Twist to the right.]",
        None,
    ),
    ("exercise", "brief"): (
        "The short wording of the exercise, one sentence: said instead of 'say' with "
        "--verbosity brief, and when the same exercise comes again (full). Default: the first "
        "sentence of 'say'.\n\nExample: brief: Squeeze your shoulder blades together.",
        None,
    ),
    ("exercise", "hold"): (
        "Hold for this long ({range}), on each side and in each set. Tones mark its start and "
        "end; holds of 5s or more end with a spoken countdown. Not with reps or breaths.\n\n"
        "Example: hold: 30s",
        ["15s", "20s", "30s", "1m"],
    ),
    ("exercise", "reps"): (
        "Do this many repetitions ({range}), paced by tempo. Not with hold or breaths.\n\n"
        "Example: reps: 10",
        [5, 10, 15],
    ),
    ("exercise", "breaths"): (
        "Hold for this many breaths ({range}) of the breath pattern, with spoken breath cues. "
        "Not with hold or reps.\n\nExample: breaths: 5",
        [3, 5, 10],
    ),
    ("exercise", "tempo"): (
        "Time per rep ({range}); only with reps. Default: defaults.tempo.\n\nExample: tempo: 2s",
        ["2s", "3s", "4s"],
    ),
    ("exercise", "sides"): (
        "Which side: left, right, or both (left, then a switch cue, then right). Leave it out "
        "for exercises without sides.\n\nExample: sides: both",
        None,
    ),
    ("exercise", "sets"): (
        "Do the hold, reps or breaths this many times ({range}), with a rest between sets. "
        "Default: 1.\n\nExample: sets: 3",
        [2, 3],
    ),
    ("exercise", "rest"): (
        "Rest between sets ({range}). Default: defaults.rest.\n\nExample: rest: 20s",
        ["10s", "15s", "30s"],
    ),
    ("exercise", "breath"): (
        "Breath pattern: paces breaths, or adds breath cues to a hold: {pattern}. Not with "
        "reps. Default for breaths: defaults.breath.\n\nExample: breath: 4-0-6",
        None,
    ),
    ("exercise", "cues"): (
        "Reminders said during the hold, spread evenly across it; only with hold (or none of "
        "hold, reps and breaths).\n\nExample: cues: [Keep your chin tucked., Breathe slowly.]",
        None,
    ),
    ("exercise", "caution"): (
        "A warning said before the exercise is announced.\n\n"
        "Example: caution: Twist only as far as is comfortable.",
        None,
    ),
    ("exercise", "count"): (
        "Count the reps aloud (true) instead of a soft tone per rep; only with reps. "
        "Default: false.\n\nExample: count: true",
        None,
    ),
    ("exercise", "transition"): (
        "Time to get into position after the announcement and after switching sides "
        "({range}). Default: defaults.transition.\n\nExample: transition: 10s",
        ["3s", "5s", "10s"],
    ),
    ("rest", "rest"): (
        "A rest step: a tone, optional words, then 'Next up' before the next exercise. The "
        "value is how long to rest ({range}), from the rest tone.\n\nExample: rest: 30s",
        ["15s", "30s", "1m"],
    ),
    ("rest", "say"): (
        "Said during the rest, e.g. what to get ready.\n\nExample: say: Take a tennis ball.",
        None,
    ),
    ("say", "say"): (
        "A say step: words said between steps, with no timer. The value is what to say: one "
        "sentence or a list of them.\n\nExample: say: Now lie down on your back.",
        None,
    ),
    ("breathe", "breathe"): (
        "A breathe step: a breathing block of whole breath cycles, 5 unless cycles or duration "
        "says otherwise. The value is the breath pattern, {pattern}; leave it empty for "
        "defaults.breath.\n\nExample: breathe: 4-7-8",
        None,
    ),
    ("breathe", "cycles"): (
        "How many breaths ({range}). Not with duration. Default: 5.\n\nExample: cycles: 6",
        [4, 6, 10],
    ),
    ("breathe", "duration"): (
        "About how long ({range}): rounded to whole breaths. Not with cycles.\n\n"
        "Example: duration: 2m",
        ["1m", "2m", "5m"],
    ),
    ("breathe", "say"): (
        "Instructions said after the pattern is explained, before the first breath.\n\n"
        "Example: say: Close your eyes.",
        None,
    ),
    ("repeat", "repeat"): (
        "A repeat step: do the listed steps this many rounds ({range}), announcing each "
        "round.\n\nExample: repeat: 3",
        [2, 3],
    ),
    ("repeat", "steps"): (
        f"The steps of each round; at least one. Repeats nest up to {MAX_REPEAT_DEPTH} deep."
        "\n\nExample: steps: [{exercise: Cat-cow, reps: 8}]",
        None,
    ),
    ("repeat", "rest"): (
        "Rest between rounds ({range}). Default: none.\n\nExample: rest: 30s",
        ["15s", "30s", "1m"],
    ),
    ("repeat", "say"): (
        "Said at the start of the first round.\n\nExample: say: Three rounds, slowly.",
        None,
    ),
}

# The kind of value of each key, as the parser reads it: ("duration", limits in ms),
# ("whole", limits), ("number", limits), ("text",), ("texts",), ("pattern",), ...
_DURATIONS = {
    ("defaults", "hold"): HOLD_MS,
    ("defaults", "rest"): REST_MS,
    ("defaults", "transition"): TRANSITION_MS,
    ("defaults", "tempo"): TEMPO_MS,
    ("exercise", "hold"): HOLD_MS,
    ("exercise", "tempo"): TEMPO_MS,
    ("exercise", "rest"): REST_MS,
    ("exercise", "transition"): TRANSITION_MS,
    ("rest", "rest"): REST_STEP_MS,
    ("breathe", "duration"): BREATHE_MS,
    ("repeat", "rest"): REST_MS,
}
_WHOLES = {
    ("routine", "rate"): RATE_WPM,
    ("routine", "pitch"): PITCH,
    ("exercise", "reps"): REPS,
    ("exercise", "breaths"): BREATHS,
    ("exercise", "sets"): SETS,
    ("breathe", "cycles"): BREATHS,
    ("repeat", "repeat"): TIMES,
}
_NUMBERS = {("routine", "pace"): PACE}
_TEXTS = {"say", "safety", "tips", "alternatives", "cues"}
_PATTERNS = {("defaults", "breath"), ("exercise", "breath"), ("breathe", "breathe")}
_DEFAULTS: dict[tuple[str, str], Any] = {
    ("routine", "language"): "en",
    ("routine", "pace"): 1,
    ("routine", "pitch"): 50,
    ("exercise", "count"): False,
}


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _range(place: str, key: str) -> str:
    if (place, key) in _DURATIONS:
        lo, hi = _DURATIONS[place, key]
        return f"{format_duration(lo) if lo else '0'} to {format_duration(hi)}"
    lo_n, hi_n = {**_WHOLES, **_NUMBERS}.get((place, key), (0, 0))
    return f"{lo_n:g} to {hi_n:g}"


def _text(key: str, chars: int, what: str | None = None) -> dict[str, Any]:
    what = what or f"'{key}'"
    return {
        "type": "string",
        "pattern": r"\S",
        "maxLength": chars,
        "errorMessage": f"{what} must be text",
        "patternErrorMessage": f"{what} must not be empty",
    }


def _value(place: str, key: str) -> dict[str, Any]:
    """The schema of one key's value, without its description."""
    where = (place, key)
    what = f"'{key}'"
    if where in _DURATIONS:
        lo, hi = _DURATIONS[where]
        # One schema with two types (not an anyOf of a number and a text): see the docstring.
        return {
            "type": ["number", "string"],
            "minimum": _seconds(lo),
            "maximum": _seconds(hi),
            "pattern": DURATION_PATTERN,
            "errorMessage": f"{what} must be a duration {DURATION_EXAMPLES}",
            "patternErrorMessage": (
                f"{what} must be a duration {DURATION_EXAMPLES}: seconds, or h, m and s "
                "in that order (1m30s, not 1m30 or 90 sec)"
            ),
        }
    if where in _WHOLES or where in _NUMBERS:
        lo_n, hi_n = _WHOLES.get(where) or _NUMBERS[where]
        kind = "whole number" if where in _WHOLES else "number"
        return {
            "type": "integer" if where in _WHOLES else "number",
            "minimum": lo_n,
            "maximum": hi_n,
            "errorMessage": f"{what} must be a {kind} from {lo_n:g} to {hi_n:g}",
        }
    if where in _PATTERNS:
        message = f"{what} must be a breath pattern {PATTERN_EXAMPLES}"
        return {
            # A breathe step may leave its pattern empty (null): the routine's default.
            "type": ["string", "null"] if key == "breathe" else "string",
            "pattern": PATTERN_PATTERN,
            # Offered by completion; an enum would make the server's message list only these.
            "examples": [*NAMED_PATTERNS, "4-7-8", "4-4-4-4"],
            "errorMessage": message,
            "patternErrorMessage": (
                f"{message}; each phase at most 60 seconds, breathing in and out more than 0"
            ),
        }
    if key in _TEXTS:
        # One sentence or a list of them. Not an anyOf (the server would word a value of
        # neither type "Expected string | array"), and the list's keywords under an if/then
        # (with `items` beside the types, the server completes 'say:' as a list, though most
        # are one sentence).
        item = _text(key, TEXT_CHARS, f"each item of {what}")
        return {
            "type": ["string", "array"],
            "errorMessage": f"{what} must be text or a list of texts",
            "if": {"type": "string"},
            "then": {
                "pattern": item["pattern"],
                "maxLength": TEXT_CHARS,
                "patternErrorMessage": f"{what} must not be empty",
            },
            "else": {"minItems": 1, "items": item},
        }
    if key == "sides":
        return {"enum": list(SIDES), "errorMessage": f"{what} must be one of {', '.join(SIDES)}"}
    if key == "count":
        return {"type": "boolean", "errorMessage": f"{what} must be true or false"}
    if key == "language":
        return {
            "type": "string",
            "pattern": LANGUAGE_PATTERN,
            "maxLength": MAX_CHARS["language"],
            "errorMessage": f"{what} must be a language code such as en, de or en-GB",
        }
    if key == "source":  # not read as spoken text: an empty source is no mistake
        return {
            "type": "string",
            "maxLength": MAX_CHARS[key],
            "errorMessage": f"{what} must be text",
        }
    if key == "answer":
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CHARS[key],
            "errorMessage": f"{what} must be text",
        }
    if key == "defaults":
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: _property("defaults", k) for k in DEFAULTS_KEYS},
        }
    if key == "steps":
        return _steps()
    if key == "faq":
        return {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": list(FAQ_KEYS),
                "properties": {k: _property("faq", k) for k in FAQ_KEYS},
            },
        }
    if key == "pronounce":
        return {
            "type": "object",
            "propertyNames": {
                "pattern": PRONOUNCE_KEY_PATTERN,
                "maxLength": PRONOUNCE_KEY_CHARS,
                "patternErrorMessage": (
                    "a key of 'pronounce' must be a word or a few words (at most "
                    f"{PRONOUNCE_WORDS}), without punctuation"
                ),
            },
            "additionalProperties": {
                "description": "The respelling: how the word sounds, in letters.\n\n"
                "Example: spy nee",
                "type": "string",
                "pattern": r"^(?![\s\S]*\[\[)[\s\S]*\S",
                "maxLength": PRONOUNCE_SAY_CHARS,
                "errorMessage": "a respelling must be text",
                "patternErrorMessage": (
                    "a respelling must not be empty, and is spelt as it sounds, not written "
                    "as phonemes ('[[...]]')"
                ),
            },
            "errorMessage": (
                "'pronounce' must be a mapping of words to how they are said, such as "
                "'spinae: spy nee'"
            ),
        }
    return _text(key, MAX_CHARS.get(key, TEXT_CHARS))


def _phases(pattern: tuple[float, ...]) -> str:
    """4-7-8 for (4, 7, 8, 0): the last hold is left out when it is 0, as people write it."""
    shown = pattern[:3] if pattern[3] == 0 else pattern
    return "-".join(f"{p:g}" for p in shown)


_PATTERN_TEXT = (
    "seconds in-hold-out (three numbers) or in-hold-out-hold (four), in and out more than 0, "
    "each phase at most 60; or a name: "
    + ", ".join(f"{n} ({_phases(p)})" for n, p in NAMED_PATTERNS.items())
)


# The languages coach has its own words in, from coach.words' table: "English (en), ...".
_WORDS_TEXT = ", ".join(f"{lang.name} ({lang.code})" for lang in LANGUAGES)


def _property(place: str, key: str) -> dict[str, Any]:
    """A key's whole schema: its own description first, then its value's schema."""
    try:
        description, examples = _KEYS[place, key]
    except KeyError:
        raise ValueError(f"coach.routine.schema describes no key '{key}' in {place}") from None
    # str.replace, not str.format: examples in flow style hold braces of their own.
    text = (
        description.replace("{range}", _range(place, key))
        .replace("{chars}", str(MAX_CHARS.get(key, TEXT_CHARS)))
        .replace("{pattern}", _PATTERN_TEXT)
        .replace("{words}", _WORDS_TEXT)
    )
    out: dict[str, Any] = {"description": text, **_value(place, key)}
    if examples is not None:
        out["examples"] = examples
    if (place, key) in _DEFAULTS:
        out["default"] = _DEFAULTS[place, key]
    return out


# -- steps and the rules between their keys ----------------------------------------------------


def _forbid(when: dict[str, Any], key: str, message: str) -> dict[str, Any]:
    """When `when` holds, `key` must be absent: the server reports `message` on that key."""
    return {"if": when, "then": {"properties": {key: False}, "errorMessage": message}}


def _has(key: str) -> dict[str, Any]:
    return {"required": [key]}


def _rules(kind: str) -> list[dict[str, Any]]:
    """The parser's rules between the keys of a step, each on the key that coach points at."""
    if kind == "breathe":
        return [_forbid(_has("cycles"), "duration", CYCLES_AND_DURATION)]
    if kind != "exercise":
        return []
    rules = []
    for i, first in enumerate(MODES):  # coach points at the later one, in MODES' order
        rules += [
            _forbid(_has(first), later, modes_problem(first, later)) for later in MODES[i + 1 :]
        ]
    for key, needs, does in NEEDS:
        if needs == "hold":  # a hold, or an exercise of no mode (held for defaults.hold)
            others = [m for m in MODES if m != needs]
            rules += [_forbid(_has(m), key, needs_problem(key, needs, does)) for m in others]
        else:
            rules.append(_forbid({"not": _has(needs)}, key, needs_problem(key, needs, does)))
    for key, other, does in EXCLUDES:
        rules.append(_forbid(_has(other), key, excludes_problem(key, does)))
    return rules


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _foreign_keys() -> list[dict[str, Any]]:
    """A step's kind is the first of KINDS among its keys (as the parser decides); a key of
    another kind is reported on that key, saying where it belongs. Without these rules the
    editor reports the kind it guesses best ('Missing property "exercise"' for a say step
    with a 'hold'), on the step's first line. They refuse nothing the kinds' anyOf accepts."""
    rules = []
    for i, kind in enumerate(KINDS):
        when: dict[str, Any] = {"required": [kind]}
        if KINDS[:i]:
            when["not"] = {"anyOf": [_has(k) for k in KINDS[:i]]}
        groups: dict[tuple[str, ...], list[str]] = {}
        for key in sorted(STEP_FIELDS - set(STEP_KEYS[kind])):
            belongs = tuple(k for k in KINDS if key in STEP_KEYS[k])
            groups.setdefault(belongs, []).append(key)
        for belongs, keys in groups.items():
            where = " or ".join(_a(f"{k} step") for k in belongs)
            message = f"this key does not apply to {_a(kind + ' step')}; it belongs in {where}"
            rules.append(
                {
                    "if": when,
                    "then": {"properties": dict.fromkeys(keys, False), "errorMessage": message},
                }
            )
    return rules


def _kind(kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": kind,
        # No "type": the step around it says "object", once, in words of its own.
        "required": [kind, *(["steps"] if kind == "repeat" else [])],
        "additionalProperties": False,
        "properties": {key: _property(kind, key) for key in STEP_KEYS[kind]},
    }
    if rules := _rules(kind):
        out["allOf"] = rules
    return out


def _steps() -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/$defs/step"},
        "errorMessage": "'steps' must be a list: start each step with '- '",
    }


# Snippets offered by completion; each, with its placeholders' defaults, is a valid step
# (tests/test_schema.py loads them with coach's loader).
_STEP_SNIPPETS = [
    ("exercise held", {"exercise": "${1:Neck tilts}", "hold": "${2:30s}"}),
    (
        "exercise on both sides",
        {"exercise": "${1:Side stretch}", "hold": "${2:20s}", "sides": "both"},
    ),
    ("exercise repeated", {"exercise": "${1:Cat-cow}", "reps": 10, "tempo": "${2:3s}"}),
    ("breathe step", {"breathe": "${1:box}", "cycles": 4}),
    ("rest step", {"rest": "${1:15s}"}),
    ("say step", {"say": "${1:Sit tall and relax your shoulders.}"}),
    ("repeat step", {"repeat": 2, "steps": [{"exercise": "${1:Cat-cow}", "reps": 8}]}),
]
_ROUTINE_SNIPPET = {
    "title": "${1:Morning stretch}",
    "steps": [
        {"say": "${2:Sit tall and relax your shoulders.}"},
        {"exercise": "${3:Neck tilts}", "hold": "${4:20s}", "sides": "both"},
        {"rest": "${5:15s}"},
    ],
}


def build_schema() -> dict[str, Any]:
    """The routine schema, from the model's tables; `routine.schema.json` is this, written."""
    described = {k for k in _KEYS}
    wanted = {
        *(("routine", k) for k in TOP_KEYS),
        *(("defaults", k) for k in DEFAULTS_KEYS),
        *(("faq", k) for k in FAQ_KEYS),
        *((kind, k) for kind in KINDS for k in STEP_KEYS[kind]),
    }
    if described != wanted:
        raise ValueError(
            "coach.routine.schema describes other keys than the model has: "
            f"missing {sorted(wanted - described)}, extra {sorted(described - wanted)}"
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://coach.invalid/routine-v1.schema.json",
        "title": "coach routine",
        "description": "A routine for coach, the voice-guided audio coach: a title and a list "
        "of steps (exercise, rest, say, breathe, repeat), each step exactly one kind. See "
        "docs/routine-format.md.",
        "$comment": "Generated by coach/routine/schema.py from the loader's tables "
        "(python -m coach.routine.schema); do not edit. Shaped for yaml-language-server, "
        "which reads errorMessage, patternErrorMessage and defaultSnippets; other validators "
        "ignore them.",
        "type": "object",
        "required": ["title", "steps"],
        "additionalProperties": False,
        "properties": {key: _property("routine", key) for key in TOP_KEYS},
        "defaultSnippets": [
            {
                "label": "routine",
                "description": "A routine: a title and three steps.",
                "body": _ROUTINE_SNIPPET,
            }
        ],
        "$defs": {
            "step": {
                # No description: the server would show it for the step's keys.
                "$comment": "One step: exactly one of the kinds " + ", ".join(KINDS) + ".",
                "type": "object",
                "errorMessage": "a step must be a mapping of keys to values; "
                "to speak text, write it as '- say: ...'",
                # anyOf, not oneOf: see the module's docstring.
                "anyOf": [{"$ref": f"#/$defs/{kind}Step"} for kind in KINDS],
                "allOf": _foreign_keys(),
                "defaultSnippets": [
                    {"label": label, "description": f"A step: {label}.", "body": body}
                    for label, body in _STEP_SNIPPETS
                ],
            },
            **{f"{kind}Step": _kind(kind) for kind in KINDS},
        },
    }


def schema_text() -> str:
    """The schema as the file holds it."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write routine.schema.json (`python -m coach.routine.schema`); --check only compares."""
    text = schema_text()
    if sys.argv[1:] == ["--check"]:
        same = SCHEMA_FILE.read_text(encoding="utf-8") == text
        print(f"{SCHEMA_FILE.name} is {'current' if same else 'out of date'}")
        sys.exit(0 if same else 1)
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
