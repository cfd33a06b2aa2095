"""Pacing: what the person asked for, layered, and what a routine ends up with.

Every setting is declared once, as a row of `SETTINGS`: its name, kind, limits, default, help
and where it may be set. The command-line options, the config file's reader, `coach config`,
the `Settings` and `Pacing` fields and the cue script's settings check are all derived from
that table, so a new setting is one row plus the code that uses its value.

Precedence, highest first: command-line options > the user's config file > the routine's own
values > the built-in defaults below. `Settings` holds one layer (every field optional);
`resolve` folds the layers with a routine into a complete `Pacing` for the compiler.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import UsageError
from coach.routine.limits import HOLD_MS, PACE, PITCH, RATE_WPM, REST_MS
from coach.values import (
    DURATION_EXAMPLES,
    BreathPattern,
    duration_hint,
    format_duration,
    parse_duration,
    parse_pattern,
)

if TYPE_CHECKING:
    from coach.routine.model import Routine

BUILTIN_HOLD_MS = 30_000
BUILTIN_REST_MS = 15_000
BUILTIN_TRANSITION_MS = 5_000
BUILTIN_TEMPO_MS = 3_000
BUILTIN_BREATH = BreathPattern("calm", 4_000, 0, 6_000, 0)
BUILTIN_RATE_WPM = 165
BUILTIN_PITCH = 50
SCALE = (0.1, 10.0)
BREATH_CUES = ("voice", "tones", "both")
VERBOSITY = ("full", "brief", "minimal")

# The kinds of value a setting can hold; each kind has one way to be read from the command
# line, from the config file and from a cue script, and one way to be shown.
NUMBER = "number"  # a float within `limits`
WHOLE = "whole"  # an int within `limits`
DURATION = "duration"  # text such as 45s or 1m, held as ms within `limits`
PATTERN = "pattern"  # a breath pattern: 4-7-8, 4-4-4-4 or a name
CHOICE = "choice"  # one of `choices`
TEXT = "text"  # free text, such as a voice name

# Free text in the config file is held to what the routine format allows for its text keys.
_TEXT_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting, declared once; everything else about settings is derived from these."""

    name: str  # the config key; its option is --name with - for _ (hold_scale: --hold-scale)
    field: str  # its name in Settings and Pacing, with its unit (hold_ms, rate_wpm)
    kind: str  # NUMBER, WHOLE, DURATION, PATTERN, CHOICE or TEXT
    default: object  # the built-in value; None: each step's own (or the voice's) applies
    help: str  # the option's --help text
    limits: tuple = ()  # (lowest, highest) for numbers, whole numbers and durations
    choices: tuple[str, ...] = ()  # for CHOICE
    shown_default: str | None = None  # `coach config`'s words for the default, when not it
    routine: bool = False  # a routine may set it too, with the same key, under the config
    cli: bool = True  # a command-line option
    config: bool = True  # a key of the config file
    help_last: bool = False  # listed after the other pacing options in --help
    # How the cue script's value is checked, when not by `kind`: scripts were first written
    # with a looser check for some settings, and those scripts must still load.
    script_kind: str | None = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def cli_type(self) -> type:
        """What the command line parses the option's text into before it is checked."""
        return {NUMBER: float, WHOLE: int}.get(self.kind, str)

    @property
    def value_type(self) -> type:
        """What the setting holds once read."""
        kinds = {NUMBER: float, WHOLE: int, DURATION: int, PATTERN: BreathPattern}
        return kinds.get(self.kind, str)

    @property
    def checked_as(self) -> str:
        return self.script_kind or self.kind

    def shown_builtin(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        shown = _shown(self.default)
        return f"{shown} (unless the routine sets one)" if self.routine else shown


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "pace",
        "pace",
        NUMBER,
        1.0,
        "Tempo multiplier: all times scale by 1/pace (1.25 is a quarter faster).",
        limits=PACE,
        routine=True,
    ),
    Setting(
        "hold",
        "hold_ms",
        DURATION,
        None,
        "Every hold lasts this long, e.g. 45s or 1m.",
        limits=HOLD_MS,
        shown_default="each step's own",
    ),
    Setting(
        "hold_scale",
        "hold_scale",
        NUMBER,
        1.0,
        "Multiply every hold (and breath count) by this.",
        limits=SCALE,
    ),
    Setting(
        "rest",
        "rest_ms",
        DURATION,
        None,
        "Every rest lasts this long, e.g. 20s.",
        limits=REST_MS,
        shown_default="each step's own",
    ),
    Setting("rest_scale", "rest_scale", NUMBER, 1.0, "Multiply every rest by this.", limits=SCALE),
    Setting(
        "breath",
        "breath",
        PATTERN,
        None,
        "Breath pattern for every breath-paced part: 4-7-8, box, relax, calm, coherent.",
        shown_default="each step's own",
    ),
    Setting(
        "rate",
        "rate_wpm",
        WHOLE,
        BUILTIN_RATE_WPM,
        f"Speech rate in words per minute ({RATE_WPM[0]}-{RATE_WPM[1]}).",
        limits=RATE_WPM,
        routine=True,
        script_kind=NUMBER,
    ),
    Setting(
        "voice",
        "voice",
        TEXT,
        None,
        "Voice, with its engine: piper:en_US-joe-medium, espeak:en-gb, a path to a Piper "
        ".onnx, or piper or espeak for that engine's voice for the language (coach voices).",
        shown_default="the routine's, else the best installed for its language (Piper, else "
        "espeak-ng)",
        routine=True,
        help_last=True,
    ),
    # How breath phases (and countdowns) sound.
    Setting(
        "breath_cues",
        "breath_cues",
        CHOICE,
        "both",
        "How breathing is cued: voice, tones or both (default both); with tones, "
        "countdowns are pips too.",
        choices=BREATH_CUES,
    ),
    # espeak-ng's scale.
    Setting(
        "pitch",
        "pitch",
        WHOLE,
        BUILTIN_PITCH,
        f"Voice pitch, {PITCH[0]}-{PITCH[1]} (default {BUILTIN_PITCH}).",
        limits=PITCH,
        routine=True,
    ),
    Setting(
        "verbosity",
        "verbosity",
        CHOICE,
        "full",
        "How much is said: full (each exercise explained the first time), brief "
        "(its name and key cue) or minimal (names and tones).",
        choices=VERBOSITY,
    ),
)

