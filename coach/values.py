"""The small value languages of the routine format: durations and breath patterns.

Shared by the routine loader, the user config and the command line, so `--hold 45s` accepts
exactly what `hold: 45s` does and answers with the same message.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

DURATION_EXAMPLES = "such as 45, 45s, 1m30s or 2m"
# ASCII: Unicode's \s and \d would let through characters (U+001F, other scripts' digits) that
# float() then refuses or reads differently.
_DURATION = re.compile(
    r"^\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*m)?"
    r"\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s)?\s*$",
    re.ASCII,
)
_PLAIN_SECONDS = re.compile(r"^\s*\d+(?:\.\d+)?\s*$", re.ASCII)


# Longer durations read as this, so "1000...0s" is answered "too long" rather than overflowing;
# it is far beyond every limit (about 31,700 years).
MAX_PARSED_MS = 10**15


def parse_duration(text: str) -> int | None:
    """Milliseconds for `45`, `45s`, `1.5m`, `1m30s`, `1h`; None if the text is not a duration.

    Absurdly long durations come back as MAX_PARSED_MS, for the caller's limit to refuse.
    """
    if _PLAIN_SECONDS.match(text):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match or not any(match.groupdict().values()):
            return None
        h, m, s = (float(match[g] or 0) for g in "hms")
        seconds = h * 3600 + m * 60 + s
    ms = seconds * 1000
    return round(ms) if ms < MAX_PARSED_MS else MAX_PARSED_MS


_UNIT_WORDS = (
    (re.compile(r"\s*(?:seconds?|secs?)\b"), "s"),
    (re.compile(r"\s*(?:minutes?|mins?)\b"), "m"),
    (re.compile(r"\s*(?:hours?|hrs?)\b"), "h"),
)
_MILLISECONDS = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:ms|milliseconds?)$", re.ASCII)


def duration_hint(text: str) -> str | None:
    """The duration an author probably meant by `text` ('45 sec' -> '45s', '1m30' -> '1m30s')."""
    guess = text.strip().lower()
    ms = _MILLISECONDS.match(guess)
    if ms:
        return format_duration(round(float(ms[1]))) if float(ms[1]) < 1e12 else None
    for words, unit in _UNIT_WORDS:
        guess = words.sub(unit, guess)
    guess = re.sub(r"\s+", "", guess)
    if re.search(r"\dh\d+$", guess):  # 1h30: the minutes
        guess += "m"
    elif re.search(r"\dm\d+$", guess):  # 1m30: the seconds
        guess += "s"
    if guess == text or parse_duration(guess) is None:
        return None
    return guess


def format_duration(ms: int) -> str:
    """The shortest duration text that reads back to `ms`: 45s, 1m30s, 2m, 1h5m, 2.5s."""
    if ms < 0:
        return "-" + format_duration(-ms)
    if ms % 1000:
        whole, frac = divmod(ms, 1000)
        return f"{whole}.{frac:03d}".rstrip("0") + "s"
    seconds = ms // 1000
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return "".join(parts) or "0s"


def format_clock(ms: int, tenths: bool = True) -> str:
    """A timeline stamp: m:ss.t, or m:ss rounded to the second; h:mm:ss past an hour."""
    if tenths:
        seconds, t = divmod(round(ms / 100), 10)
    else:
        seconds, t = round(ms / 1000), None
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    stamp = f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"
    return stamp if t is None else f"{stamp}.{t}"


@dataclass(frozen=True, slots=True)
class BreathPattern:
    """One breath cycle: in, hold, out, hold, in milliseconds. `name` is how it was written."""

    name: str
    inhale_ms: int
    hold_in_ms: int
    exhale_ms: int
    hold_out_ms: int

    @property
    def cycle_ms(self) -> int:
        return self.inhale_ms + self.hold_in_ms + self.exhale_ms + self.hold_out_ms

    def phases(self) -> tuple[tuple[str, int], ...]:
        """(phase, ms) in order, leaving out holds of zero length."""
        all_phases = (
            ("in", self.inhale_ms),
            ("hold", self.hold_in_ms),
            ("out", self.exhale_ms),
            ("hold", self.hold_out_ms),
        )
        return tuple((phase, ms) for phase, ms in all_phases if ms > 0)

    def scaled(self, factor: float) -> BreathPattern:
        return BreathPattern(
            self.name,
            round(self.inhale_ms * factor),
            round(self.hold_in_ms * factor),
            round(self.exhale_ms * factor),
            round(self.hold_out_ms * factor),
        )

    def as_text(self) -> str:
        parts = [self.inhale_ms, self.hold_in_ms, self.exhale_ms, self.hold_out_ms]
        return "-".join(f"{p / 1000:g}" for p in parts)


NAMED_PATTERNS = {
    "box": (4, 4, 4, 4),
    "relax": (4, 7, 8, 0),
    "calm": (4, 0, 6, 0),
    "coherent": (5, 0, 5, 0),
}
PATTERN_EXAMPLES = "such as 4-7-8 (in-hold-out) or 4-4-4-4, or a name: " + ", ".join(NAMED_PATTERNS)
MAX_PHASE_MS = 60_000
_PATTERN = re.compile(r"^\s*\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?){2,3}\s*$", re.ASCII)
_NUMBERS = re.compile(r"^\s*\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?)*\s*$", re.ASCII)


def parse_pattern(text: str) -> BreathPattern | str:
    """A BreathPattern, or a message saying why `text` is not one."""
    key = text.strip().lower()
    if key in NAMED_PATTERNS:
        secs = NAMED_PATTERNS[key]
        return BreathPattern(key, *(s * 1000 for s in secs))
    if not _PATTERN.match(text):
        close = difflib.get_close_matches(key, NAMED_PATTERNS, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean '{close[0]}'?"
        elif _NUMBERS.match(text):
            hint = "; a pattern has 3 numbers (in-hold-out) or 4 (in-hold-out-hold)"
        else:
            hint = ""
        return f"must be a breath pattern {PATTERN_EXAMPLES}, found '{shorten(text)}'{hint}"
    seconds = [float(p) for p in text.split("-")]
    if max(seconds) * 1000 > MAX_PHASE_MS:
        return f"has a phase longer than {MAX_PHASE_MS // 1000} seconds, found '{shorten(text)}'"
    parts = [round(s * 1000) for s in seconds]
    if len(parts) == 3:
        parts.append(0)
    inhale, hold_in, exhale, hold_out = parts
    if inhale == 0 or exhale == 0:
        return f"needs a breath in and a breath out of more than 0 seconds, found '{shorten(text)}'"
    return BreathPattern(text.strip(), inhale, hold_in, exhale, hold_out)


def shorten(text: str, limit: int = 40) -> str:
    """`text` fit for one line of a message: cut to `limit` characters, invisible ones escaped."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
