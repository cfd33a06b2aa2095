"""A ROUTINE argument to a cue script, and to a cue script timed by the voice that will speak it.

The one place that runs the front of the pipeline (find -> load -> resolve settings -> measure
phrases -> compile), so `compile`, `show`, `export` and `play` all accept the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coach.errors import UsageError
from coach.routine.library import find, shown_path

if TYPE_CHECKING:
    from coach.routine.model import Routine
    from coach.script.cues import CueScript
    from coach.sound.voice import SpeechVoice


def load_script(ref: str, settings=None, durations=None):
    """The cue script for ROUTINE: compiled from a routine, or read from a compiled .json."""
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from coach.script.cues import load_cue_script

    source = find(ref)
    if source.is_cue_script:
        if settings is not None and settings.given():
            raise UsageError(
                "pacing options",
                "do not apply to a compiled cue script; compile the routine "
                "again with the options instead",
            )
        return load_cue_script(source.path, source.shown)
    routine = load_routine(source.path, shown_path(source))
    return compile(routine, settings, durations)


@dataclass(frozen=True, slots=True)
class Spoken:
    """A cue script timed by the real voice, and that voice, ready to render."""

    script: CueScript
    voice: SpeechVoice
    routine: Routine | None = None  # None for a compiled cue script, which cannot be re-timed


def load_spoken(ref: str, settings=None) -> Spoken:
    """ROUTINE compiled with phrase lengths measured by the voice that will speak it."""
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from coach.settings import Settings, resolve
    from coach.sound.voice import SpeechVoice, VoiceChoice

    source = find(ref)
    if source.is_cue_script:
        script = load_script(ref, settings)
        p = script.settings
        choice = VoiceChoice(p.voice, script.language, p.rate_wpm, pitch=p.pitch)
        return Spoken(script, SpeechVoice(choice, pronounce=script.pronounce))
    routine = load_routine(source.path, shown_path(source))
    pacing = resolve(routine, settings or Settings())
    voice = SpeechVoice(
        VoiceChoice(pacing.voice, routine.language, pacing.rate_wpm, pitch=pacing.pitch),
        pronounce=routine.pronounce,
    )
    return Spoken(compile(routine, settings, voice.duration_ms), voice, routine)