CONFIG_KEYS = tuple(s.name for s in SETTINGS if s.config)


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- one layer, and what a routine ends up with --------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """One layer of pacing choices; None means "not chosen here".

    One field per row of SETTINGS (its `field`), in table order. The fields are written out,
    not made from the table, so that the type checker sees every use of every setting;
    `_check_fields` refuses, on import, a row without its field or a field without its row.
    """

    pace: float | None = None
    hold_ms: int | None = None
    hold_scale: float | None = None
    rest_ms: int | None = None
    rest_scale: float | None = None
    breath: BreathPattern | None = None
    rate_wpm: int | None = None
    voice: str | None = None
    breath_cues: str | None = None
    pitch: int | None = None
    verbosity: str | None = None

    def given(self) -> bool:
        """Whether this layer chooses anything at all."""
        return any(getattr(self, f.name) is not None for f in fields(Settings))

    def over(self, under: Settings) -> Settings:
        """This layer with its gaps filled from `under`."""
        return Settings(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(under, f.name)
                for f in fields(Settings)
            }
        )


@dataclass(frozen=True, slots=True)
class Pacing:
    """Everything the compiler needs to time one routine. Times here are before `pace`.

    One field per row of SETTINGS, holding its default (the cue script's JSON keeps this
    order: the settings version 1 was first written with, then later ones); `hold_ms`,
    `rest_ms` and `breath` are overrides (None: each step's own value is used); the
    `default_*` values fill in where a step gives none.
    """

    pace: float = 1.0
    rate_wpm: int = BUILTIN_RATE_WPM
    voice: str | None = None
    hold_ms: int | None = None
    hold_scale: float = 1.0
    rest_ms: int | None = None
    rest_scale: float = 1.0
    breath: BreathPattern | None = None
    breath_cues: str = "both"
    pitch: int = BUILTIN_PITCH
    verbosity: str = "full"
    default_hold_ms: int = BUILTIN_HOLD_MS
    default_rest_ms: int = BUILTIN_REST_MS
    default_transition_ms: int = BUILTIN_TRANSITION_MS
    default_tempo_ms: int = BUILTIN_TEMPO_MS
    default_breath: BreathPattern = BUILTIN_BREATH

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("breath", "default_breath"):
            pattern = getattr(self, key)
            out[key] = None if pattern is None else pattern_to_json(pattern)
        return out

    @classmethod
    def from_json(cls, data: dict) -> Pacing:
        """Inverse of to_json; raises KeyError/TypeError/ValueError on malformed data."""
        values = {
            f.name: data.get(f.name, _ADDED.get(f.name)) if f.name in _ADDED else data[f.name]
            for f in fields(cls)
        }
        for key in ("breath", "default_breath"):
            if values[key] is not None:
                values[key] = pattern_from_json(values[key])
        return replace(cls(), **values)


