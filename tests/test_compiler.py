"""The compiler's timing rules, on small routines and on the built-in one."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import pytest

from coach.errors import RoutineError
from coach.routine.library import builtin_names, find
from coach.routine.parser import load_routine, parse_routine
from coach.script import cues
from coach.script.compiler import GAP_MS, compile, estimated_durations
from coach.script.tones import TONE_MS
from coach.settings import Settings
from coach.words import ENGLISH
from tests.support import ROOT, fake_durations

GOLDEN = ROOT / "tests" / "golden"


def script_of(text: str, settings: Settings | None = None):
    return compile(parse_routine(text, "t.yaml"), settings, fake_durations)


def speech(script, role=None):
    return [c for c in script.cues if c.kind == "speech" and (role is None or c.role == role)]


def tones(script, name):
    return [c for c in script.cues if c.kind == "tone" and c.tone == name]


HOLD = """
title: Hold test
safety: [Stop if it hurts.]
steps:
  - exercise: Doorway stretch
    say: Stand in a doorway.
    hold: 20s
"""


def test_a_hold_is_announced_then_a_tone_starts_its_timer_and_a_countdown_ends_it():
    s = script_of(HOLD)
    announce = next(c for c in speech(s) if c.text == "Hold for 20 seconds.")
    (start,) = tones(s, "hold_start")
    (end,) = tones(s, "hold_end")
    assert announce.end_ms <= start.start_ms
    assert end.start_ms - start.start_ms == 20_000
    counts = speech(s, "countdown")
    assert [c.text for c in counts] == ["Three.", "Two.", "One."]
    assert [end.start_ms - c.start_ms for c in counts] == [3000, 2000, 1000]
    assert counts[-1].end_ms <= end.start_ms


def test_safety_comes_first_and_start_and_finish_bracket_the_routine():
    s = script_of(HOLD)
    assert s.cues[0].kind == "tone" and s.cues[0].tone == "start" and s.cues[0].start_ms == 0
    spoken = speech(s)
    assert spoken[0].role == "start" and spoken[0].text.startswith("Hold test.")
    assert spoken[1].role == "safety" and spoken[1].text == "Stop if it hurts."
    assert s.cues[-1].tone == "finish"
    assert s.cues[-1].end_ms <= s.duration_ms
    assert speech(s)[-1].role == "finish"


def test_sides_both_runs_left_then_a_switch_then_right():
    s = script_of(HOLD.replace("hold: 20s", "hold: 20s\n    sides: both"))
    starts = tones(s, "hold_start")
    switch = tones(s, "switch")
    assert [c.side for c in starts] == ["left", "right"]
    assert len(switch) == 1 and switch[0].side == "right"
    assert starts[0].start_ms < switch[0].start_ms < starts[1].start_ms
    said = [c.text for c in speech(s, "switch")]
    assert said == ["Switch sides. Now the right side."]


def test_reps_are_paced_by_tempo_and_counted_when_asked():
    text = """
title: Reps
steps:
  - exercise: Arm circles
    reps: 4
    tempo: 2s
    count: true
"""
    s = script_of(text)
    (start,) = tones(s, "hold_start")
    (end,) = tones(s, "hold_end")
    assert end.start_ms - start.start_ms == 8000
    counts = speech(s, "rep_count")
    assert [c.text for c in counts] == ["1.", "2.", "3.", "4."]
    assert [c.start_ms - start.start_ms for c in counts] == [0, 2000, 4000, 6000]
    uncounted = script_of(text.replace("count: true", "count: false"))
    assert not speech(uncounted, "rep_count")
    (first,) = tones(uncounted, "hold_start")
    assert [c.start_ms - first.start_ms for c in tones(uncounted, "rep")] == [2000, 4000, 6000]


def test_breath_cues_follow_the_pattern_in_a_breathing_block():
    s = script_of("title: B\nsteps:\n  - breathe: 4-7-8\n    cycles: 2\n")
    (start,) = tones(s, "hold_start")
    (end,) = tones(s, "hold_end")
    assert end.start_ms - start.start_ms == 2 * 19_000
    got = [(c.start_ms - start.start_ms, c.role) for c in speech(s) if c.role.startswith("breath_")]
    assert got == [
        (0, "breath_in"),
        (4000, "breath_hold"),
        (11_000, "breath_out"),
        (19_000, "breath_in"),
        (23_000, "breath_hold"),
        (30_000, "breath_out"),
    ]
    assert speech(s, "breath_in")[-1].text.startswith("Last breath")


def test_a_breathe_duration_becomes_whole_cycles():
    s = script_of("title: B\nsteps:\n  - breathe: box\n    duration: 1m\n")
    (start,) = tones(s, "hold_start")
    (end,) = tones(s, "hold_end")
    assert end.start_ms - start.start_ms == 4 * 16_000  # 60 s / 16 s is 3.75: four cycles


def test_breath_words_too_long_for_a_phase_fall_back_to_short_ones_or_none():
    s = script_of("title: B\nsteps:\n  - breathe: 0.6-0-0.6\n    cycles: 3\n")
    for c in speech(s):
        if c.role.startswith("breath_"):
            assert c.end_ms - c.start_ms <= 500
    # with the fake voice "Breathe in." takes 760 ms and "In." 280 ms: only the short one fits
    assert [c.text for c in speech(s, "breath_in")] == ["In.", "In.", "In."]
    assert [c.text for c in speech(s, "breath_out")] == ["Out.", "Out.", "Out."]


def test_a_rest_announces_what_comes_next_and_lasts_exactly_its_length():
    text = """
