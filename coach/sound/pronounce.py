"""A routine's pronunciation fixes applied to a phrase: the written text to the text an engine
is given. Pure and cheap; the voice (coach.sound.voice) calls it before its phrase cache, so the
cache keys what is said, and captions, chapters and cue texts keep the written words.

Matching is whole-word and ignores case: a key matches where it is neither preceded nor followed
by a letter, digit or underscore, so `-`, `'` and punctuation end a word ("use," and "use-case"
match `use`; "user" does not). Spaces in a phrase match any run of whitespace. Where keys
overlap, the longest wins; a respelling is put in as written and never respelt again.
"""

from __future__ import annotations

import re
from functools import lru_cache

Pronounce = tuple[tuple[str, str], ...]  # (written word or phrase, respelling), as in a routine


def respell(text: str, pronounce: Pronounce) -> str:
    """`text` with every whole-word, case-insensitive match of a key replaced by its respelling."""
    if not pronounce:
        return text
    pattern, said = _compiled(pronounce)
    return pattern.sub(lambda m: said[m.lastindex - 1], text)  # type: ignore[operator]


@lru_cache(maxsize=32)
def _compiled(pronounce: Pronounce) -> tuple[re.Pattern[str], tuple[str, ...]]:
    # Longest first, so that a phrase is tried before a word inside it at the same place; one
    # group per key tells which key matched without comparing case again.
    ordered = sorted(pronounce, key=lambda pair: len(pair[0]), reverse=True)
    groups = "|".join(
        "(" + r"\s+".join(re.escape(part) for part in word.split()) + ")" for word, _ in ordered
    )
    pattern = re.compile(rf"(?<!\w)(?:{groups})(?!\w)", re.IGNORECASE)
    return pattern, tuple(said for _, said in ordered)
