"""The play session's controls, one layer down: a stand-in speaker and clock, exact samples.

Each segment the session opens records what was written to it, so a test checks the very
samples a person would hear after each control: the spoken answer, then the session from the
right place. The same controls through a real terminal and audio server are in test_play.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from coach.errors import UsageError
from coach.play.keys import parse
from coach.play.positions import Positions
from coach.play.session import (
    ANSWER_GAP_MS,
    ANSWERS,
    FIRST_KEYS,
    Keys,
    Session,
    Status,
    start_ms,
)
from coach.play.view import LiveView, status_line
from coach.routine.parser import parse_routine
from coach.script.compiler import compile, compile_ahead
from coach.settings import Settings
from coach.sound.render import render, samples_at

RATE = 8_000  # small buffers; the session does not care about the rate


class TextVoice:
    """Each phrase is a distinct ramp derived from its text, so any two can be told apart."""

    sample_rate = RATE

    def pcm(self, text: str):
        n = 400 * len(text) + 400  # 50 ms a character: phrases a second or two long
        seed = sum(map(ord, text)) % 97 + 1
        return (np.sin(np.arange(n, dtype=np.float32) * seed / 50) * 0.5).astype(np.float32)

    def duration_ms(self, text: str) -> int:
        return round(len(self.pcm(text)) * 1000 / RATE)


class Clock:
    now = 0.0


class FakeSegment:
    streaming = True

    def __init__(self, clock: Clock, frames: int, first) -> None:
        self.clock, self.frames = clock, frames
        self.started = clock.now
        self.blocks = [np.asarray(first)]
        self.stopped = self.finished = False

    def write(self, pcm) -> None:
        assert not self.stopped
        self.blocks.append(np.asarray(pcm))

    def finish(self) -> None:
        self.finished = True

    def stop(self) -> None:
        self.stopped_at = self.clock.now
        self.stopped = True

    def heard_frames(self, sample_rate: int) -> int:
        # As far as written: `frames` is what the session expected when it opened the segment,
        # and a script still being compiled as phrases arrive gets longer or shorter.
        now = self.stopped_at if self.stopped else self.clock.now
        return min(self.written, int((now - self.started) * sample_rate))

    @property
    def written(self) -> int:
        return sum(len(b) for b in self.blocks)

    def playing(self) -> bool:
        return not self.stopped and (not self.finished or self.heard_frames(RATE) < self.written)

    @property
    def audio(self):
        return np.concatenate(self.blocks)


class FakeSpeaker:
    output = "fake"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.segments: list[FakeSegment] = []

    def open(self, frames: int, first) -> FakeSegment:
        seg = FakeSegment(self.clock, frames, first)
        self.segments.append(seg)
        return seg

    def close(self) -> None:
        pass


class ScriptedKeys(Keys):
    """Presses each key at its time in seconds; time passes only while waiting for keys."""

    def __init__(self, clock: Clock, presses: list[tuple[float, str]]) -> None:
        self.clock = clock
        self.presses = sorted(presses)

    def read(self, timeout_s: float) -> str | None:
        self.clock.now += timeout_s
        if self.presses and self.presses[0][0] <= self.clock.now:
            return self.presses.pop(0)[1]
        return None


ROUTINE = """
title: Test
safety: Stop if it hurts.
steps:
  - exercise: Reach
    say: Reach up with both arms.
    hold: 10s
  - rest: 8s
  - exercise: Twist
    say: Sit tall and turn.
    hold: 6s
    sides: both
