"""A ROUTINE argument to a cue script, and to a cue script timed by the voice that will speak it.

The one place that runs the front of the pipeline (find -> load -> resolve settings -> measure
phrases -> compile), so `compile`, `show`, `export` and `play` all accept the same things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coach.errors import Problem, UsageError
from coach.routine.library import Source, find, shown_path

if TYPE_CHECKING:
    from coach.routine.model import Routine
    from coach.script.compiler import Ahead
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
class Checked:
    """A routine that loads and compiles, and what is worth knowing about it (warnings)."""

    script: CueScript
    warnings: tuple[Problem, ...]


def check(ref: str) -> Checked:
    """`coach validate`: the cue script of ROUTINE, and a warning when coach has no words of
    its own in the routine's language (they are said in English: coach.words)."""
    from coach.errors import Loc
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from coach.words import LANGUAGES, has_words

    source = find(ref)
    if source.is_cue_script:
        return Checked(load_script(ref), ())
    routine = load_routine(source.path, shown_path(source))
    script = compile(routine)
    if has_words(routine.language):
        return Checked(script, ())
    codes = ", ".join(lang.code for lang in LANGUAGES)
    warning = Problem(
        f"coach has no words of its own in '{routine.language}': the routine's text is "
        "spoken in it, but the countdown, sides, breaths, rests and chapter titles are in "
        f"English (coach has its words in {codes})",
        loc=routine.language_loc or Loc(shown_path(source), 1, 1),
        level="warning",
    )
    return Checked(script, (warning,))


@dataclass(frozen=True, slots=True)
class Spoken:
    """A cue script timed by the real voice, and that voice, ready to render."""

    script: CueScript
    voice: SpeechVoice
    routine: Routine | None = None  # None for a compiled cue script, which cannot be re-timed


# (phrases made, phrases to make, the voice's name): called only when there is speaking to do
Speaking = Callable[[int, int, str], None]


def load_spoken(ref: str, settings=None, progress: Speaking | None = None) -> Spoken:
    """ROUTINE compiled with phrase lengths measured by the voice that will speak it.

    The phrases the cache lacks are spoken all at once, on every core (`SpeechVoice.prepare`):
    a first compile with estimated lengths names them, the second measures them. The few
    whose text depends on measured lengths (the introduction's total time) are spoken then,
    one by one. The script is the one a phrase-by-phrase compile gives: the second compile
    asks the same voice for the same lengths."""
    from coach.script.compiler import compile
    from coach.sound.voice import SpeechVoice, VoiceChoice

    source = find(ref)
    if source.is_cue_script:
        script = load_script(ref, settings)
        p = script.settings
        choice = VoiceChoice(p.voice, script.language, p.rate_wpm, pitch=p.pitch)
        voice = SpeechVoice(choice, pronounce=script.pronounce)
        _prepare(voice, [c.text for c in script.cues if c.text], progress)
        return Spoken(script, voice)
    first = _estimated(source, settings, cached_first=True)
    voice = first.voice
    if first.complete:  # every length came from the cache: compiling again gives the same
        return Spoken(first.script, voice, first.routine)
    _prepare(voice, first.asked, progress)
    return Spoken(
        compile(first.routine, settings, voice.duration_ms, voice.intro_durations),
        voice,
        first.routine,
    )


# The script at a pace (None: as the settings have it), with the introduction's words starting
# no sooner than the given ms (None: right after the start tone; see compile_ahead), as far as
# the lengths are known now.
Again = Callable[["float | None", "int | None"], "Ahead"]


@dataclass(frozen=True, slots=True)
class Playing:
    """What `coach play` starts on: the script so far, and, while Piper is still speaking
    phrases in the background, how to compile it again with what has arrived (`again`)."""

    spoken: Spoken
    final_ms: int | None  # cues from here on may still move; None: the script is complete
    again: Again | None  # None: nothing is on its way, or the script cannot change
    speaking: int  # phrases being spoken in the background


_ANSWERS_AFTER = 2  # phrases of the routine spoken before the player's answers (load_playing)