title: R
steps:
  - exercise: One
    hold: 5s
  - rest: 30s
  - exercise: Doorway stretch
    hold: 5s
"""
    s = script_of(text)
    (rest,) = tones(s, "rest")
    (nxt,) = speech(s, "next")
    assert nxt.text == "Next up: Doorway stretch."
    following = next(c for c in s.cues if c.start_ms > rest.start_ms and c.role == "announce")
    assert following.start_ms - rest.start_ms >= 30_000
    assert nxt.end_ms <= rest.start_ms + 30_000
    assert [ch.title for ch in s.chapters] == ["Introduction", "One", "Rest", "Doorway stretch"]


def test_sets_have_a_rest_between_them():
    s = script_of(
        "title: S\nsteps:\n  - exercise: Squeeze\n    hold: 10s\n    sets: 3\n    rest: 20s\n"
    )
    starts = tones(s, "hold_start")
    rests = tones(s, "rest")
    assert len(starts) == 3 and len(rests) == 2
    for rest, after in zip(rests, starts[1:]):
        assert after.start_ms - rest.start_ms >= 20_000
    assert [c.text for c in speech(s, "next")] == ["Set 2 of 3.", "Set 3 of 3."]


def test_cues_are_spoken_inside_a_long_hold_without_overlapping_the_countdown():
    s = script_of(
        HOLD.replace("hold: 20s", "hold: 1m\n    cues: [Keep breathing., Relax your jaw.]")
    )
    (start,) = tones(s, "hold_start")
    reminders = speech(s, "reminder")
    assert [c.text for c in reminders] == ["Keep breathing.", "Relax your jaw."]
    assert all(start.start_ms < c.start_ms < start.start_ms + 57_000 for c in reminders)


def test_windows_alike_in_length_keep_what_each_of_them_holds():
    # The compiler places what goes in a window once per shape; windows of the same length
    # with other breath patterns, reminders or counts must not share their contents.
    s = script_of(
        """
title: Shapes
steps:
  - exercise: One
    hold: 40s
    breath: box
    cues: [Keep breathing.]
    sides: both
  - exercise: Two
    hold: 40s
    cues: [Relax your jaw.]
  - exercise: Three
    hold: 40s
    breath: 4-7-8
    cues: [Keep breathing.]
  - exercise: Four
    reps: 8
    tempo: 5s
    count: true
  - exercise: Five
    reps: 8
    tempo: 5s
    count: false
