"""The tones a cue script can ask for: their names, lengths and levels.

The compiler needs only each tone's length, so this table stays free of numpy; the sound itself
is made from it by coach.sound.tones where audio is rendered. docs/earcons.md describes how each
tone sounds and why.
"""

from __future__ import annotations

# name -> length in ms
TONE_MS = {
    "start": 900,  # the routine begins
    "finish": 1200,  # the routine is over
    "hold_start": 300,  # a hold (or a set of reps, or a breathing block) begins: timer starts
    "hold_end": 450,  # the hold is over
    "rep": 150,  # the next rep begins (when reps are not counted aloud)
    "switch": 500,  # switch sides
    "rest": 500,  # a rest begins
    "breath_in": 1200,  # breathe in (breath-paced parts without words)
    "breath_out": 1200,  # breathe out
    "countdown": 120,  # one pip of a countdown to the end of a hold
}

# name -> peak level in dBFS. Speech is normalized louder than this elsewhere, so tones sit a
# few dB under the voice; the quiet ones come often (reps, pips) or last long (breaths).
TONE_PEAK_DB = {
    "start": -12.0,
    "finish": -12.0,
    "hold_start": -12.0,
    "hold_end": -12.0,
    "rep": -18.0,
    "switch": -14.0,
    "rest": -16.0,
    "breath_in": -20.0,
    "breath_out": -20.0,
    "countdown": -18.0,
}

EDGE_FADE_MS = 5.0  # the shortest raised-cosine fade at either end of any tone


def tone_length(name: str, sample_rate: int) -> int:
    """How many samples tone `name` lasts at `sample_rate`: round(ms * rate / 1000)."""
    return round(TONE_MS[name] * sample_rate / 1000)
