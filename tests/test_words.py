"""coach's own words in other languages (coach.words): the catalogs are complete and keep their
messages' fields, plurals are worded per language, numbers are heard as they should be by the
voice that reads them (espeak-ng's phonemes; Piper reads text with espeak-ng's rules too), and
Babel is only imported for a language that needs it."""

from __future__ import annotations

import gettext
import re
import shutil
import string
import subprocess
import sys
from collections.abc import Callable
from functools import cache

import pytest

from coach.script import compiler
from coach.values import NAMED_PATTERNS, BreathPattern
from coach.words import (
    ENGLISH,
    LANGUAGES,
    SOURCE_LANGUAGE,
    Words,
    has_words,
    language_of,
    locale_dir,
    same_language,
    words_for,
)
from coach.words.catalogs import read, template, unfinished
from tests.support import ROOT, is_ci

TRANSLATED = [lang.code for lang in LANGUAGES if lang.code != SOURCE_LANGUAGE]


# -- the catalogs ---------------------------------------------------------------------------


def test_a_catalog_for_every_language_of_the_table_and_no_other():
    found = sorted(p.parent.parent.name for p in locale_dir().glob("*/LC_MESSAGES/coach.po"))
    assert found == TRANSLATED == ["de", "es", "fr"]


def test_the_code_marks_the_phrases_coach_says():
    """The template is what the catalogs are checked against; it holds what coach says."""
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template() if m.id}
    assert len(ids) >= 50
    for said in (
        "Switch sides. Now the left side.",
        "Paused.",
        "Halfway.",
        "Three.",
        "Breathe in.",
        "Next up: {title}.",
        "Set {k} of {n}.",
        "{n} second",
        "Introduction",
        "That is the end of the routine. Well done.",
        "Chapter {n}: {title}",
    ):
        assert said in ids, said


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalog_is_complete(code):
    """Every phrase of the code translated, none fuzzy, none the code no longer says."""
    assert unfinished(code) == []