# The settings a cue script of version 1 was first written with; a script without a setting
# added later still loads, meaning its default (what older scripts meant).
_SCRIPT_V1 = (
    "pace",
    "rate_wpm",
    "voice",
    "hold_ms",
    "hold_scale",
    "rest_ms",
    "rest_scale",
    "breath",
    "breath_cues",
    "pitch",
)
_ADDED = {s.field: s.default for s in SETTINGS if s.field not in _SCRIPT_V1}
_PACING_ONLY = (
    "default_hold_ms",
    "default_rest_ms",
    "default_transition_ms",
    "default_tempo_ms",
    "default_breath",
)


def _check_fields() -> None:
    # A new row without its fields (or the other way round) fails here, on import, with what
    # to add, instead of a setting that is parsed and then silently dropped.
    table = [s.field for s in SETTINGS]
    layer = [f.name for f in fields(Settings)]
    if layer != table:
        raise AssertionError(f"Settings' fields {layer} must be SETTINGS' fields {table}")
    pacing = {f.name: f for f in fields(Pacing)}
    want = set(table) | set(_PACING_ONLY)
    if set(pacing) != want:
        raise AssertionError(f"Pacing's fields must be {sorted(want)}, found {sorted(pacing)}")
    for s in SETTINGS:
        if pacing[s.field].default != s.default:
            raise AssertionError(f"Pacing.{s.field} must default to {s.default!r}")


_check_fields()


def pattern_to_json(p: BreathPattern) -> dict:
    return asdict(p)


def pattern_from_json(data: dict) -> BreathPattern:
    return BreathPattern(**{f.name: data[f.name] for f in fields(BreathPattern)})


def resolve(routine: Routine, settings: Settings) -> Pacing:
    """Fold the person's settings (CLI over config) with the routine's values and defaults."""
    d = routine.defaults
    return Pacing(
        **{
            s.field: _first(
                getattr(settings, s.field),
                getattr(routine, s.field) if s.routine else None,
                s.default,
            )
            for s in SETTINGS
        },
        default_hold_ms=_first(d.hold_ms, BUILTIN_HOLD_MS),
        default_rest_ms=_first(d.rest_ms, BUILTIN_REST_MS),
        default_transition_ms=_first(d.transition_ms, BUILTIN_TRANSITION_MS),
        default_tempo_ms=_first(d.tempo_ms, BUILTIN_TEMPO_MS),
        default_breath=_first(d.breath, BUILTIN_BREATH),
    )


def _first(*values):
    return next((v for v in values if v is not None), None)


# -- the command line ---------------------------------------------------------------------


def from_options(**options) -> Settings:
    """Settings from command-line values, by option name (`hold_scale` for --hold-scale).

    Raises UsageError naming the option at fault (the first in table order).
    """
    values = {}
    for s in SETTINGS:
        if s.cli:
            values[s.field] = _FROM_TEXT[s.kind](s, options.pop(s.name, None))
    if options:
        raise TypeError(f"from_options() got unknown options: {', '.join(options)}")
    return Settings(**values)


