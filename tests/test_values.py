"""The small value languages: durations and breath patterns, as written and as shown."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from coach.values import (
    MAX_PARSED_MS,
    BreathPattern,
    duration_hint,
    format_duration,
    parse_duration,
    parse_pattern,
    shorten,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("45", 45_000),
        ("45s", 45_000),
        (" 45 s ", 45_000),
        ("1.5", 1_500),
        ("0.1s", 100),
        ("1.5m", 90_000),
        ("1m30s", 90_000),
        ("1m 30s", 90_000),
        ("2m", 120_000),
        ("1h", 3_600_000),
        ("1h5m", 3_900_000),
        ("1h0m1s", 3_601_000),
        ("0", 0),
        ("0s", 0),
        ("1" + "0" * 400 + "s", MAX_PARSED_MS),  # absurd: too long, not an overflow
        ("9" * 5000, MAX_PARSED_MS),
    ],
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "45 sec",
        "1m30",
        "-5s",
        "-5",
        "s",
        "m",
        "1.5.5s",
        "1s1m",
        "45S",
        "1e3",
        "4-7-8",
        "1h 2h",
        ".5s",
        "5.s",
        "inf",
        "nan",
        "45\n\n45",
        "0\x1f",
        "1\x1cs",
        "\u0663s",
    ],  # once a ValueError: \s took U+001F, float() did not
)
def test_not_a_duration(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("45 sec", "45s"),
        ("45 seconds", "45s"),
        ("1 second", "1s"),
        ("2 minutes", "2m"),
        ("1 min 30 secs", "1m30s"),
        ("1m30", "1m30s"),
        ("1h30", "1h30m"),
        ("1 hour", "1h"),
        ("45S", "45s"),
        ("500ms", "0.5s"),
        ("1500 milliseconds", "1.5s"),
    ],
)
def test_duration_hint(text, meant):
    assert duration_hint(text) == meant
    assert parse_duration(meant) is not None


@pytest.mark.parametrize("text", ["abc", "", "45s", "a while", "-5s", "1e400"])
def test_no_duration_hint(text):
    assert duration_hint(text) is None


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (1_000, "1s"),
        (45_000, "45s"),
        (60_000, "1m"),
        (90_000, "1m30s"),
        (3_600_000, "1h"),
        (3_900_000, "1h5m"),
        (3_601_000, "1h1s"),
        (1_500, "1.5s"),
        (100, "0.1s"),
        (1, "0.001s"),
        (90_500, "90.5s"),
        (123_456_700, "123456.7s"),  # once "123457s": six significant digits lost the tenth
        (-1_500, "-1.5s"),
    ],
)
def test_format_duration(ms, text):
    assert format_duration(ms) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_seconds_round_trip(seconds):
    ms = seconds * 1000
    assert parse_duration(format_duration(ms)) == ms


@given(st.integers(min_value=0, max_value=10**10))
def test_tenths_of_a_second_round_trip(tenths):
    ms = tenths * 100
    assert parse_duration(format_duration(ms)) == ms


@given(st.integers(min_value=0, max_value=10**9))
def test_milliseconds_round_trip(ms):
    assert parse_duration(format_duration(ms)) == ms


# -- breath patterns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phases"),
    [
        ("4-7-8", (4_000, 7_000, 8_000, 0)),
        ("4-4-4-4", (4_000, 4_000, 4_000, 4_000)),
        (" 4 - 0 - 6 ", (4_000, 0, 6_000, 0)),
        ("2.5-0-3.5", (2_500, 0, 3_500, 0)),
        ("60-60-60-60", (60_000, 60_000, 60_000, 60_000)),
        ("box", (4_000, 4_000, 4_000, 4_000)),
        ("Relax", (4_000, 7_000, 8_000, 0)),
        ("calm", (4_000, 0, 6_000, 0)),
        ("coherent", (5_000, 0, 5_000, 0)),
    ],
)
def test_parse_pattern(text, phases):
    pattern = parse_pattern(text)
    assert isinstance(pattern, BreathPattern)
    assert (pattern.inhale_ms, pattern.hold_in_ms, pattern.exhale_ms, pattern.hold_out_ms) == phases


EXAMPLES = "such as 4-7-8 (in-hold-out) or 4-4-4-4, or a name: box, relax, calm, coherent"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "4-7",
            f"must be a breath pattern {EXAMPLES}, found '4-7'; a pattern has 3 numbers "
            "(in-hold-out) or 4 (in-hold-out-hold)",
        ),
        (
            "4-4-4-4-4",
            f"must be a breath pattern {EXAMPLES}, found '4-4-4-4-4'; a pattern has "
            "3 numbers (in-hold-out) or 4 (in-hold-out-hold)",
        ),
        ("boxx", f"must be a breath pattern {EXAMPLES}, found 'boxx'; did you mean 'box'?"),
        ("slow", f"must be a breath pattern {EXAMPLES}, found 'slow'"),
        ("4-x-8", f"must be a breath pattern {EXAMPLES}, found '4-x-8'"),
        ("0-4-4", "needs a breath in and a breath out of more than 0 seconds, found '0-4-4'"),
        ("4-4-0", "needs a breath in and a breath out of more than 0 seconds, found '4-4-0'"),
        ("4-70-8", "has a phase longer than 60 seconds, found '4-70-8'"),
        (
            "1" + "0" * 400 + "-1-1",
            "has a phase longer than 60 seconds, found '1000000000000000000000000000000000000...'",
        ),
        ("4-7-8\nx", f"must be a breath pattern {EXAMPLES}, found '4-7-8\\nx'"),
    ],
)
def test_pattern_problems(text, message):
    assert parse_pattern(text) == message


@given(st.lists(st.integers(min_value=1, max_value=600), min_size=3, max_size=4))
def test_pattern_as_text_reads_back(tenths):
    pattern = parse_pattern("-".join(f"{t / 10:g}" for t in tenths))
    again = parse_pattern(pattern.as_text())
    assert isinstance(pattern, BreathPattern) and isinstance(again, BreathPattern)
    assert again.phases() == pattern.phases()


@given(st.text(max_size=60))
def test_parsers_answer_any_text(text):
    assert parse_duration(text) is None or parse_duration(text) >= 0
    assert isinstance(parse_pattern(text), (BreathPattern, str))
    hint = duration_hint(text)
    assert hint is None or parse_duration(hint) is not None


@given(st.text())
def test_shorten_makes_one_short_line(text):
    shown = shorten(text)
    assert shown.isprintable()
    assert len(shown) <= 40 or not text.isprintable()
