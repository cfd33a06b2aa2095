"""Earcons: the short tones that mark holds, sides, rests, the start and the finish.

The compiler needs only each tone's length, so this table stays free of numpy; the sound
itself is generated where audio is rendered.
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
}
