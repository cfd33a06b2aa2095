"""Pacing: what the person asked for, layered, and what a routine ends up with.

Precedence, highest first: command-line options > the user's config file > the routine's own
values > the built-in defaults below. `Settings` holds one layer (every field optional);
`resolve` folds the layers with a routine into a complete `Pacing` for the compiler.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from coach.errors import UsageError
from coach.routine.model import HOLD_MS, PACE, RATE_WPM, REST_MS, Routine
from coach.routine.parser import Parser
from coach.routine.yamlnodes import BudgetExceeded, Reader, compose, read_text
from coach.values import (
    DURATION_EXAMPLES,
    BreathPattern,
    duration_hint,
    format_duration,
    parse_duration,
    parse_pattern,
)

BUILTIN_HOLD_MS = 30_000
BUILTIN_REST_MS = 15_000
BUILTIN_TRANSITION_MS = 5_000
BUILTIN_TEMPO_MS = 3_000
BUILTIN_BREATH = BreathPattern("calm", 4_000, 0, 6_000, 0)
BUILTIN_RATE_WPM = 165
BUILTIN_PITCH = 50
PITCH = (0, 99)
SCALE = (0.1, 10.0)


@dataclass(frozen=True, slots=True)
class Settings:
    """One layer of pacing choices; None means "not chosen here"."""

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

    `hold_ms`/`rest_ms`/`breath` are overrides (None: each step's own value is used);
    the `default_*` values fill in where a step gives none.
    """

    pace: float = 1.0
    rate_wpm: int = BUILTIN_RATE_WPM
    voice: str | None = None
    hold_ms: int | None = None
    hold_scale: float = 1.0
    rest_ms: int | None = None
    rest_scale: float = 1.0
    breath: BreathPattern | None = None
    breath_cues: str = "both"  # voice, tones or both: how breath phases (and countdowns) sound
    pitch: int = BUILTIN_PITCH  # espeak-ng's scale, 0-99
    verbosity: str = "full"  # full, brief or minimal: how much is explained
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


# Fields added to version 1 of the cue script after it was first written, with the value that
# reproduces what older scripts meant; a script without them still loads.
_ADDED = {"verbosity": "full"}


def pattern_to_json(p: BreathPattern) -> dict:
    return asdict(p)


def pattern_from_json(data: dict) -> BreathPattern:
    return BreathPattern(**{f.name: data[f.name] for f in fields(BreathPattern)})


def resolve(routine: Routine, settings: Settings) -> Pacing:
    """Fold the person's settings (CLI over config) with the routine's values and defaults."""
    d = routine.defaults
    return Pacing(
        pace=_first(settings.pace, routine.pace, 1.0),
        rate_wpm=_first(settings.rate_wpm, routine.rate_wpm, BUILTIN_RATE_WPM),
        voice=_first(settings.voice, routine.voice, None),
        hold_ms=settings.hold_ms,
        hold_scale=_first(settings.hold_scale, 1.0),
        rest_ms=settings.rest_ms,
        rest_scale=_first(settings.rest_scale, 1.0),
        breath=settings.breath,
        breath_cues=_first(settings.breath_cues, "both"),
        pitch=_first(settings.pitch, BUILTIN_PITCH),
        verbosity=_first(settings.verbosity, "full"),
        default_hold_ms=_first(d.hold_ms, BUILTIN_HOLD_MS),
        default_rest_ms=_first(d.rest_ms, BUILTIN_REST_MS),
        default_transition_ms=_first(d.transition_ms, BUILTIN_TRANSITION_MS),
        default_tempo_ms=_first(d.tempo_ms, BUILTIN_TEMPO_MS),
        default_breath=_first(d.breath, BUILTIN_BREATH),
    )


def _first(*values):
    return next((v for v in values if v is not None), None)


# -- the command line ---------------------------------------------------------------------


def from_options(
    pace: float | None = None,
    hold: str | None = None,
    hold_scale: float | None = None,
    rest: str | None = None,
    rest_scale: float | None = None,
    breath: str | None = None,
    rate: int | None = None,
    voice: str | None = None,
    breath_cues: str | None = None,
    pitch: int | None = None,
    verbosity: str | None = None,
) -> Settings:
    """Settings from command-line values; raises UsageError naming the option at fault."""
    return Settings(
        pace=_option_range("--pace", pace, PACE),
        hold_ms=_option_duration("--hold", hold, HOLD_MS),
        hold_scale=_option_range("--hold-scale", hold_scale, SCALE),
        rest_ms=_option_duration("--rest", rest, REST_MS),
        rest_scale=_option_range("--rest-scale", rest_scale, SCALE),
        breath=_option_pattern("--breath", breath),
        rate_wpm=_option_range("--rate", rate, RATE_WPM),
        voice=voice.strip() if voice and voice.strip() else None,
        breath_cues=_option_choice("--breath-cues", breath_cues, BREATH_CUES),
        pitch=_option_range("--pitch", pitch, PITCH),
        verbosity=_option_choice("--verbosity", verbosity, VERBOSITY),
    )


