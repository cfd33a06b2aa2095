"""The tones a cue script can ask for: their names, lengths and levels.

The compiler needs only each tone's length, so this table stays free of numpy; the sound itself
is made from it by coach.sound.tones where audio is rendered. docs/earcons.md describes how each
tone sounds and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.script.names import Name


class Tone(Name):
    """A tone's name, as a cue script writes it (a tone cue's `tone`, and its `role`)."""

    START = "start"
    FINISH = "finish"
    HOLD_START = "hold_start"
    HOLD_END = "hold_end"
    REP = "rep"
    SWITCH = "switch"
    REST = "rest"
    BREATH_IN = "breath_in"
    BREATH_OUT = "breath_out"
    COUNTDOWN = "countdown"


@dataclass(frozen=True, slots=True)
class ToneSpec:
    length_ms: int  # fixed, so the compiler can place what follows a tone without hearing it
    # Peak level in dBFS. Speech is normalized louder than this elsewhere, so tones sit a few
    # dB under the voice; the quiet ones come often (reps, pips) or last long (breaths).
    peak_db: float


TONES: dict[Tone, ToneSpec] = {
    Tone.START: ToneSpec(900, -12.0),  # the routine begins
    Tone.FINISH: ToneSpec(1200, -12.0),  # the routine is over
    # a hold (or a set of reps, or a breathing block) begins: timer starts
    Tone.HOLD_START: ToneSpec(300, -12.0),
    Tone.HOLD_END: ToneSpec(450, -12.0),  # the hold is over
    Tone.REP: ToneSpec(150, -18.0),  # the next rep begins (when reps are not counted aloud)
    Tone.SWITCH: ToneSpec(500, -14.0),  # switch sides
    Tone.REST: ToneSpec(500, -16.0),  # a rest begins
    Tone.BREATH_IN: ToneSpec(1200, -20.0),  # breathe in (breath-paced parts without words)
    Tone.BREATH_OUT: ToneSpec(1200, -20.0),  # breathe out
    Tone.COUNTDOWN: ToneSpec(120, -18.0),  # one pip of a countdown to the end of a hold
}

# Views of TONES by the names callers have always read (a plain string key finds its tone).
TONE_MS: dict[Tone, int] = {tone: spec.length_ms for tone, spec in TONES.items()}
TONE_PEAK_DB: dict[Tone, float] = {tone: spec.peak_db for tone, spec in TONES.items()}

EDGE_FADE_MS = 5.0  # the shortest raised-cosine fade at either end of any tone


def tone_length(name: Tone | str, sample_rate: int) -> int:
    """How many samples tone `name` lasts at `sample_rate`: round(ms * rate / 1000)."""
    return round(TONE_MS[Tone(name)] * sample_rate / 1000)