"""
    )
    starts = tones(s, "hold_start")
    ends = tones(s, "hold_end")
    assert len(starts) == len(ends) == 6

    def inside(i):
        a, b = starts[i].start_ms, ends[i].start_ms
        return [
            (c.start_ms - a, c.end_ms - a, c.kind, c.role, c.text, c.tone, c.side)
            for c in s.cues
            if a < c.start_ms < b or (c.start_ms == a and c is not starts[i])
        ]

    left, right, two, three, four, five = (inside(i) for i in range(6))
    # The same hold on each side: the same cues at the same offsets, each on its own side.
    assert [c[:6] for c in left] == [c[:6] for c in right]
    assert {c[6] for c in left} == {"left"} and {c[6] for c in right} == {"right"}
    said = [[c[4] for c in w if c[3] == "reminder"] for w in (left, two, three)]
    assert said == [["Keep breathing."], ["Relax your jaw."], ["Keep breathing."]]
    assert not [c for c in two if c[3].startswith("breath_")]
    box = [c[0] for c in left if c[3] == "breath_in" and c[2] == "speech"]
    four_seven_eight = [c[0] for c in three if c[3] == "breath_in" and c[2] == "speech"]
    assert box[:2] == [0, 16_000] and four_seven_eight[:2] == [0, 19_000]
    assert [c[4] for c in four if c[3] == "rep_count"] == [f"{n}." for n in range(1, 9)]
    assert not [c for c in five if c[3] == "rep_count"]
    assert len([c for c in five if c[5] == "rep"]) == 7


def test_the_cycle_collector_is_back_as_it_was_after_a_compile_even_a_failed_one():
    # The compiler pauses Python's cycle collector while it works (its objects all live on).
    text = HOLD.replace("hold: 20s", "hold: 20s\n    sets: 2")
    paused = []

    def durations(text: str) -> int:
        paused.append(not gc.isenabled())
        return 1000

    assert gc.isenabled()
    compile(parse_routine(text, "t.yaml"), None, durations)
    assert paused and all(paused)
    assert gc.isenabled()
    too_long = parse_routine(
        "title: Long\nsteps:\n  - repeat: 100\n    steps:\n      - exercise: A\n        hold: 1h\n",
        "t.yaml",
    )
    with pytest.raises(RoutineError, match="lasts more than"):
        compile(too_long)
    assert gc.isenabled()
    gc.disable()  # paused by someone else: left paused
    try:
        compile(parse_routine(text, "t.yaml"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_caution_is_spoken_before_the_step():
    s = script_of(HOLD.replace("say: Stand", "caution: Go gently.\n    say: Stand"))
    caution = speech(s, "caution")[0]
    announce = speech(s, "announce")[0]
    assert caution.text == "Go gently." and caution.end_ms <= announce.start_ms


def test_repeat_makes_rounds_with_a_rest_between_them():
    text = """
title: Rounds
steps:
  - repeat: 3
    rest: 10s
    steps:
      - exercise: Twist
        hold: 5s
"""
    s = script_of(text)
    assert [c.text for c in speech(s, "round")] == [
        "Round 1 of 3.",
        "Round 2 of 3.",
        "Round 3 of 3.",
    ]
    titles = [ch.title for ch in s.chapters]
    assert titles == [
        "Introduction",
        "Twist (round 1 of 3)",
        "Rest",
        "Twist (round 2 of 3)",
        "Rest",
        "Twist (round 3 of 3)",
    ]
    assert [c.text for c in speech(s, "next")] == [
        "Next up: Twist (round 2 of 3).",
        "Next up: Twist (round 3 of 3).",
    ]


def test_an_announcement_belongs_to_the_chapter_it_introduces():
    s = script_of(HOLD.replace("steps:\n", "steps:\n  - say: Find a doorway.\n"))
    said = next(c for c in speech(s) if c.text == "Find a doorway.")
    assert s.chapters[said.step].title == "Doorway stretch"
    assert s.chapters[said.step].start_ms == said.start_ms


def test_chapters_tile_the_whole_script():
    s = compile(load_routine(find("upper-back-release").path))
    assert s.chapters[0].start_ms == 0 and s.chapters[-1].end_ms == s.duration_ms
    for a, b in zip(s.chapters, s.chapters[1:]):
        assert a.end_ms == b.start_ms
    for c in s.cues:
        ch = s.chapters[c.step]
        assert ch.start_ms <= c.start_ms <= ch.end_ms


def test_pace_scales_holds_rests_and_transitions():
    text = """
title: P
defaults: {transition: 4s}
steps:
  - exercise: A
    hold: 30s
  - rest: 20s
  - exercise: B
    hold: 10s
