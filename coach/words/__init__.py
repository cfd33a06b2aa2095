"""coach's own words in the routine's language: every phrase coach composes, through gettext.

A routine's text is its author's; what coach adds ("Switch sides.", "Hold for 30 seconds.",
the countdown, the breath words, chapter titles, the answers to keys) is English in the code
and translated by the catalogs in `locale/<language>/LC_MESSAGES/coach.po`, which hold the
plural rule of each language. English is the source language: it needs no catalog and no
Babel, so an English routine says exactly what the code says.

The .po files are the only form kept: a catalog is read with Babel and compiled in memory,
once per process (about 40 ms with Babel's import), the first time a routine in its
language is compiled. Nothing generated is committed or installed, so `pip install` and
`scripts/coach` need no build step.

Messages are `str.format` templates. An int field is a number, said the way the voice reads
it best: as digits, unless the template asks for it to agree with the noun after it,
`{n:f}`, `{n:m}` or `{n:n}` (feminine, masculine, neuter), where digits would be read with
the wrong ending (espeak-ng and Piper, which reads with espeak-ng's rules, say "uno segundo"
for "1 segundo" and "vingt et un secondes" for "21 secondes").

Must not import any other part of coach but coach.errors: every layer that says something
(the compiler, captions, export tags, the player's answers) imports this one.
"""

from __future__ import annotations