BREATH_CUES = ("voice", "tones", "both")
VERBOSITY = ("full", "brief", "minimal")


def _option_choice(option, value, choices):
    if value is None:
        return None
    if value not in choices:
        raise UsageError(option, f"must be one of {', '.join(choices)}, found '{value}'")
    return value


def _option_range(option, value, limits):
    if value is None:
        return None
    lo, hi = limits
    if not lo <= value <= hi:
        raise UsageError(option, f"must be between {lo:g} and {hi:g}, found {value:g}")
    return value


def _option_duration(option, text, limits):
    if text is None:
        return None
    ms = parse_duration(text)
    if ms is None:
        hint = duration_hint(text)
        tail = f"; did you mean '{hint}'?" if hint else ""
        raise UsageError(option, f"must be a duration {DURATION_EXAMPLES}, found '{text}'{tail}")
    lo, hi = limits
    if not lo <= ms <= hi:
        raise UsageError(
            option,
            f"must be between {format_duration(lo)} and {format_duration(hi)}, found '{text}'",
        )
    return ms


def _option_pattern(option, text):
    if text is None:
        return None
    result = parse_pattern(text)
    if isinstance(result, str):
        raise UsageError(option, result)
    return result


# -- the user's config file ---------------------------------------------------------------

CONFIG_KEYS = (
    "pace",
    "hold",
    "hold_scale",
    "rest",
    "rest_scale",
    "breath",
    "rate",
    "voice",
    "breath_cues",
    "pitch",
    "verbosity",
)


def config_path() -> Path:
    """Where the user's config lives: $COACH_CONFIG, else the platform's config folder."""
    override = os.environ.get("COACH_CONFIG")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_config_path("coach", appauthor=False) / "config.yaml"


def load_config(path: Path | None = None) -> Settings:
    """The config file's settings; a missing file is an empty layer, a bad one a RoutineError."""
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
            readers = {
                "pace": lambda n: p.number(n, "'pace'", PACE),
                "hold": lambda n: p.duration(n, "'hold'", HOLD_MS),
                "hold_scale": lambda n: p.number(n, "'hold_scale'", SCALE),
                "rest": lambda n: p.duration(n, "'rest'", REST_MS),
                "rest_scale": lambda n: p.number(n, "'rest_scale'", SCALE),
                "breath": lambda n: p.pattern(n, "'breath'"),
                "rate": lambda n: p.whole(n, "'rate'", RATE_WPM),
                "voice": lambda n: r.text(n, "'voice'", max_chars=200),
                "breath_cues": lambda n: p.choice(n, "'breath_cues'", BREATH_CUES),
                "pitch": lambda n: p.whole(n, "'pitch'", PITCH),
                "verbosity": lambda n: p.choice(n, "'verbosity'", VERBOSITY),
            }
            names = {"hold": "hold_ms", "rest": "rest_ms", "rate": "rate_wpm"}
            for key, (_, node) in f.items():
                values[names.get(key, key)] = readers[key](node)
    except BudgetExceeded:
        pass
    r.raise_if_any()
    return Settings(**values)


def config_rows(path: Path | None = None) -> list[tuple[str, str, str]]:
    """(key, value, where it comes from) for each setting, for `coach config`."""
    path = path or config_path()
    layer = load_config(path)
    rows = []
    builtin = {
        "pace": "1 (unless the routine sets one)",
        "hold": "each step's own",
        "hold_scale": "1",
        "rest": "each step's own",
        "rest_scale": "1",
        "breath": "each step's own",
        "rate": f"{BUILTIN_RATE_WPM} (unless the routine sets one)",
        "voice": "the routine's, else its language's default voice",
        "breath_cues": "both",
        "pitch": str(BUILTIN_PITCH),
        "verbosity": "full",
    }
    values = {
        "pace": layer.pace,
        "hold": None if layer.hold_ms is None else format_duration(layer.hold_ms),
        "hold_scale": layer.hold_scale,
        "rest": None if layer.rest_ms is None else format_duration(layer.rest_ms),
        "rest_scale": layer.rest_scale,
        "breath": None if layer.breath is None else layer.breath.name,
        "rate": layer.rate_wpm,
        "voice": layer.voice,
        "breath_cues": layer.breath_cues,
        "pitch": layer.pitch,
        "verbosity": layer.verbosity,
    }
    for key in CONFIG_KEYS:
        value = values[key]
        if value is None:
            rows.append((key, builtin[key], "default"))
        else:
            rows.append((key, f"{value:g}" if isinstance(value, float) else str(value), "config"))
    return rows
