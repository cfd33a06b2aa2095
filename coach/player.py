"""`coach play`: the session rendered once and played as one continuous stream.

The sound is the same PCM `coach export` writes. Stopping (Ctrl-C, SIGTERM) silences it at once.
Keyboard controls, the live view and resuming come on top of this.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from coach.library import load_spoken


@dataclass(frozen=True, slots=True)
class Played:
    output: str
    duration_ms: int


def play_routine(ref: str, settings=None, output: str | None = None, stereo: bool = False):
    """Speak ROUTINE through the speakers, from start to finish."""
    from coach.render import Layout, render
    from coach.sinks.speaker import play

    spoken = load_spoken(ref, settings)
    voice = spoken.voice
    pcm = render(spoken.script, voice, Layout(voice.sample_rate, 2 if stereo else 1))
    playback = play(pcm, voice.sample_rate, output)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # SIGTERM stops the sound like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        playback.wait()
    except BaseException:
        playback.stop()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return Played(playback.output, spoken.script.duration_ms)