"""


def make(presses=(), pace: float | None = None, recompile: bool = True):
    voice = TextVoice()
    routine = parse_routine(ROUTINE, "test.yaml")
    settings = Settings(pace=pace)
    script = compile(routine, settings, voice.duration_ms)
    clock = Clock()
    speaker = FakeSpeaker(clock)

    def again(new_pace: float):
        return compile(routine, replace(settings, pace=new_pace), voice.duration_ms)

    session = Session(
        script,
        voice,
        speaker,
        keys=ScriptedKeys(clock, list(presses)),
        recompile=again if recompile else None,
    )
    return session, speaker, voice, script


def answer(voice, key=None, text=None):
    pcm = voice.pcm(text if text is not None else ANSWERS[key])
    return np.concatenate([pcm, np.zeros(samples_at(ANSWER_GAP_MS, RATE), np.float32)])


def assert_plays(segment, voice, script, from_ms, said=None):
    """The segment says `said` (an answer, or nothing) and then the session from `from_ms`."""
    audio = segment.audio
    lead = said if said is not None else np.zeros(0, np.float32)
    np.testing.assert_array_equal(audio[: len(lead)], lead)
    session = render(script, voice)[samples_at(from_ms, RATE) :]
    rest = audio[len(lead) :]
    assert len(rest) > 0
    np.testing.assert_array_equal(rest, session[: len(rest)])


def cue_at(script, ms):
    return next(c for c in script.cues if c.start_ms <= ms < c.end_ms)


def test_without_controls_the_whole_session_is_one_segment_sample_for_sample():
    session, speaker, voice, script = make()
    outcome = session.run()
    assert outcome.finished and outcome.step == len(script.chapters) - 1
    [segment] = speaker.segments
    np.testing.assert_array_equal(segment.audio, render(script, voice))


# -- a voice still speaking the routine (Piper on an empty cache) -----------------------------


class ArrivingVoice(TextVoice):
    """TextVoice whose phrases arrive as the clock goes on, each at its time in `due`, as
    Piper's do while `coach play` starts. Until then a phrase's length is only estimated
    (wrongly: 0.7 of it); a cue sounded before its phrase came fails the test, and an answer
    to a key is waited for, as SpeechVoice.pcm waits."""

    def __init__(self, clock: Clock, due: dict[str, float]) -> None:
        self.clock = clock
        self.due = due

    def _arrived(self, text: str) -> bool:
        return self.due.get(text, 0.0) <= self.clock.now

    @property
    def synthesized(self) -> int:
        return sum(1 for text in self.due if self._arrived(text))

    def waiting_for(self) -> int:
        return len(self.due) - self.synthesized

    def wait_any(self, timeout_s: float) -> None:
        self.clock.now += timeout_s

    def duration_ms(self, text: str) -> int:  # the whole length, known or not
        return round(len(super().pcm(text)) * 1000 / RATE)

    def known_ms(self, text: str) -> int | None:
        return self.duration_ms(text) if self._arrived(text) else None

    def estimate_ms(self, text: str) -> int:
        return round(self.duration_ms(text) * 0.7)

    def pcm(self, text: str):
        if text in ANSWERS.values():
            self.clock.now = max(self.clock.now, self.due.get(text, 0.0))
        assert self._arrived(text), f"{text!r} sounded at {self.clock.now:.2f} s, before it came"
        return super().pcm(text)


def speaking_ahead(
    presses=(), first_s: float = 3.0, every_s: float = 0.2, answers_s: float | None = None
):
    """A session started while ArrivingVoice still speaks the routine, as coach.pipeline's
    load_playing starts one with Piper: its phrases one by one in the order they are said,
    the first at `first_s`, then one every `every_s`, and the answers to keys right after the
    first two (or all at `answers_s`)."""
    clock = Clock()
    routine = parse_routine(ROUTINE, "test.yaml")
    asked: list[str] = []

    def noted(text: str) -> int:
        asked.append(text)
        return 1000

    compile(routine, None, noted, TextVoice().duration_ms)
    said = list(dict.fromkeys(asked))
    order = [*said[:2], *ANSWERS.values(), *said[2:]] if answers_s is None else said
    due = {text: first_s + i * every_s for i, text in enumerate(order)}
    if answers_s is not None:
        due.update(dict.fromkeys(ANSWERS.values(), answers_s))
    voice = ArrivingVoice(clock, due)

    def again(pace=None, first_words_ms=None):
        settings = Settings(pace=pace)
        return compile_ahead(
            routine, settings, voice.estimate_ms, voice.duration_ms, voice.known_ms, first_words_ms
        )

    now = again()
    speaker = FakeSpeaker(clock)
    session = Session(
        now.script,
        voice,
        speaker,
        keys=ScriptedKeys(clock, list(presses)),
        again=again,
        final_ms=now.final_ms,
    )
    complete = compile(routine, None, voice.duration_ms, voice.duration_ms)
    return session, speaker, voice, complete, again


def test_while_the_first_words_are_spoken_the_start_tone_sounds_at_once_and_they_wait():
    """Issue 13: `coach play` with Piper on an empty cache sounds its start tone at once; the
    silence after it lasts until the voice has the first words (and the two seconds after
    them, and the answers to keys), and the script is compiled with them there: every sample
    is that script's."""
    session, speaker, voice, complete, again = speaking_ahead(first_s=3.0)
    outcome = session.run()
    assert outcome.finished
    [segment] = speaker.segments
    assert segment.started == 0.0  # the start tone at once, not after the first phrase
    waited = outcome.first_words_ms
    first = next(c for c in complete.cues if c.role == "start" and c.text)
    # The words begin within a write-ahead (1 s) and a block (0.25 s) of when the last of
    # what they wait for arrived: the first two phrases, then the first keys' answers, 4 s.
    ready_ms = round(max(voice.due[ANSWERS[key]] for key in FIRST_KEYS) * 1000)
    assert ready_ms == 4000
    assert waited is not None and ready_ms <= waited <= ready_ms + 1000 + 250
    heard_as = again(None, waited).script
    np.testing.assert_array_equal(segment.audio, render(heard_as, voice))
    # That script is the complete one with everything from the first words on moved later.
    shift = waited - first.start_ms
    assert heard_as.duration_ms == complete.duration_ms + shift
    for played, planned in zip(heard_as.cues, complete.cues, strict=True):
        moved = shift if planned.start_ms >= first.start_ms else 0
        assert (played.start_ms, played.text) == (planned.start_ms + moved, planned.text)
    # Silence from the end of the start tone to the first words.
    tone_end = samples_at(heard_as.cues[0].end_ms, RATE)
    assert not np.any(segment.audio[tone_end : samples_at(waited, RATE)])