import functools
import gettext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_LANGUAGE = "en"
DOMAIN = "coach"
# What marks a phrase for the catalogs (Babel's default keywords, which `pybabel extract`
# also uses): the methods of Words, and N_ for a table of phrases translated where used.
KEYWORDS = {"gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
# A comment starting so, just before a marked phrase, goes to the translators with it.
COMMENT_TAGS = ("TRANSLATORS:",)


@dataclass(frozen=True, slots=True)
class Language:
    """A language coach has its own words in."""

    code: str
    name: str  # in English, for docs and messages
    own_name: str  # as its speakers write it
    decimal: str  # the decimal separator its voice reads as one ("4,5": vier Komma fünf)
    iso639_2: str  # the three-letter code of ID3 and MP4 tags


# The one table of coach's languages: a catalog for each but the source language (a test
# checks both ways), and the docs, the schema and `coach list` show these.
LANGUAGES = (
    Language("en", "English", "English", ".", "eng"),
    Language("de", "German", "Deutsch", ",", "deu"),
    Language("es", "Spanish", "Español", ",", "spa"),
    Language("fr", "French", "Français", ",", "fra"),
)
_BY_CODE = {lang.code: lang for lang in LANGUAGES}


def N_(message: str) -> str:
    """Mark `message` for the catalogs without translating it here."""
    return message


def locale_dir() -> Path:
    return Path(__file__).parent / "locale"


def catalog_path(code: str) -> Path:
    return locale_dir() / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def language_of(tag: str) -> Language | None:
    """The language whose words coach uses for a routine's `language` (en-GB: English, de-AT:
    German), or None when coach has no words in it."""
    base = tag.replace("_", "-").split("-")[0].lower()
    return _BY_CODE.get(base)


def same_language(tag: str, wanted: str) -> bool:
    """Whether a routine in `tag` is in the language `wanted` names: de is de, de-AT or
    de_AT; de-AT is only de-AT."""
    tag, wanted = (t.replace("_", "-").lower() for t in (tag, wanted))
    return tag == wanted or tag.startswith(wanted + "-")


def has_words(tag: str) -> bool:
    """Whether coach speaks its own words in `tag`'s language (otherwise in English)."""
    return language_of(tag) is not None


class Words:
    """coach's phrases in one language. The methods are gettext's, with `str.format` fields
    filled in (see the module docstring for numbers)."""

    def __init__(self, language: Language, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._t = translations
        self._durations: dict[int, str] = {}  # seconds -> how they are said (see duration)

    def gettext(self, message: str, **fields: Any) -> str:
        if not fields:  # most of a compile's calls: no method more than needed
            return self._t.gettext(message)
        return self._fill(self._t.gettext(message), fields)

    def ngettext(self, singular: str, plural: str, n: int, **fields: Any) -> str:
        return self._fill(self._t.ngettext(singular, plural, n), {"n": n, **fields})

    def pgettext(self, context: str, message: str, **fields: Any) -> str:
        return self._fill(self._t.pgettext(context, message), fields)

    def decimal(self, value: float) -> str:
        """A number with at most one decimal, written as the voice reads it: 4.5, 4,5."""
        return f"{round(value, 1):g}".replace(".", self.language.decimal)

    def duration(self, ms: int) -> str:
        """How a duration is said: '30 seconds', '1 minute 30 seconds', '2 minutes'."""
        seconds = round(ms / 1000)
        # A routine says the same few durations again and again: each is worded once.
        said = self._durations.get(seconds)
        if said is None:
            said = self._durations[seconds] = self._duration(seconds)
        return said

    def _duration(self, seconds: int) -> str:
        if seconds < 60:
            return self._seconds(seconds)
        minutes, s = divmod(seconds, 60)
        if minutes < 60:
            said = self._minutes(minutes)
            return self._and(said, self._seconds(s)) if s else said
        hours, m = divmod(minutes, 60)
        said = self.ngettext("{n} hour", "{n} hours", hours)
        return self._and(said, self._minutes(m)) if m else said

    def sentence(self, text: str) -> str:
        """`text` with a capital first letter: a phrase that may start with a duration
        ("eine Minute halten.") begins a sentence."""
        return text[:1].upper() + text[1:]

    def _seconds(self, n: int) -> str:
        return self.ngettext("{n} second", "{n} seconds", n)

    def _minutes(self, n: int) -> str:
        return self.ngettext("{n} minute", "{n} minutes", n)

    def _and(self, larger: str, smaller: str) -> str:
        # TRANSLATORS: two parts of one duration: "1 minute 30 seconds", "1 hour 5 minutes".
        return self.pgettext("duration", "{larger} {smaller}", larger=larger, smaller=smaller)

    def _fill(self, template: str, fields: dict[str, Any]) -> str:
        if not fields:
            return template
        return _filled(self.language.code, template, **fields)


# A compile fills the same few messages with the same values over and over ("Rest for 15
# seconds.", "Set 2 of 3."); each is filled once. typed: 1, 1.0 and True are equal keys, but
# each is said its own way. The bound is for a long-lived editor server, which sees many titles.
@functools.lru_cache(maxsize=4096, typed=True)
def _filled(code: str, template: str, **fields: Any) -> str:
    return template.format(
        **{
            k: _Number(code, v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in fields.items()
        }
    )


class _Number:
    """An int field: digits, or with a gender spec, the words that agree (see the module)."""

    __slots__ = ("code", "n")

    def __init__(self, code: str, n: int) -> None:
        self.code = code
        self.n = n

    def __format__(self, spec: str) -> str:
        if spec in ("", "d"):
            return str(self.n)
        if spec not in ("f", "m", "n"):
            raise ValueError(f"unknown number format '{spec}' (f, m or n: the noun's gender)")
        from coach.words.numbers import agreeing

        return agreeing(self.code, self.n, spec)


# The source language: the code's own words, with English's plural rule (1 is singular).
ENGLISH = Words(_BY_CODE[SOURCE_LANGUAGE], gettext.NullTranslations())


def words_for(tag: str) -> Words:
    """coach's words for a routine in language `tag`: its catalog's, or English when coach
    has none in that language (`has_words`)."""
    language = language_of(tag)
    if language is None or language.code == SOURCE_LANGUAGE:
        return ENGLISH
    return _words(language.code)


@functools.cache
def _words(code: str) -> Words:
    return Words(_BY_CODE[code], translations(code))


def translations(code: str) -> gettext.GNUTranslations:
    """The catalog of `code`, read from its .po file and compiled in memory by Babel (fuzzy
    entries left out, as msgfmt does)."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from coach.errors import EnvironmentFault

    path = catalog_path(code)
    try:
        with open(path, "rb") as f:
            catalog = read_po(f, locale=code, domain=DOMAIN)
    except OSError as e:
        raise EnvironmentFault(
            f"coach's words in {_BY_CODE[code].name} cannot be read: {e.strerror}: {path}",
            "install coach again (pip install --force-reinstall coach)",
        ) from e
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)
