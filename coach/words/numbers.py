"""Numbers that agree with the noun after them, where digits would be read wrong.

espeak-ng (and Piper, which reads text with espeak-ng's rules) reads a digit one way whatever
follows it: "1 Sekunde" as "eins Sekunde", "1 segundo" as "uno segundo", "21 horas" as
"veintiuno horas", "21 secondes" as "vingt et un secondes". Only the numbers whose words
change with the noun are spelled out; every other number stays digits, which the voices read
right (checked with `espeak-ng -x` in tests/test_words.py).
"""

from __future__ import annotations


def agreeing(code: str, n: int, gender: str) -> str:
    """`n` as said before a noun of `gender` (f, m or n) in language `code`."""
    if n < 0:
        return str(n)
    if code == "de":
        # Only "ein" declines; 21 is "einundzwanzig" before any noun.
        return ("eine" if gender == "f" else "ein") if n == 1 else str(n)
    if code == "es" and n % 10 == 1 and n % 100 != 11:
        said = _spelled(n, "es")  # uno, veintiuno, treinta y uno, ciento uno
        if gender == "f":
            return said[:-1] + "a"  # una, veintiuna, treinta y una
        return said[:-3] + "ún" if said.endswith("iuno") else said[:-1]  # veintiún, un
    if code == "fr" and gender == "f" and n % 10 == 1 and n % 100 != 11:
        said = _spelled(n, "fr")  # un, vingt et un, quatre-vingt-un (71: soixante et onze)
        return said + "e" if said.endswith("un") else str(n)
    return str(n)


def _spelled(n: int, code: str) -> str:
    from num2words import num2words

    return str(num2words(n, lang=code))