"""
    slow = script_of(text)
    fast = script_of(text, Settings(pace=2.0))
    for name in ("hold_start", "hold_end", "rest"):
        assert len(tones(slow, name)) == len(tones(fast, name))

    def windows(s):
        return [
            e.start_ms - b.start_ms for b, e in zip(tones(s, "hold_start"), tones(s, "hold_end"))
        ]

    assert windows(slow) == [30_000, 10_000]
    assert windows(fast) == [15_000, 5_000]


def test_command_line_hold_overrides_and_scales():
    text = "title: H\nsteps:\n  - exercise: A\n    hold: 30s\n  - exercise: B\n"

    def holds(settings):
        s = script_of(text, settings)
        return [
            e.start_ms - b.start_ms for b, e in zip(tones(s, "hold_start"), tones(s, "hold_end"))
        ]

    assert holds(None) == [30_000, 30_000]  # B has no hold: the built-in default, 30 s
    assert holds(Settings(hold_ms=45_000)) == [45_000, 45_000]
    assert holds(Settings(hold_scale=1.5)) == [45_000, 45_000]
    assert holds(Settings(hold_ms=20_000, hold_scale=2, pace=2)) == [20_000, 20_000]


def test_the_introduction_says_how_long_the_routine_takes():
    s = compile(load_routine(find("upper-back-release").path))
    intro = speech(s, "start")[0].text
    minutes = round(s.duration_ms / 60_000)
    assert intro == f"Upper back release. About {minutes} minutes."


def test_an_absurdly_long_routine_is_refused_at_the_step_that_makes_it_so():
    text = (
        "title: Long\nsteps:\n  - repeat: 100\n    steps:\n      - exercise: A\n        hold: 1h\n"
    )
    from coach.errors import RoutineError

    with pytest.raises(RoutineError) as e:
        script_of(text)
    assert e.value.lines() == [
        "t.yaml:5:9: error: the routine lasts more than 12 hours at this pacing; "
        "shorten it or raise the pace"
    ]


def test_estimated_durations_follow_the_speech_rate():
    slow, fast = estimated_durations(100), estimated_durations(200)
    assert slow("one two three four") == 2600 and fast("one two three four") == 1400


# Golden scripts are kept for the English built-ins; the translations are checked against
# them in tests/test_translations.py (same timings, sides and safety lines).
ENGLISH_BUILTINS = [n for n in builtin_names() if load_routine(find(n).path).language == "en"]


def test_every_english_built_in_has_a_golden_script():
    kept = {p.stem for p in GOLDEN.glob("*.json")} - {"schema-verdicts"}
    assert kept == set(ENGLISH_BUILTINS) and len(kept) == 4


@pytest.mark.parametrize("name", ENGLISH_BUILTINS)
def test_golden_cue_script(name):
    """The built-in routines compile to the reviewed cue scripts in tests/golden/.

    After an intended change, regenerate with COACH_UPDATE_GOLDEN=1 and review the diff.
    """
    script = compile(load_routine(find(name).path))
    got = json.loads(cues.dumps(script))
    path: Path = GOLDEN / f"{name}.json"
    if os.environ.get("COACH_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(cues.dumps(script), encoding="utf-8")
    assert got == json.loads(path.read_text(encoding="utf-8"))


def test_tone_cues_last_as_long_as_their_tone():
    s = compile(load_routine(find("upper-back-release").path))
    for c in s.cues:
        if c.kind == "tone":
            assert c.end_ms - c.start_ms == TONE_MS[c.tone]


def test_breath_cues_can_be_tones_words_or_both():
    text = "title: B\nsteps:\n  - breathe: 4-2-6\n    cycles: 2\n"
    both = script_of(text)
    assert [c.tone for c in tones(both, "breath_in")] == ["breath_in", "breath_in"]
    assert len(tones(both, "breath_out")) == 2 and len(speech(both, "breath_in")) == 2
    only_tones = script_of(text, Settings(breath_cues="tones"))
    assert not [c for c in speech(only_tones) if c.role.startswith("breath_")]
    assert len(tones(only_tones, "breath_in")) == 2
    only_voice = script_of(text, Settings(breath_cues="voice"))
    assert not tones(only_voice, "breath_in") and len(speech(only_voice, "breath_in")) == 2


def test_with_tones_only_a_hold_counts_down_with_pips():
    s = script_of(HOLD, Settings(breath_cues="tones"))
    (end,) = tones(s, "hold_end")
    assert not speech(s, "countdown")
    assert [end.start_ms - c.start_ms for c in tones(s, "countdown")] == [3000, 2000, 1000]


def test_a_breath_tone_is_left_out_where_the_phase_is_too_short_for_it():
    s = script_of("title: B\nsteps:\n  - breathe: 1-0-1\n    cycles: 2\n")
    assert not tones(s, "breath_in") and not tones(s, "breath_out")


def test_a_voice_too_slow_to_count_within_a_second_counts_with_pips():
    def slow(text: str) -> int:
        return 1200 if text in ("Three.", "Two.", "One.") else fake_durations(text)

    s = compile(parse_routine(HOLD, "t.yaml"), None, slow)
    (end,) = tones(s, "hold_end")
    assert not speech(s, "countdown")
    assert [end.start_ms - c.start_ms for c in tones(s, "countdown")] == [3000, 2000, 1000]


VERBOSE = """
title: V
safety: Stop if it hurts.
steps:
  - say: Let's warm up.
  - exercise: Neck tilts
    say: [Sit tall., Tilt your ear toward your shoulder.]
    brief: Ear toward shoulder.
    hold: 20s
    sides: both
    cues: Keep the other shoulder down.
    caution: Never force it.
  - rest: 10s
    say: Get a chair.
  - repeat: 2
    steps:
      - exercise: Squeeze
        say: [Stand tall., Squeeze your shoulder blades together.]
        reps: 3
        count: true
  - breathe: box
    cycles: 1
    say: Sit comfortably.