def _fields(text: str) -> tuple[set[str], set[str]]:
    parsed = [(name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name]
    return {n for n, _ in parsed}, {s or "" for _, s in parsed}


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_their_messages_fields(code):
    """Each translation has the fields of its message, and only number specs coach knows. A
    plural form used for 1 alone may leave the number out ("einen Atemzug lang halten")."""
    catalog = read(code)
    plural = gettext.c2py(catalog.plural_expr)
    checked = 0
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set().union(*(_fields(i)[0] for i in ids))
        if isinstance(m.id, tuple):
            assert len(strings) == catalog.num_plurals, m.id
        for index, said in enumerate(strings):
            names, specs = _fields(said)
            assert specs <= {"", "f", "m", "n"}, (m.id, said)
            only_one = isinstance(m.id, tuple) and {
                n for n in range(2000) if plural(n) == index
            } == {1}
            assert names <= wanted if only_one else names == wanted, (m.id, said)
            checked += 1
    assert checked >= 60


def test_every_named_breath_pattern_has_a_title_to_translate():
    assert set(compiler._BREATHING_NAMES) == set(NAMED_PATTERNS)


# -- plurals and durations ------------------------------------------------------------------

SECONDS = {  # 0, 1, 2, 5 and 21 seconds
    "en": ["0 seconds", "1 second", "2 seconds", "5 seconds", "21 seconds"],
    "de": ["0 Sekunden", "eine Sekunde", "2 Sekunden", "5 Sekunden", "21 Sekunden"],
    "es": ["0 segundos", "un segundo", "2 segundos", "5 segundos", "veintiún segundos"],
    "fr": ["0 seconde", "une seconde", "2 secondes", "5 secondes", "vingt et une secondes"],
}
REPS = {  # a feminine noun in Spanish and French
    "en": ["0 reps", "1 rep", "2 reps", "5 reps", "21 reps"],
    "de": [
        "0 Wiederholungen",
        "eine Wiederholung",
        "2 Wiederholungen",
        "5 Wiederholungen",
        "21 Wiederholungen",
    ],
    "es": [
        "0 repeticiones",
        "una repetición",
        "2 repeticiones",
        "5 repeticiones",
        "veintiuna repeticiones",
    ],
    "fr": [
        "0 répétition",
        "une répétition",
        "2 répétitions",
        "5 répétitions",
        "vingt et une répétitions",
    ],
}
BREATHS = {
    "en": [
        "Hold for 0 breaths",
        "Hold for 1 breath",
        "Hold for 2 breaths",
        "Hold for 5 breaths",
        "Hold for 21 breaths",
    ],
    "de": [
        "0 Atemzüge lang halten",
        "einen Atemzug lang halten",
        "2 Atemzüge lang halten",
        "5 Atemzüge lang halten",
        "21 Atemzüge lang halten",
    ],
    "es": [
        "Mantén 0 respiraciones",
        "Mantén una respiración",
        "Mantén 2 respiraciones",
        "Mantén 5 respiraciones",
        "Mantén veintiuna respiraciones",
    ],
    "fr": [
        "Tenez pendant 0 respiration",
        "Tenez pendant une respiration",
        "Tenez pendant 2 respirations",
        "Tenez pendant 5 respirations",
        "Tenez pendant vingt et une respirations",
    ],
}


@pytest.mark.parametrize("code", ["en", *TRANSLATED])
def test_plural_forms_for_0_1_2_5_and_21(code):
    w = words_for(code)
    counts = (0, 1, 2, 5, 21)
    assert [w.duration(n * 1000) for n in counts] == SECONDS[code]
    assert [w.ngettext("{n} rep", "{n} reps", n) for n in counts] == REPS[code]
    breaths = [w.ngettext("Hold for {n} breath", "Hold for {n} breaths", n) for n in counts]
    assert breaths == BREATHS[code]


def test_spanish_and_french_have_a_form_for_millions():
    # CLDR's "many": un millón de segundos, un million de secondes
    assert words_for("es").ngettext("{n} rep", "{n} reps", 1_000_000) == "1000000 de repeticiones"
    assert words_for("fr").duration(1_000_000_000) == "277 heures et 46 minutes"
    assert words_for("fr").ngettext("{n} rep", "{n} reps", 2_000_000) == "2000000 de répétitions"


def test_durations_are_worded_per_language():
    assert [words_for(c).duration(90_000) for c in ("en", "de", "es", "fr")] == [
        "1 minute 30 seconds",
        "eine Minute und 30 Sekunden",
        "un minuto y 30 segundos",
        "une minute et 30 secondes",
    ]
    assert words_for("de").duration(3_660_000) == "eine Stunde und eine Minute"
    assert words_for("es").duration(21 * 60_000) == "veintiún minutos"
    assert words_for("es").duration(21 * 3_600_000) == "veintiuna horas"


def test_a_message_filled_again_says_the_same_and_a_value_of_another_type_its_own():
    # Filled messages are kept (a compile fills the same ones again and again); 1, 1.0 and
    # True are equal keys to a dict, but each is said its own way.
    de = words_for("de")
    first = de.ngettext("{n} minute", "{n} minutes", 1)
    assert first == de.ngettext("{n} minute", "{n} minutes", 1) == "eine Minute"
    assert de.gettext("Set {k} of {n}.", k=1, n=3) == "Satz 1 von 3."
    assert de.gettext("Set {k} of {n}.", k=1.0, n=3) == "Satz 1.0 von 3."
    assert de.gettext("Set {k} of {n}.", k=True, n=3) == "Satz True von 3."
    assert de.gettext("Set {k} of {n}.", k=1, n=3) == "Satz 1 von 3."


def test_a_regional_code_uses_its_languages_words_and_another_language_english():
    assert words_for("de-AT").gettext("Halfway.") == "Halbzeit."
    assert words_for("fr_CA").gettext("Halfway.") == "À mi-chemin."
    assert words_for("en-GB") is ENGLISH and words_for("it") is ENGLISH
    assert has_words("es-MX") and not has_words("pt-BR")
    assert language_of("de-AT") is not None and language_of("de-AT").code == "de"
    assert same_language("de-AT", "de") and same_language("de_at", "DE-AT")
    assert not same_language("de", "de-AT") and not same_language("den", "de")


def test_english_is_the_code_itself():
    assert ENGLISH.gettext("Halfway.") == "Halfway."
    assert ENGLISH.pgettext("chapter", "Rest") == "Rest"
    assert ENGLISH.sentence("eine Minute halten") == "Eine Minute halten"


# -- what the voice hears ---------------------------------------------------------------------


@cache
def _heard(text: str, language: str) -> str:
    """espeak-ng's phonemes for `text`, without stress, pause and word-boundary marks, which
    differ between "21" and "einundzwanzig" though the same sounds are said."""
    if shutil.which("espeak-ng") is None:
        if is_ci():
            pytest.fail("espeak-ng is not installed")
        pytest.skip("espeak-ng is not installed")
    done = subprocess.run(
        ["espeak-ng", "-v", language, "-x", "-q", text],
        capture_output=True,
        text=True,
        check=True,
    )
    return re.sub(r"[\s',_!|;-]", "", done.stdout.replace("_:", ""))


_PATTERN = BreathPattern("4.5-4.5-4.5", 4500, 0, 4500, 0)
# (what coach says, made from its words; what a listener must hear, written out; what they
# must not hear: the misreading of digits the spelling is there to prevent)
NUMBERS: dict[str, list[tuple[Callable[[Words], str], str, str | None]]] = {
    "de": [
        (lambda w: w.duration(1000), "eine Sekunde", "eins"),
        (lambda w: w.duration(60_000), "eine Minute", "eins"),
        (lambda w: w.duration(3_600_000), "eine Stunde", "eins"),
        (lambda w: w.duration(21_000), "einundzwanzig Sekunden", None),
        (lambda w: w.duration(90_000), "eine Minute und dreißig Sekunden", None),
        (lambda w: w.ngettext("{n} rep", "{n} reps", 1), "eine Wiederholung", "eins"),
        (lambda w: w.ngettext("{n} breath.", "{n} breaths.", 1), "ein Atemzug", "eins"),
        (lambda w: w.gettext("Set {k} of {n}.", k=2, n=3), "Satz zwei von drei", "zweite"),
        (lambda w: w.gettext("Round {k} of {n}.", k=1, n=3), "Runde eins von drei", "erste"),
        # a rep counted aloud is a number, not an ordinal (German reads "3." as "dritte" in
        # some places)
        (lambda w: "1.", "eins", "erste"),
        (lambda w: "3.", "drei", "dritte"),
        (lambda w: "21.", "einundzwanzig", "einundzwanzigste"),
        (lambda w: compiler._describe_pattern(_PATTERN, w), "vier Komma fünf", None),
    ],
    "es": [
        (lambda w: w.duration(1000), "un segundo", "uno"),
        (lambda w: w.duration(21_000), "veintiún segundos", "veintiuno"),
        (lambda w: w.duration(31 * 60_000), "treinta y un minutos", "uno"),
        (lambda w: w.duration(3_600_000), "una hora", "uno"),
        (lambda w: w.duration(90_000), "un minuto y treinta segundos", "uno"),
        (lambda w: w.ngettext("{n} rep", "{n} reps", 21), "veintiuna repeticiones", "veintiuno"),
        (lambda w: w.gettext("Set {k} of {n}.", k=2, n=3), "Serie dos de tres", "segunda"),
        (lambda w: "1.", "uno", "primero"),
        (lambda w: "21.", "uno", "vigésimo"),
        (lambda w: compiler._describe_pattern(_PATTERN, w), "cuatro coma cinco", None),
    ],
    "fr": [
        (lambda w: w.duration(1000), "une seconde", "un seconde"),
        (lambda w: w.duration(21_000), "vingt et une secondes", "vingt et un secondes"),
        (lambda w: w.duration(60_000), "une minute", "un minute"),
        (lambda w: w.duration(3_600_000), "une heure", "un heure"),
        (lambda w: w.duration(90_000), "une minute et trente secondes", None),
        (lambda w: w.ngettext("{n} rep", "{n} reps", 21), "vingt et une répétitions", None),
        (lambda w: w.gettext("Set {k} of {n}.", k=2, n=3), "Série deux sur trois", "deuxième"),
        (lambda w: "1.", "un", "premier"),
        (lambda w: "21.", "vingt et un", "unième"),
        (lambda w: compiler._describe_pattern(_PATTERN, w), "quatre virgule cinq", None),
    ],
}
CASES = [(code, *case) for code, cases in NUMBERS.items() for case in cases]


@pytest.mark.parametrize(("code", "make", "heard", "not_heard"), CASES)
def test_numbers_are_heard_as_they_should_be(code, make, heard, not_heard):
    said = make(words_for(code))
    phonemes = _heard(said, code)
    assert _heard(heard, code) in phonemes, (said, phonemes, _heard(heard, code))
    if not_heard is not None:
        assert _heard(not_heard, code) not in phonemes, (said, phonemes)


@pytest.mark.parametrize(
    ("code", "digits", "heard"),
    [
        ("de", "1 Sekunde", "eine Sekunde"),
        ("es", "21 segundos", "veintiún segundos"),
        ("fr", "21 secondes", "vingt et une secondes"),
    ],
)
def test_digits_alone_would_be_misheard(code, digits, heard):
    """Why numbers before a noun are spelled out, and that the check above can tell."""
    assert _heard(heard, code) not in _heard(digits, code)


# -- import cost ------------------------------------------------------------------------------


def _imported_after(code: str) -> list[str]:
    probe = (
        "import sys\n"
        f"{code}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'babel', 'num2words'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return eval(done.stdout)  # a printed list of names


def test_help_and_english_routines_do_not_import_babel():
    assert (
        _imported_after(
            "from typer.testing import CliRunner\n"
            "from coach.cli import app\n"
            "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
            "from coach.pipeline import load_script\n"
            "load_script('upper-back-quick')"
        )
        == []
    )
    # and the probe sees an import where there is one (num2words only for a number to spell)
    assert _imported_after(
        "from coach.pipeline import load_script\nload_script('upper-back-quick-es')"
    ) == ["babel"]
    assert _imported_after("from coach.words import words_for\nwords_for('fr').duration(1000)") == [
        "babel",
        "num2words",
    ]


def test_the_player_answers_keys_in_the_routines_language():
    from coach.play.session import ANSWERS, answers

    assert answers("de")["pause"] == "Angehalten."
    assert answers("es-MX")["next"] == "Siguiente paso."
    assert answers("fr")["fastest"] == "C'est la cadence la plus rapide."
    for code in TRANSLATED:
        translated = answers(code)
        assert set(translated) == set(ANSWERS)
        assert all(translated[k] != ANSWERS[k] for k in ANSWERS), code
    assert answers("it") == ANSWERS == answers("en")