def _option_choice(s: Setting, value):
    if value is None:
        return None
    if value not in s.choices:
        raise UsageError(s.option, f"must be one of {', '.join(s.choices)}, found '{value}'")
    return value


def _option_range(s: Setting, value):
    if value is None:
        return None
    lo, hi = s.limits
    if not lo <= value <= hi:
        raise UsageError(s.option, f"must be between {lo:g} and {hi:g}, found {value:g}")
    return value


def _option_duration(s: Setting, text):
    if text is None:
        return None
    ms = parse_duration(text)
    if ms is None:
        hint = duration_hint(text)
        tail = f"; did you mean '{hint}'?" if hint else ""
        raise UsageError(s.option, f"must be a duration {DURATION_EXAMPLES}, found '{text}'{tail}")
    lo, hi = s.limits
    if not lo <= ms <= hi:
        raise UsageError(
            s.option,
            f"must be between {format_duration(lo)} and {format_duration(hi)}, found '{text}'",
        )
    return ms


def _option_pattern(s: Setting, text):
    if text is None:
        return None
    result = parse_pattern(text)
    if isinstance(result, str):
        raise UsageError(s.option, result)
    return result


def _option_text(s: Setting, text):
    # Blank text chooses nothing, so the config's (or routine's) value still applies.
    return text.strip() if text and text.strip() else None


_FROM_TEXT = {
    NUMBER: _option_range,
    WHOLE: _option_range,
    DURATION: _option_duration,
    PATTERN: _option_pattern,
    CHOICE: _option_choice,
    TEXT: _option_text,
}


# -- the user's config file ---------------------------------------------------------------


def config_path() -> Path:
    """Where the user's config lives: $COACH_CONFIG, else the platform's config folder."""
    override = os.environ.get("COACH_CONFIG")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_config_path("coach", appauthor=False) / "config.yaml"


def _readers(p, r) -> dict:
    """How each kind of setting is read from a config file's node, with parser `p`."""
    return {
        NUMBER: lambda s, n: p.number(n, f"'{s.name}'", s.limits),
        WHOLE: lambda s, n: p.whole(n, f"'{s.name}'", s.limits),
        DURATION: lambda s, n: p.duration(n, f"'{s.name}'", s.limits),
        PATTERN: lambda s, n: p.pattern(n, f"'{s.name}'"),
        CHOICE: lambda s, n: p.choice(n, f"'{s.name}'", s.choices),
        TEXT: lambda s, n: r.text(n, f"'{s.name}'", max_chars=_TEXT_MAX_CHARS),
    }


def load_config(path: Path | None = None) -> Settings:
    """The config file's settings; a missing file is an empty layer, a bad one a RoutineError."""
    # Imported here: the YAML reader is needed only when there is a file to read, and the CLI
    # imports this module to build its options.
    from coach.routine.parser import Parser
    from coach.routine.yamlnodes import BudgetExceeded, Reader, compose, read_text

    path = path or config_path()
    if not path.exists():
        return Settings()
    shown = str(path)
    root = compose(read_text(path, shown, what="config"), shown)
    if root is None:
        return Settings()
    r = Reader(shown)
    p = Parser(r)
    try:
        f = p.fields(root, "the config file", CONFIG_KEYS)
        values = {}
        if f is not None:
            readers = _readers(p, r)
            by_name = {s.name: s for s in SETTINGS}
            for key, (_, node) in f.items():
                s = by_name[key]
                values[s.field] = readers[s.kind](s, node)
    except BudgetExceeded:
        pass
    r.raise_if_any()
    return Settings(**values)


def config_rows(path: Path | None = None) -> list[tuple[str, str, str]]:
    """(key, value, where it comes from) for each setting, for `coach config`."""
    path = path or config_path()
    layer = load_config(path)
    rows = []
    for s in SETTINGS:
        if not s.config:
            continue
        value = getattr(layer, s.field)
        if value is None:
            rows.append((s.name, s.shown_builtin(), "default"))
        elif s.kind == DURATION:
            rows.append((s.name, format_duration(value), "config"))
        elif s.kind == PATTERN:
            rows.append((s.name, value.name, "config"))
        else:
            rows.append((s.name, _shown(value), "config"))
    return rows