"""


def said(script):
    return [c.text for c in script.cues if c.kind == "speech"]


def test_full_explains_an_exercise_the_first_time_and_briefly_after():
    s = said(script_of(VERBOSE, Settings(verbosity="full")))
    assert "Sit tall." in s and "Tilt your ear toward your shoulder." in s
    assert "Ear toward shoulder." not in s  # explained in full instead
    assert "Keep the other shoulder down." in s and "Let's warm up." in s
    # Round 2 repeats the squeeze: its first sentence only, no second explanation.
    assert s.count("Squeeze your shoulder blades together.") == 1
    assert s.count("Stand tall.") == 2
    assert "Sit comfortably." in s


def test_brief_says_the_name_and_the_key_cue():
    s = said(script_of(VERBOSE, Settings(verbosity="brief")))
    assert "Neck tilts." in s and "Ear toward shoulder." in s
    assert "Sit tall." not in s and "Keep the other shoulder down." not in s
    assert s.count("Stand tall.") == 2  # no 'brief': the first sentence of 'say'
    assert "Squeeze your shoulder blades together." not in s
    assert "Sit comfortably." not in s
    # Safety, cautions, sides and what to do in the rest are never dropped.
    for kept in (
        "Stop if it hurts.",
        "Never force it.",
        "Start on the left side.",
        "Get a chair.",
        "Hold for 20 seconds on each side.",
    ):
        assert kept in s


def test_minimal_says_names_and_lets_tones_do_the_rest():
    script = script_of(VERBOSE, Settings(verbosity="minimal"))
    s = said(script)
    assert "Neck tilts." in s and "Squeeze." in s
    for gone in (
        "Sit tall.",
        "Ear toward shoulder.",
        "Hold for 20 seconds on each side.",
        "Let's warm up.",
        "Get a chair.",
        "Halfway.",
        "Three.",
        "1.",
        "Breathe in.",
    ):
        assert gone not in s
    for kept in (
        "Stop if it hurts.",
        "Never force it.",
        "Start on the left side.",
        "Switch sides. Now the right side.",
    ):
        assert kept in s
    tones = {c.tone for c in script.cues if c.kind == "tone"}
    assert {"countdown", "rep", "breath_in", "breath_out", "hold_start", "hold_end"} <= tones
    # Fewer words, the same timed windows: holds and rests last as long at every level.
    full = script_of(VERBOSE, Settings(verbosity="full"))

    def windows(sc):
        starts = [c.start_ms for c in sc.cues if c.role == "hold_start"]
        ends = [c.start_ms for c in sc.cues if c.role == "hold_end"]
        return [e - b for b, e in zip(starts, ends)]

    assert windows(script) == windows(full)
    assert script.duration_ms < full.duration_ms


# -- pronounce: read from the routine, copied into the cue script, never into its texts -------

PRONOUNCE_BLOCK = """
pronounce:
  spinae: spy nee
  Erector   Spinae: e-rector spy nee
  use: yooz
  child's: chyld's
