"""The built-in routines in German, Spanish and French: the English routines' steps, timings,
sides, safety lines and cautions; not one English word of coach's own; every phrase read by
the voice in the routine's language; exported with that voice, its chapters, captions and
tags in that language. And a routine in a language coach has no words in."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from functools import cache

import pytest

from coach.pipeline import load_script
from coach.routine.library import builtin_names, find
from coach.routine.model import Routine
from coach.routine.parser import load_routine
from coach.script.cues import CueScript
from coach.settings import Settings
from coach.sound.pronounce import respell
from coach.words.catalogs import read, template
from tests.support import fake_durations, is_ci
from tests.test_library import BAD_FOR_SPEECH, TRANSLATED, VERBOSITIES, authored_texts

# name -> (the English routine it translates, its language)
TRANSLATIONS = {name: tuple(name.rsplit("-", 1)) for name in TRANSLATED}


@cache
def routine(name: str) -> Routine:
    return load_routine(find(name).path)


@cache
def script(name: str, verbosity: str = "full") -> CueScript:
    return load_script(name, Settings(verbosity=verbosity), fake_durations)


def test_every_built_in_in_another_language_is_named_after_the_english_one():
    others = {n: routine(n).language for n in builtin_names() if routine(n).language != "en"}
    assert others == {name: lang for name, (_, lang) in TRANSLATIONS.items()}
    for english, _ in TRANSLATIONS.values():
        assert routine(english).language == "en"


# -- the same routine ---------------------------------------------------------------------------


def _shape(value):
    """A routine's steps with every text replaced by how many texts there are: what must not
    change in a translation (kinds, holds, reps, tempos, sides, sets, rests, breaths...)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        fields.pop("loc", None)
        kind = type(value).__name__
        return (kind, tuple((k, _shape(v)) for k, v in fields.items()))
    if isinstance(value, tuple):
        if all(isinstance(v, str) for v in value):
            return ("texts", len(value))
        return tuple(_shape(v) for v in value)
    if isinstance(value, str):
        return "text"
    return value


@pytest.mark.parametrize("name", TRANSLATED)
def test_the_translation_has_the_english_routines_steps_and_timings(name):
    english, _ = TRANSLATIONS[name]
    mine, theirs = routine(name), routine(english)
    assert _shape(mine.steps) == _shape(theirs.steps)
    assert mine.defaults == theirs.defaults
    assert len(mine.safety) == len(theirs.safety) == 3
    assert len(mine.tips) == len(theirs.tips) and len(mine.faq) == len(theirs.faq)
    assert len(mine.alternatives) == len(theirs.alternatives)
    assert (mine.rate_wpm, mine.pace, mine.pitch, mine.voice) == (None, None, None, None)


def _windows(s: CueScript) -> list[tuple[str | None, int, int]]:
    """Each timed window: its side, its length and the reps counted in it."""
    out, start = [], None
    for c in s.cues:
        if c.role == "hold_start":
            start, counted = c, 0
        elif c.role == "rep_count":
            counted += 1
        elif c.role == "hold_end" and start is not None:
            out.append((start.side, c.start_ms - start.start_ms, counted))
    return out


def _roles(s: CueScript, *roles: str) -> list[tuple[str, str | None, int]]:
    return [(c.role, c.side, c.step) for c in s.cues if c.kind == "speech" and c.role in roles]


@pytest.mark.parametrize("verbosity", VERBOSITIES)
@pytest.mark.parametrize("name", TRANSLATED)
def test_the_translation_compiles_to_the_same_windows_sides_and_safety(name, verbosity):
    english, _ = TRANSLATIONS[name]
    mine, theirs = script(name, verbosity), script(english, verbosity)
    assert _windows(mine) == _windows(theirs) and _windows(mine)
    assert [c.kind for c in mine.chapters] == [c.kind for c in theirs.chapters]
    tones = [(c.tone, c.side) for c in mine.cues if c.kind == "tone"]
    assert tones == [(c.tone, c.side) for c in theirs.cues if c.kind == "tone"]
    said = ("safety", "caution", "switch", "side", "countdown", "rep_count", "next")
    assert _roles(mine, *said) == _roles(theirs, *said)


# -- in its own language ------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]{2,}", text)}


@cache
def _english_words() -> frozenset[str]:
    """Every word of coach's own English phrases (the code's messages)."""
    found: set[str] = set()
    for m in template():
        for text in m.id if isinstance(m.id, tuple) else (m.id,):
            found |= _words(re.sub(r"\{[^}]*\}", " ", text))
    return frozenset(found)


def _english_only(name: str) -> set[str]:
    """coach's English words that are not also words of this language (its catalog's, or its
    routine's: "Introduction" is French too)."""
    _, lang = TRANSLATIONS[name]
    theirs = set()
    for m in read(lang):
        for text in m.string if isinstance(m.string, tuple) else (m.string,):
            theirs |= _words(re.sub(r"\{[^}]*\}", " ", text))
    for _, text in authored_texts(routine(name)):
        theirs |= _words(text)
    return set(_english_words()) - theirs


@pytest.mark.parametrize("verbosity", VERBOSITIES)
@pytest.mark.parametrize("name", TRANSLATED)
def test_no_english_word_of_coachs_own_in_the_cue_script(name, verbosity):
    english = _english_only(name)
    assert {"switch", "breathe", "seconds", "halfway", "rest", "next", "hold"} <= english
    for c in script(name, verbosity).speech():
        assert not _words(c.text) & english, c.text
    titles = " ".join(ch.title for ch in script(name, verbosity).chapters)
    assert not _words(titles) & english, titles