def test_first_words_that_come_in_time_are_not_moved():
    # In time: the session two seconds after the first words' start is final before the
    # write-ahead reaches them (0.25 s after the start).
    session, speaker, voice, complete, _ = speaking_ahead(first_s=0.05, every_s=0.01)
    outcome = session.run()
    assert outcome.finished and outcome.first_words_ms is None
    [segment] = speaker.segments
    np.testing.assert_array_equal(segment.audio, render(complete, voice))


def test_a_key_while_the_first_words_wait_is_answered_and_the_wait_is_kept():
    """Pausing in the silence before the first words and resuming: the answers are said at
    once, and the session goes on in the script with the first words where they waited to."""
    # The start tone's cue lasts 0.9 s: paused after it, in the silence (first words at 3 s).
    session, speaker, voice, _, again = speaking_ahead(
        [(1.1, "pause"), (1.6, "pause")], answers_s=0.0
    )
    outcome = session.run()
    assert outcome.finished and outcome.first_words_ms is not None
    paused, resumed = speaker.segments[1], speaker.segments[2]
    assert paused.started < 1.2 and resumed.started < 1.7  # both answered at once
    np.testing.assert_array_equal(paused.audio, answer(voice, "pause"))
    heard_ms = round(speaker.segments[0].heard_frames(RATE) * 1000 / RATE)
    assert 1100 <= heard_ms <= 1160
    heard_as = again(None, outcome.first_words_ms).script
    assert_plays(resumed, voice, heard_as, heard_ms, answer(voice, "resume"))


def test_pause_in_the_middle_of_a_phrase_resumes_from_the_start_of_that_phrase():
    probe, *_ = make()
    said = next(c for c in probe.script.cues if c.kind == "speech" and c.end_ms - c.start_ms > 800)
    at = (said.start_ms + 500) / 1000
    session, speaker, voice, script = make([(at, "pause"), (at + 5, "pause")])
    session.run()
    paused, resumed = speaker.segments[1], speaker.segments[2]
    np.testing.assert_array_equal(paused.audio, answer(voice, "pause"))  # then silence
    assert_plays(resumed, voice, script, said.start_ms, answer(voice, "resume"))
    assert speaker.segments[0].stopped


def test_pause_in_a_silent_hold_resumes_where_it_was():
    probe, *_ = make()
    hold = next(c for c in probe.script.cues if c.role == "hold_start")
    at_ms = hold.end_ms + 2000  # two seconds into the silent hold
    session, speaker, voice, script = make([(at_ms / 1000, "pause"), (at_ms / 1000 + 3, "pause")])
    session.run()
    resumed = speaker.segments[2]
    heard_ms = round(speaker.segments[0].heard_frames(RATE) * 1000 / RATE)
    assert abs(heard_ms - at_ms) <= 60  # a key is seen within one 50 ms tick
    assert_plays(resumed, voice, script, heard_ms, answer(voice, "resume"))


def test_next_goes_to_the_start_of_the_next_step():
    session, speaker, voice, script = make([(3.0, "next")])
    first = session.chapter_at(3000)
    session.run()
    assert_plays(
        speaker.segments[1],
        voice,
        script,
        script.chapters[first + 1].start_ms,
        answer(voice, "next"),
    )


def test_next_on_the_last_step_says_so_and_goes_on():
    probe, *_ = make()
    last = probe.script.chapters[-1]
    at = (last.start_ms + 300) / 1000
    session, speaker, voice, script = make([(at, "next")])
    outcome = session.run()
    assert outcome.finished
    assert_plays(
        speaker.segments[1],
        voice,
        script,
        cue_at(script, last.start_ms + 300).start_ms,
        answer(voice, "last"),
    )