def load_playing(
    ref: str,
    settings=None,
    also: Callable[[str], Iterable[str]] | None = None,
    progress: Speaking | None = None,
) -> Playing:
    """ROUTINE for `coach play`, which need not wait for Piper: the phrases the cache lacks
    are spoken in the background, in the order they are said (and `also(language)`, the
    player's own answers in the routine's language, right after the first two), and the
    script is compiled as far as their lengths are known; the player goes on compiling it as
    they arrive (coach.script.compiler.compile_ahead). With espeak-ng, or every phrase cached, it is
    `load_spoken`'s script, complete."""
    from coach.script.compiler import compile

    source = find(ref)
    if source.is_cue_script:
        spoken = load_spoken(ref, settings, progress)  # its phrases: all at once
        return Playing(spoken, None, None, 0)
    first = _estimated(source, settings)
    voice, routine = first.voice, first.routine
    try:
        if voice.slow_to_speak(first.asked):
            extra = also(routine.language) if also is not None else ()
            # The player's answers early (after the first words; the answers to the keys
            # pressed at the start first: coach.play.session.FIRST_KEYS), so a key pressed at
            # the start is answered at once; they are short, and the rest stays far ahead.
            asked, cut = first.asked, _ANSWERS_AFTER
            speaking = voice.speak_ahead([*asked[:cut], *extra, *asked[cut:]])
            if speaking:
                return _playing_ahead(voice, routine, settings, speaking)
    except BaseException:  # stopped (Ctrl-C) or failed before the player has the voice
        voice.close()
        raise
    # espeak-ng, every phrase cached, or no way to speak in the background here
    _prepare(voice, first.asked, progress)
    spoken = Spoken(
        compile(routine, settings, voice.duration_ms, voice.intro_durations), voice, routine
    )
    return Playing(spoken, None, None, 0)


def _playing_ahead(voice: SpeechVoice, routine: Routine, settings, speaking: int) -> Playing:
    from dataclasses import replace

    from coach.script.compiler import compile_ahead
    from coach.settings import Settings

    def again(pace: float | None = None, first_words_ms: int | None = None) -> Ahead:
        at = settings or Settings()
        if pace is not None:
            at = replace(at, pace=pace)
        return compile_ahead(
            routine, at, voice.estimate_ms, voice.intro_durations, voice.known_ms, first_words_ms
        )

    now = again()
    return Playing(Spoken(now.script, voice, routine), now.final_ms, again, speaking)


def _prepare(voice: SpeechVoice, texts: Iterable[str], progress: Speaking | None) -> None:
    tell = None if progress is None else (lambda done, total: progress(done, total, voice.label))
    voice.prepare(texts, tell)


@dataclass(frozen=True, slots=True)
class _Estimated:
    """A routine compiled with lengths estimated from the speech rate, the phrases that compile
    asked about, and the voice that will speak them (nothing spoken yet)."""

    routine: Routine
    script: CueScript
    asked: tuple[str, ...]
    voice: SpeechVoice
    complete: bool = False  # every length the compile asked for was measured (cached_first)


def _estimated(source: Source, settings, cached_first: bool = False) -> _Estimated:
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from coach.settings import Settings, resolve
    from coach.sound.voice import SpeechVoice, VoiceChoice

    routine = load_routine(source.path, shown_path(source))
    pacing = resolve(routine, settings or Settings())
    voice = SpeechVoice(
        VoiceChoice(pacing.voice, routine.language, pacing.rate_wpm, pitch=pacing.pitch),
        pronounce=routine.pronounce,
    )
    asked: list[str] = []

    def noted(text: str) -> int:
        asked.append(text)
        # `cached_first`: a length the phrase cache holds is measured already, and when all
        # are, this script is the one a compile with the voice's lengths gives.
        known = voice.cached_ms(text) if cached_first else None
        return voice.estimate_ms(text) if known is None else known

    # Asked in the order the compiler times them: the order they are said.
    script = compile(routine, settings, noted, voice.intro_durations)
    said = tuple(dict.fromkeys(asked))
    complete = cached_first and all(voice.known_ms(text) is not None for text in said)
    return _Estimated(routine, script, said, voice, complete)


@dataclass(frozen=True, slots=True)
class Listed:
    """What `coach list` shows of a routine: its title and length, and whether the length is
    measured by its voice or only estimated from the speech rate."""

    title: str
    duration_ms: int
    measured: bool
    language: str = "en"  # the routine's language tag, as written: en, de, en-GB


def listed(ref: str) -> Listed:
    """A routine's title and length, answered at once: measured by its voice when that costs
    nothing (every phrase cached, or espeak-ng, which speaks a phrase in milliseconds),
    otherwise estimated from the speech rate, as a first run with Piper would take a while."""
    from coach.script.compiler import compile

    source = find(ref)
    if source.is_cue_script:
        script = load_script(ref)
        return Listed(script.title, script.duration_ms, True, script.language)
    first = _estimated(source, None)
    language = first.routine.language
    if first.voice.slow_to_speak(first.asked):
        return Listed(first.script.title, first.script.duration_ms, False, language)
    _prepare(first.voice, first.asked, None)  # espeak-ng: milliseconds a phrase
    measured = compile(first.routine, None, first.voice.duration_ms, first.voice.intro_durations)
    return Listed(measured.title, measured.duration_ms, True, language)