def test_the_english_check_would_see_english():
    english, _ = TRANSLATIONS["upper-back-desk-de"]
    said = " ".join(c.text for c in script(english).speech())
    assert _words(said) & _english_only("upper-back-desk-de") >= {"switch", "seconds", "next"}


@pytest.mark.parametrize("name", TRANSLATED)
def test_spoken_text_has_nothing_the_voice_reads_badly(name):
    for where, text in authored_texts(routine(name)):
        assert not BAD_FOR_SPEECH.search(text), f"{name} {where}: {text!r}"
        assert not re.search(r"\d", text), f"{name} {where}: numbers as words: {text!r}"
    for verbosity in VERBOSITIES:
        for c in script(name, verbosity).speech():
            assert not BAD_FOR_SPEECH.search(c.text), f"{name} ({verbosity}): {c.text!r}"


def _phonemes(text: str, language: str) -> str:
    if shutil.which("espeak-ng") is None:
        if is_ci():
            pytest.fail("espeak-ng is not installed")
        pytest.skip("espeak-ng is not installed")
    done = subprocess.run(
        ["espeak-ng", "-v", language, "-x", "-q", "--stdin"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("name", TRANSLATED)
def test_the_voice_reads_every_phrase_in_the_routines_language(name):
    """espeak-ng marks a word it reads by another language's rules, "(en)d'0s(fr)" for "dos":
    none is left once the routine's respellings are applied (Piper reads with these rules)."""
    _, lang = TRANSLATIONS[name]
    texts = sorted(
        {
            respell(c.text, routine(name).pronounce)
            for v in VERBOSITIES
            for c in script(name, v).speech()
        }
    )
    switched = re.compile(r"\((?!" + lang + r"\))[a-z-]+\)")
    if switched.search(_phonemes("\n".join(texts), lang)):
        misread = [t for t in texts if switched.search(_phonemes(t, lang))]
        raise AssertionError(f"{name}: read as another language: {misread}")


def test_the_language_check_would_see_a_misreading():
    assert "(en)" in _phonemes("Haut du dos", "fr")  # why upper-back-*-fr respell "dos"


# -- exported with its voice --------------------------------------------------------------------

CHAPTER_NOTE = {
    "de": "NOTE Kapitel 1: Einleitung",
    "es": "NOTE Capítulo 1: Introducción",
    "fr": "NOTE Chapitre 1 : Introduction",
}
SLOW = pytest.mark.slow  # an eleven-minute routine


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=SLOW) if "desk" in n else n for n in TRANSLATED]
)
def test_each_translation_exports_with_its_languages_voice(name, tmp_path, run_coach):
    import mutagen

    _, lang = TRANSLATIONS[name]
    out = tmp_path / f"{name}.ogg"
    done = run_coach("export", name, "-o", out, "--captions", "vtt")
    assert done.returncode == 0, done.stderr
    # the last line, on stderr with the notes: "wrote ... (2:49, voice espeak:gmw/de)"
    voice = re.search(r"voice (espeak:\S+)\)$", done.stderr.strip())
    assert voice and voice[1].endswith(f"/{lang}"), done.stderr
    vtt = out.with_suffix(".vtt").read_text(encoding="utf-8")
    assert CHAPTER_NOTE[lang] in vtt
    assert routine(name).title in vtt
    tags = mutagen.File(out).tags
    assert tags["LANGUAGE"] == [lang]
    shown = script(name)
    assert [tags[f"CHAPTER{i:03d}NAME"][0] for i in range(1, len(shown.chapters) + 1)] == [
        c.title for c in shown.chapters
    ]
    assert not _words(tags["COMMENT"][0]) & {"speech", "voice", "holds", "rests"}


# -- a language without coach's words ---------------------------------------------------------

ITALIAN = """\
title: Schiena alta
language: it
steps:
  - exercise: Rotazione da seduti
    say: Siediti dritto e ruota il busto verso sinistra.
    hold: 20s
    sides: both
"""


def test_a_routine_in_another_language_is_valid_with_one_warning(tmp_path, run_coach):
    path = tmp_path / "schiena.yaml"
    path.write_text(ITALIAN, encoding="utf-8")
    done = run_coach("validate", path, path)
    assert done.returncode == 0, done.stderr
    warning = (
        f"{path}:2:11: warning: coach has no words of its own in 'it': the routine's text is "
        "spoken in it, but the countdown, sides, breaths, rests and chapter titles are in "
        "English (coach has its words in en, de, es, fr)"
    )
    assert done.stderr.splitlines() == [warning, warning]  # once for each file given
    assert done.stdout.splitlines() == [f"{path}: ok, 1 step, 1:16"] * 2


def test_a_routine_in_another_language_says_its_own_text_and_coachs_in_english(tmp_path):
    path = tmp_path / "schiena.yaml"
    path.write_text(ITALIAN, encoding="utf-8")
    s = load_script(str(path), None, fake_durations)
    said = [c.text for c in s.speech()]
    assert "Siediti dritto e ruota il busto verso sinistra." in said
    assert "Switch sides. Now the right side." in said and s.language == "it"


def test_a_german_routine_gets_no_warning(run_coach):
    done = run_coach("validate", "upper-back-quick-de")
    assert done.returncode == 0 and done.stderr == "", done.stderr