def test_back_goes_to_the_start_of_the_step_or_the_one_before_early_in_it():
    probe, *_ = make()
    ch = probe.script.chapters[2]
    late = (ch.start_ms + 5000) / 1000
    session, speaker, voice, script = make([(late, "back")])
    session.run()
    assert_plays(speaker.segments[1], voice, script, ch.start_ms, answer(voice, "back"))

    early = (ch.start_ms + 1000) / 1000
    session, speaker, voice, script = make([(early, "back")])
    session.run()
    before = script.chapters[1].start_ms
    assert_plays(speaker.segments[1], voice, script, before, answer(voice, "back"))


def test_repeat_says_the_last_instruction_of_the_step_again_then_goes_on():
    probe, *_ = make()
    hold = next(c for c in probe.script.cues if c.role == "hold_start")
    at_ms = hold.end_ms + 1500
    session, speaker, voice, script = make([(at_ms / 1000, "repeat")])
    session.run()
    heard_ms = round(speaker.segments[0].heard_frames(RATE) * 1000 / RATE)
    said = answer(voice, text="Reach up with both arms.")
    assert_plays(speaker.segments[1], voice, script, heard_ms, said)


def test_faster_recompiles_the_rest_at_a_higher_pace_from_the_same_place_in_the_step():
    session, speaker, voice, script = make([(3.0, "faster"), (3.5, "faster")])
    outcome = session.run()
    assert session.script.settings.pace == pytest.approx(1.2)
    assert outcome.duration_ms < script.duration_ms
    faster = compile(parse_routine(ROUTINE, "test.yaml"), Settings(pace=1.2), voice.duration_ms)
    assert session.script == faster
    # The last segment starts in the same step as the press, after the spoken answer.
    last = speaker.segments[-1]
    np.testing.assert_array_equal(
        last.audio[: len(answer(voice, "faster"))], answer(voice, "faster")
    )


def test_slower_stops_at_the_slowest_pace_and_says_so():
    session, speaker, voice, _ = make([(2.0, "slower")], pace=0.25)
    session.run()
    said = speaker.segments[1].audio[: len(answer(voice, "slowest"))]
    np.testing.assert_array_equal(said, answer(voice, "slowest"))
    assert session.script.settings.pace == 0.25


def test_a_compiled_cue_script_cannot_change_pace_and_says_why():
    session, speaker, voice, script = make([(2.0, "faster")], recompile=False)
    session.run()
    said = speaker.segments[1].audio[: len(answer(voice, "fixed"))]
    np.testing.assert_array_equal(said, answer(voice, "fixed"))
    assert session.script == script


def test_quit_stops_the_sound_and_reports_the_step():
    probe, *_ = make()
    ch = probe.script.chapters[2]
    session, speaker, _, _ = make([((ch.start_ms + 2000) / 1000, "quit")])
    outcome = session.run()
    assert not outcome.finished
    assert outcome.step == 2
    assert speaker.segments[-1].stopped


def test_the_live_status_knows_the_step_the_hold_and_what_is_next():
    session, _, _, script = make()
    hold_start = next(c for c in script.cues if c.role == "hold_start")
    hold_end = next(c for c in script.cues if c.role == "hold_end")
    session._paused_at = samples_at(hold_start.start_ms + 4000, RATE)
    session.paused = True
    s = session.status()
    assert s.title == "Reach" and s.next_title == "Rest" and s.paused
    assert s.hold_left_ms == pytest.approx(hold_end.start_ms - hold_start.start_ms - 4000, abs=1)
    assert s.left_ms == pytest.approx(script.duration_ms - hold_start.start_ms - 4000, abs=1)
    twist = next(c for c in script.cues if c.side == "right")
    session._paused_at = samples_at(twist.start_ms + 10, RATE)
    assert session.status().side == "right"


def test_from_step_takes_a_number_or_a_name():
    _, _, _, script = make()
    assert start_ms(script, "2") == script.chapters[2].start_ms
    assert start_ms(script, "twist") == script.chapters[3].start_ms
    assert start_ms(script, "Tw") == script.chapters[3].start_ms
    with pytest.raises(UsageError, match="there is no step 9; steps are numbered 0 to 3"):
        start_ms(script, "9")
    with pytest.raises(UsageError, match="no step is called 'Twsit'; did you mean 'Twist'"):
        start_ms(script, "Twsit")


