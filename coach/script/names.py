"""The base of every name in the cue script contract (cue kinds, roles, chapter kinds, tones)."""

from __future__ import annotations

from enum import Enum


class Name(str, Enum):
    """A name written in a cue script: equal to, hashed as and printed as its string.

    `str, Enum` (not `StrEnum`, which needs Python 3.11) keeps the JSON and every message
    exactly as they were with bare strings. `__str__` is set here because from Python 3.12 on
    `str()` and f-strings of a `str, Enum` member give `Class.MEMBER`, not its value.
    """

    def __str__(self) -> str:
        return self.value