"""
SPINAE = """title: Erector spinae
steps:
  - exercise: Erector spinae release
    say: Use a tennis ball on the erector spinae.
    hold: 10s
"""
PRONOUNCED = SPINAE + PRONOUNCE_BLOCK


def test_pronounce_is_read_in_file_order_with_spaces_collapsed():
    routine = parse_routine(PRONOUNCED, "t.yaml")
    assert routine.pronounce == (
        ("spinae", "spy nee"),
        ("Erector Spinae", "e-rector spy nee"),
        ("use", "yooz"),
        ("child's", "chyld's"),
    )


def test_a_routine_without_pronounce_has_none():
    assert parse_routine(SPINAE, "t.yaml").pronounce == ()
    assert parse_routine(SPINAE + "pronounce: {}\n", "t.yaml").pronounce == ()


def test_the_cue_script_carries_pronounce_and_keeps_the_written_words():
    s = script_of(PRONOUNCED)
    assert s.pronounce == parse_routine(PRONOUNCED, "t.yaml").pronounce
    texts = [c.text for c in speech(s)]
    assert "Use a tennis ball on the erector spinae." in texts
    assert not any("spy nee" in t or "yooz" in t for t in texts)
    assert s.chapters[1].title == "Erector spinae release"


def test_the_compiler_times_the_written_text_and_the_voice_answers_for_the_spoken_one():
    """Without a voice, pronounce changes nothing but the field: the durations function is
    asked about the written text (a SpeechVoice respells it before measuring)."""
    plain, pronounced = script_of(SPINAE), script_of(PRONOUNCED)
    assert plain.cues == pronounced.cues and plain.pronounce == ()


# -- compiling ahead of the voice (coach play while Piper speaks the rest) --------------------


def _asked(routine) -> list[str]:
    """The phrases the compiler asks about, in the order it asks."""
    asked: list[str] = []

    def noted(text: str) -> int:
        asked.append(text)
        return fake_durations(text)

    compile(routine, None, noted, _estimate)  # the introduction said as estimated
    return list(dict.fromkeys(asked))


def _estimate(text: str) -> int:  # deliberately unlike the real lengths
    return 45 * len(text) + 900


@pytest.mark.parametrize("name", ["upper-back-quick", "upper-back-release"])
def test_a_script_compiled_ahead_is_final_before_the_first_unknown_phrase(name):
    """With only the first k phrases measured (as Piper delivers them, in the order asked),
    every cue that starts before `final_ms` is exactly where the complete script has it, and
    `final_ms` moves forward as phrases arrive, to None (complete) when all are there."""
    from coach.script.compiler import compile_ahead

    routine = load_routine(find(name).path)
    full = compile(routine, None, fake_durations, _estimate)
    asked = _asked(routine)
    last_final = -1
    for k in range(len(asked) + 1):
        measured = set(asked[:k])
        ahead = compile_ahead(
            routine,
            None,
            _estimate,
            _estimate,
            lambda t, m=measured: fake_durations(t) if t in m else None,
        )
        if k == len(asked):
            assert ahead.final_ms is None and ahead.script == full
            break
        assert ahead.final_ms is not None and ahead.final_ms >= last_final
        last_final = ahead.final_ms
        early = [c for c in ahead.script.cues if c.start_ms < ahead.final_ms]
        assert early == [c for c in full.cues if c.start_ms < ahead.final_ms]
    assert last_final > full.duration_ms // 2  # the last phrases asked come late


def test_the_introduction_can_be_reckoned_with_estimated_lengths():
    """A slow voice's introduction says the length estimated from the text, the same whether
    its phrases are measured or not; the cues after it are timed by the measured lengths."""
    routine = load_routine(find("upper-back-desk").path)
    measured = compile(routine, None, fake_durations)
    estimated = compile(routine, None, fake_durations, lambda t: 4 * fake_durations(t))
    intro = speech(estimated, "start")[0].text
    assert intro.endswith(" minutes.") and intro != speech(measured, "start")[0].text
    minutes = round(compile(routine, None, lambda t: 4 * fake_durations(t)).duration_ms / 60_000)
    assert intro.endswith(f"About {ENGLISH.duration(minutes * 60_000)}.")
    after = speech(estimated)[1]
    assert after.start_ms == speech(estimated)[0].end_ms + GAP_MS