@pytest.mark.parametrize(
    ("typed", "controls"),
    [
        (" ", ["pause"]),
        ("n\x1b[Cp\x1b[D", ["next", "next", "back", "back"]),
        ("r+=-_qQ", ["repeat", "faster", "faster", "slower", "slower", "quit", "quit"]),
        ("N", ["next"]),
        ("x\x1b[A7", []),  # other keys and arrows do nothing
    ],
)
def test_keys_become_controls(typed, controls):
    assert parse(typed) == controls


def status(**changes):
    base = Status(
        step=3,
        steps=17,
        title="Neck tilts",
        side="left",
        next_title="Rest",
        hold_left_ms=11_200,
        left_ms=461_000,
        paused=False,
        pace=1.0,
    )
    return replace(base, **changes)


def test_the_status_line_reads_at_a_glance():
    assert status_line(status()) == "[3/16] Neck tilts, left · hold 0:12 · next: Rest · 7:41 left"
    line = status_line(status(paused=True, side=None, hold_left_ms=None, next_title=None, pace=1.2))
    assert line == "paused: [3/16] Neck tilts · 7:41 left · pace 1.2"


def test_off_a_terminal_the_view_prints_each_step_once(tmp_path):
    out = (tmp_path / "out.txt").open("w+", encoding="utf-8", newline="")
    view = LiveView(out, terminal=False)
    for s in (status(step=1, title="A"), status(step=1, title="A"), status(step=2, title="B")):
        view(s)
    view.close()
    out.seek(0)
    assert out.read() == "[1/16] A\n[2/16] B\n"


def test_on_a_terminal_the_view_redraws_one_line(tmp_path):
    out = (tmp_path / "out.txt").open("w+", encoding="utf-8", newline="")
    view = LiveView(out, terminal=True)
    view(status())
    view(status())  # nothing changed: nothing drawn
    view(status(hold_left_ms=10_000))
    view.close()
    out.seek(0)
    text = out.read()
    assert text.count("\r\x1b[K") == 2 and text.endswith("hold 0:10 · next: Rest · 7:41 left\n")


def test_positions_are_kept_per_routine_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_STATE_DIR", str(tmp_path / "state"))
    routine = tmp_path / "r.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    _, _, _, script = make()
    plain = Positions.for_routine(str(routine), Settings())
    paced = Positions.for_routine(str(routine), Settings(pace=1.2))
    assert plain.load(script) is None
    plain.save(script, 2)
    assert plain.load(script) == 2
    assert paced.load(script) is None  # other settings, another position
    # Same file named another way: the same position.
    monkeypatch.chdir(tmp_path)
    assert Positions.for_routine("./r.yaml", Settings()).load(script) == 2
    plain.clear()
    assert plain.load(script) is None


def test_a_saved_step_is_found_by_its_title_when_the_routine_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_STATE_DIR", str(tmp_path))
    _, _, _, script = make()
    saved = Positions.for_routine("upper-back-release", Settings())
    saved.save(script, 3)  # "Twist"
    shorter = replace(script, chapters=(script.chapters[0], *script.chapters[2:]))
    assert saved.load(shorter) == 2
    gone = replace(script, chapters=script.chapters[:3])
    assert saved.load(gone) is None


def test_a_damaged_positions_file_means_nothing_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_STATE_DIR", str(tmp_path))
    (tmp_path / "positions.json").write_text("{not json", encoding="utf-8")
    _, _, _, script = make()
    saved = Positions.for_routine("upper-back-release", Settings())
    assert saved.load(script) is None
    saved.save(script, 1)
    assert saved.load(script) == 1


def test_an_unwritable_state_folder_loses_the_position_not_the_session(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("COACH_STATE_DIR", str(blocker / "state"))
    _, _, _, script = make()
    saved = Positions.for_routine("upper-back-release", Settings())
    saved.save(script, 1)  # no error
    assert saved.load(script) is None


def test_a_closed_terminal_gives_no_keys_and_does_not_spin():
    import os
    import time

    from coach.play.keys import TerminalKeys

    master, slave = os.openpty()
    try:
        with TerminalKeys(slave) as keys:
            os.write(master, b"n")
            assert keys.read(1.0) == "next"
            os.close(master)
            master = None
            started, cpu = time.monotonic(), time.process_time()
            for _ in range(6):
                assert keys.read(0.05) is None
            # Six reads wait their time out instead of returning at once, over and over.
            assert time.monotonic() - started >= 0.25
            assert time.process_time() - cpu < 0.1
    finally:
        os.close(slave)
        if master is not None:
            os.close(master)
