"""`coach play` through a real audio server: paplay, aplay, simpleaudio and PulseAudio's null sink.

conftest.py starts the server (the `audio_server` fixture); tests/audio.py records the sink's
monitor while coach plays and finds in the recording what a listener would hear: each cue of
the session (rendered here exactly as coach renders it) and each spoken answer to a control,
at its sample.

Keys are typed on a real terminal: coach runs on a pseudo-terminal (its stdin and stdout),
and keys are written to the other end. Each key is pressed at a point of the session found in
the live recording (the first sound, then the cue script's times), in the middle of a long cue
or hold, so that where coach goes on from is known to the millisecond.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import statistics
import termios
import threading
import time

import pytest
import soundfile

from coach.pipeline import load_spoken
from coach.play.session import ANSWER_GAP_MS, ANSWERS
from coach.script.compiler import compile_ahead
from coach.script.tones import TONE_MS, Tone
from coach.settings import Settings
from coach.sound.render import render, samples_at
from tests.audio import (
    CUE_WINDOW_MS,
    RATE,
    Clip,
    Recorder,
    cues_heard,
    find,
    find_clip,
    frames,
    loud,
    ms,
)

# Tests that play are marked `audio` and `slow` (they take the real time of what they play):
# without an audio server conftest.py skips them with the reason (fails them when CI=true).

ON_TIME_MS = 30  # how far a cue may be from its place
ANSWER_WITHIN_MS = 700  # how soon after a key its spoken answer must start
STOP_WITHIN_MS = 300  # how soon after Ctrl-C (or SIGTERM) the sound must be gone
OVERLAP_MS = 0  # how long an interrupted sound may go on under the answer: not at all
CLIPPED_MS = 60  # how much of the start of a stream the recording may miss
HEARD = 0.5  # a cue's similarity where it belongs, at least (absent: below 0.35)
PLACE_MS = 150  # how far coach's idea of where the ear is may be from the recording's
GAP = frames(ANSWER_GAP_MS)

ROUTINE = """\
title: Play test
steps:
  - exercise: Reach
    say: Reach up with both arms.
    hold: 6s
    transition: 1s
"""

# Short, with speech and tones of several kinds close together.
TIMING = """\
title: Timing
steps:
  - exercise: Reach
    reps: 3
    tempo: 1s
    transition: 0s
"""

# One instruction long enough to be still speaking several seconds after a signal.
TALK = """\
title: Talk
steps:
  - exercise: Listen
    say: >-
      Sit comfortably and listen while this long instruction goes on and on, without a
      single pause, so that the sound would keep going for many seconds if it were not
      stopped at once when the signal arrives, and then it ends.
    hold: 1s
    transition: 0s
"""

# Long instructions and holds, so keys land well inside a cue.
CONTROLS = """\
title: Controls
steps:
  - exercise: Reach
    say: Reach up with both arms and breathe out slowly while you stretch.
    hold: 8s
    transition: 1s
  - exercise: Twist
    say: Turn slowly to the left and keep both feet flat on the floor.
    hold: 5s
    transition: 1s
"""

# A long hold: at a faster pace the rest of it is shorter by more than the answer lasts.
PACE = """\
title: Pace
steps:
  - exercise: Stretch
    hold: 22s
    transition: 0s
"""


def write_routine(tmp_path, text: str, name: str = "routine"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def routine(tmp_path):
    return write_routine(tmp_path, ROUTINE, "play-test")


class Expected:
    """What coach should play for a routine: its cue script, voice and rendered session."""

    def __init__(self, path, settings=None, first_words_ms: int | None = None) -> None:
        self.spoken = load_spoken(str(path), settings)
        self.script = self.spoken.script
        self.voice = self.spoken.voice
        if first_words_ms is not None:  # they waited for Piper (coach.play.session)
            assert self.spoken.routine is not None
            self.script = compile_ahead(
                self.spoken.routine,
                settings,
                self.voice.duration_ms,
                self.voice.intro_durations,
                first_words_ms=first_words_ms,
            ).script
        assert self.voice.sample_rate == RATE
        self.session = render(self.script, self.voice)

    def chapter(self, title: str):
        return next(c for c in self.script.chapters if c.title == title)

    def cue(self, step: int, role: str, text: str = ""):
        """The first cue of this step and role whose text starts with `text`."""
        return next(
            c
            for c in self.script.cues
            if c.step == step and c.role == role and (c.text or "").startswith(text)
        )

    def at(self, ms_: int) -> int:
        return samples_at(ms_, RATE)


def middle(cue) -> int:
    return (cue.start_ms + cue.end_ms) // 2


class Play:
    """A running `coach play`: on a pseudo-terminal (keys work) or with stdin not a terminal."""

    def __init__(self, start_coach, *args, terminal: bool = False) -> None:
        self.terminal = terminal
        self._chunks: list[bytes] = []
        self._stopping = threading.Event()
        self.stdout = ""
        self.stderr = ""
        if terminal:
            self.master, self.slave = os.openpty()
            self.settings_before = termios.tcgetattr(self.slave)
            self.proc = start_coach("play", *args, stdin=self.slave, stdout=self.slave, text=False)
            # Read the terminal all along: a child writing to a full terminal would block.
            self._reader = threading.Thread(target=self._drain, daemon=True)
            self._reader.start()
        else:
            self.master = self.slave = None
            self.proc = start_coach("play", *args, text=False)

    def _drain(self) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self._chunks.append(os.read(self.master, 4096))
                except OSError:
                    return

    @property
    def output(self) -> str:
        """What coach wrote on the terminal so far."""
        return b"".join(self._chunks).decode("utf-8", errors="replace")

    def ended(self) -> bool:
        return self.proc.poll() is not None

    def press(self, key: str) -> float:
        """Type a key; returns when (it cannot have been read before)."""
        os.write(self.master, key.encode())
        return time.monotonic()

    def signal(self, sig: int) -> float:
        sent = time.monotonic()
        self.proc.send_signal(sig)
        return sent

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once coach has ended; its output is then in stdout/stderr/output."""
        if self.terminal:
            rc = self.proc.wait(timeout=timeout)
            self.stderr = self.proc.stderr.read().decode(errors="replace")
            self.settings_after = termios.tcgetattr(self.slave)
            time.sleep(0.1)  # the last of the terminal output
            self._stopping.set()
            self._reader.join(timeout=5)
            self.stdout = self.output
        else:
            out, err = self.proc.communicate(timeout=timeout)
            rc = self.proc.returncode
            self.stdout, self.stderr = out.decode(errors="replace"), err.decode(errors="replace")
        assert "Traceback" not in self.stderr, self.stderr
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stopping.set()
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None


@pytest.fixture
def play(start_coach):
    """Start `coach play ARGS` (terminal=True: on a pseudo-terminal); stopped after the test."""
    started: list[Play] = []

    def start(*args, terminal: bool = False) -> Play:
        p = Play(start_coach, *args, terminal=terminal)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


@pytest.fixture(scope="module")
def sink_recorder(audio_sink):
    """One recording of the sink for all tests here: parec can take seconds to start."""
    rec = Recorder(audio_sink)
    yield rec
    rec.stop()


@pytest.fixture
def recorder(sink_recorder, tmp_path):
    """The recording from the start of the test on; kept as recording.wav beside the test's
    other files, to listen to when a test fails."""
    take = sink_recorder.take()
    yield take
    soundfile.write(str(tmp_path / "recording.wav"), take.samples(), RATE, subtype="PCM_16")


def saved_positions() -> list[tuple[int, str]]:
    path = os.path.join(os.environ["COACH_STATE_DIR"], "positions.json")
    with open(path, encoding="utf-8") as f:
        return [(p["step"], p["title"]) for p in json.load(f).values()]


def assert_on_time(heard, what: str) -> None:
    assert heard, f"no cue to check {what}"
    late = [c for c in heard if c.score < HEARD or abs(c.error_ms) > ON_TIME_MS]
    assert not late, f"{what}: not heard, or off by more than {ON_TIME_MS} ms:\n" + "\n".join(
        map(str, heard)
    )


def answer(recording, pcm, pressed: int, what: str) -> Clip:
    """The spoken answer to a key pressed at recording position `pressed`: it must start
    soon after the key and be heard whole and alone (nothing mixed in). simpleaudio plays out
    what it has queued (100 ms) when it is stopped; coach lets that end before it answers, so
    the sound it interrupts is not heard under the answer."""
    said = find_clip(
        recording,
        pcm,
        pressed - frames(100),
        pressed + frames(ANSWER_WITHIN_MS),
        skip=frames(OVERLAP_MS),
    )
    assert said.whole >= 0.9, (
        f"{what!r} not heard within {ANSWER_WITHIN_MS} ms of the key: piece by piece "
        + " ".join(f"{x:.2f}" for x in said.scores)
    )
    return said


def starts_with(
    recording, expected: Expected, first: int, from_ms: int, span_ms: int, what: str
) -> int:
    """The session from `from_ms` is what is heard from the first sound on, cue by cue;
    returns where `from_ms` is in the recording. The first sound may come up to CLIPPED_MS
    after it: the recording can miss the first milliseconds of a stream that starts."""
    heard = cues_heard(
        recording, expected.session, expected.script, first, from_ms, from_ms + span_ms
    )
    assert heard, f"no cue to check {what}"
    assert expected.script.cues[heard[0].index].start_ms == from_ms, "a silent first cue?"
    lead = heard[0].error_ms
    off = [c for c in heard if c.score < HEARD or abs(c.error_ms - lead) > ON_TIME_MS]
    assert -CLIPPED_MS <= lead <= 5 and not off, (
        f"{what} is not heard from the first sound on:\n" + "\n".join(map(str, heard))
    )
    return first + frames(lead)


def goes_on(
    recording, expected: Expected, said: Clip, from_ms: int, span_ms: int, what: str
) -> None:
    """After the answer and ANSWER_GAP_MS of silence, the session from `from_ms` is heard."""
    after = said.end + GAP
    assert not len(loud(recording, said.end + frames(20), after - frames(20))), (
        f"no silence between {what!r} and the session"
    )
    heard = cues_heard(
        recording, expected.session, expected.script, after, from_ms, from_ms + span_ms
    )
    assert_on_time(heard, f"the session after {what!r}")


# -- the session as it is heard --------------------------------------------------------------


@pytest.mark.audio
@pytest.mark.slow
@pytest.mark.parametrize("output", ["paplay", "aplay"])
def test_every_cue_is_heard_at_its_time_and_the_whole_session_is_played(
    tmp_path, output, recorder, play
):
    path = write_routine(tmp_path, TIMING, "timing")
    expected = Expected(path)
    coach = play(path, "--output", output)
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    # Each cue where it should be if the session started with the first sound heard, give or
    # take a constant: the first few ms the recording can miss of a new stream.
    first = int(loud(recording)[0])
    heard = cues_heard(recording, expected.session, expected.script, first)
    assert [c.index for c in heard] == list(range(len(expected.script.cues)))
    latency = statistics.median(c.error_ms for c in heard)
    assert -CLIPPED_MS <= latency <= 0
    off = [c for c in heard if c.score < HEARD or abs(c.error_ms - latency) > ON_TIME_MS]
    assert not off, "\n".join(map(str, heard))
    # All of it, to the last sound of the finish tone, and nothing after the end.
    offset = first + frames(latency)
    last = int(loud(expected.session)[-1])
    tail = expected.session[last - frames(CUE_WINDOW_MS) : last]
    heard_tail = find(
        recording,
        tail,
        offset + last - len(tail) - frames(ON_TIME_MS),
        offset + last - len(tail) + frames(ON_TIME_MS),
    )
    assert heard_tail.score > HEARD, "the end of the session was not heard"
    end = offset + expected.at(expected.script.duration_ms)
    assert len(recording) > end
    assert not len(loud(recording, end + frames(100)))
    # stdout is not a terminal: the view prints one line as each step begins.
    assert coach.stdout == "[0/1] Introduction\n[1/1] Reach\n"


@pytest.mark.audio
@pytest.mark.slow
def test_through_simpleaudio_every_cue_is_heard_in_order_and_none_early(tmp_path, recorder, play):
    # simpleaudio's ALSA buffer is fixed at 100 ms; through PulseAudio it can run dry on a
    # busy machine, and each time that delays what follows by tens of ms (which is why the
    # players come first). So here: everything heard, in order, never early, to the end.
    path = write_routine(tmp_path, TIMING, "timing")
    expected = Expected(path)
    coach = play(path, "--output", "simpleaudio")
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()
    first = int(loud(recording)[0])
    heard = cues_heard(recording, expected.session, expected.script, first)
    assert [c.index for c in heard] == list(range(len(expected.script.cues)))
    assert all(c.score >= HEARD for c in heard), "\n".join(map(str, heard))
    lead = heard[0].error_ms
    assert -CLIPPED_MS <= lead <= 5
    early = [c for c in heard if c.error_ms < lead - ON_TIME_MS]
    assert not early, "\n".join(map(str, heard))
    late_ms = max(c.error_ms for c in heard) - lead
    last = int(loud(expected.session)[-1])
    tail = expected.session[last - frames(CUE_WINDOW_MS) : last]
    at = first + frames(lead) + last - len(tail)
    heard_tail = find(recording, tail, at - frames(ON_TIME_MS), at + frames(late_ms + ON_TIME_MS))
    assert heard_tail.score > HEARD, "the end of the session was not heard"


@pytest.mark.audio
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "output"),
    [
        (signal.SIGINT, "simpleaudio"),
        (signal.SIGINT, "paplay"),
        (signal.SIGINT, "aplay"),
        (signal.SIGTERM, None),
        (signal.SIGHUP, None),
    ],
    ids=["ctrl-c-simpleaudio", "ctrl-c-paplay", "ctrl-c-aplay", "sigterm", "sighup"],
)
def test_a_signal_stops_the_sound_at_once_and_saves_the_step(tmp_path, sig, output, recorder, play):
    path = write_routine(tmp_path, TALK, "talk")
    expected = Expected(path)
    listen = expected.chapter("Listen")
    says = expected.cue(1, "instruction")
    into_ms = 2500
    assert says.end_ms - (listen.start_ms + into_ms) > 5000  # would go on for seconds
    coach = play(path, "--from", "1", "--quiet", *(["--output", output] if output else []))
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(into_ms))
    sent = recorder.position_at(coach.signal(sig))
    assert coach.wait(timeout=10) == 130
    recording = recorder.collect()

    # Speaking right up to the signal, silent soon after. The recorder maps the signal's time
    # to the recording by when each chunk arrived; it asks the server for 20 ms chunks, which
    # keeps the sink from rendering more than that ahead, so the mapping is right to a few
    # tens of ms: well inside the bound.
    assert len(loud(recording, sent - frames(300), sent)), "nothing was playing at the signal"
    still = loud(recording, sent + frames(STOP_WITHIN_MS))
    assert not len(still), f"still sounding {ms(still[-1] - sent):.0f} ms after the signal"
    assert "stopped at step 1 (Listen)" in coach.stderr
    assert "--resume" in coach.stderr
    assert coach.stdout == ""  # --quiet: no view
    assert saved_positions() == [(1, "Listen")]


# -- controls on a terminal ------------------------------------------------------------------


@pytest.fixture
def controls(tmp_path):
    path = write_routine(tmp_path, CONTROLS, "controls")
    return path, Expected(path)


@pytest.mark.audio
@pytest.mark.slow
def test_space_pauses_then_resumes_from_the_start_of_the_cue_that_was_sounding(
    controls, recorder, play
):
    path, expected = controls
    reach = expected.chapter("Reach")
    says = expected.cue(1, "instruction")
    paused_pcm = expected.voice.pcm(ANSWERS["pause"])
    resuming_pcm = expected.voice.pcm(ANSWERS["resume"])
    coach = play(path, "--from", "1", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(middle(says) - reach.start_ms))
    paused_at = recorder.position_at(coach.press(" "))
    recorder.sleep_until(paused_at + frames(1500))
    view_while_paused = coach.output
    resumed_at = recorder.position_at(coach.press(" "))
    recorder.sleep_until(resumed_at + len(resuming_pcm) + GAP + frames(4500))
    coach.press("q")
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    before = cues_heard(
        recording, expected.session, expected.script, first, reach.start_ms, says.start_ms + 1
    )
    assert_on_time(before, "the start of the step, before the pause")
    paused = answer(recording, paused_pcm, paused_at, "Paused.")
    resumed = answer(recording, resuming_pcm, resumed_at, "Resuming.")
    assert resumed.at - paused.at > frames(1200)
    gap = loud(recording, paused.end + frames(20), resumed.at)
    assert not len(gap), f"sound during the pause, {ms(gap[0] - paused.at):.0f} ms after 'Paused.'"
    goes_on(recording, expected, resumed, says.start_ms, 4000, "Resuming.")
    assert "paused: [1/2] Reach" in view_while_paused


@pytest.mark.audio
@pytest.mark.slow
def test_n_skips_to_the_next_step(controls, recorder, play):
    path, expected = controls
    reach, twist = expected.chapter("Reach"), expected.chapter("Twist")
    says = expected.cue(1, "instruction")
    next_pcm = expected.voice.pcm(ANSWERS["next"])
    coach = play(path, "--from", "1", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(middle(says) - reach.start_ms))
    pressed = recorder.position_at(coach.press("n"))
    recorder.sleep_until(pressed + len(next_pcm) + GAP + frames(3000))
    coach.press("q")
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    said = answer(recording, next_pcm, pressed, "Next step.")
    goes_on(recording, expected, said, twist.start_ms, 2500, "Next step.")
    assert "[2/2] Twist" in coach.stdout
    assert saved_positions() == [(2, "Twist")]


@pytest.mark.audio
@pytest.mark.slow
def test_p_goes_back_to_the_start_of_the_step_and_soon_after_it_to_the_step_before(
    controls, recorder, play
):
    path, expected = controls
    intro, reach = expected.chapter("Introduction"), expected.chapter("Reach")
    hold_for = expected.cue(1, "announce", "Hold for")
    back_pcm = expected.voice.pcm(ANSWERS["back"])
    coach = play(path, "--from", "1", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    into_ms = middle(hold_for) - reach.start_ms
    assert into_ms > 3000 + 1000  # well past the 3 s in which "back" means the step before
    recorder.sleep_until(first + frames(into_ms))
    pressed = recorder.position_at(coach.press("p"))
    # 1.5 s into the step again: now "back" goes to the step before.
    again_after = len(back_pcm) + GAP + frames(1500)
    recorder.sleep_until(pressed + again_after)
    pressed_again = recorder.position_at(coach.press("p"))
    recorder.sleep_until(pressed_again + len(back_pcm) + GAP + frames(3000))
    coach.press("q")
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    said = answer(recording, back_pcm, pressed, "Going back.")
    goes_on(recording, expected, said, reach.start_ms, 1400, "Going back.")
    said_again = answer(recording, back_pcm, pressed_again, "Going back. (again)")
    goes_on(recording, expected, said_again, intro.start_ms, 2500, "Going back.")


@pytest.mark.audio
@pytest.mark.slow
def test_r_says_the_last_instruction_again_then_goes_on(controls, recorder, play):
    path, expected = controls
    reach = expected.chapter("Reach")
    says = expected.cue(1, "instruction")
    hold_for = expected.cue(1, "announce", "Hold for")  # sounding when r is pressed
    again_pcm = expected.voice.pcm(says.text)
    coach = play(path, "--from", "1", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(middle(hold_for) - reach.start_ms))
    pressed = recorder.position_at(coach.press("r"))
    recorder.sleep_until(pressed + len(again_pcm) + GAP + frames(3300))
    coach.press("q")
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    said = answer(recording, again_pcm, pressed, says.text)
    # ... then "Hold for 8 seconds." from its start, and the tone that starts the hold.
    goes_on(recording, expected, said, hold_for.start_ms, 3000, says.text)


@pytest.mark.audio
@pytest.mark.slow
def test_plus_makes_the_rest_of_the_session_faster(tmp_path, recorder, play):
    path = write_routine(tmp_path, PACE, "pace")
    old, new = Expected(path), Expected(path, Settings(pace=1.1))
    step_old, step_new = old.chapter("Stretch"), new.chapter("Stretch")
    hold_start = old.cue(1, "hold_start")
    faster_pcm = old.voice.pcm(ANSWERS["faster"])
    coach = play(path, "--from", "1", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(hold_start.start_ms + 1000 - step_old.start_ms))
    pressed = recorder.position_at(coach.press("+"))
    assert coach.wait() == 0, coach.stderr
    ended = time.monotonic()
    recording = recorder.collect()

    start = starts_with(recording, old, first, step_old.start_ms, 2500, "the step")
    said = answer(recording, faster_pcm, pressed, "Faster.")
    # coach goes on as far into the step (in proportion) as it was, in the new timing. Where
    # it was is known here to the output's latency (coach counts from when it handed the
    # samples over), so the cues after it are checked relative to each other, and to that
    # place within PLACE_MS: at pace 1 they would come over a second later.
    into = ms(pressed - start) / (step_old.end_ms - step_old.start_ms)
    from_new = step_new.start_ms + round(into * (step_new.end_ms - step_new.start_ms))
    after = said.end + GAP
    heard = cues_heard(recording, new.session, new.script, after, from_new)
    assert [c.text for c in heard][-1] == "(finish)"
    shift = statistics.median(c.error_ms for c in heard)
    assert abs(shift) < PLACE_MS, "\n".join(map(str, heard))
    off = [c for c in heard if c.score < HEARD or abs(c.error_ms - shift) > ON_TIME_MS]
    assert not off, "\n".join(map(str, heard))
    # So it ends earlier than it would have at pace 1, by what the shorter hold saves less the
    # time the answer takes.
    end_at_1 = recorder.time_at(start + old.at(old.script.duration_ms - step_old.start_ms))
    end_now = recorder.time_at(after + frames(shift) + new.at(new.script.duration_ms - from_new))
    saving = end_at_1 - end_now
    assert saving > 0.8  # the hold is long enough for this to mean something
    # coach exits once the faster session has been heard to its end (and its output closed)
    assert end_now - 0.1 < ended < end_now + 0.6
    assert "pace 1.1" in coach.stdout


@pytest.mark.audio
@pytest.mark.slow
def test_q_quits_restores_the_terminal_and_resume_starts_at_the_step(controls, recorder, play):
    path, expected = controls
    twist = expected.chapter("Twist")
    says = expected.cue(2, "instruction")
    coach = play(path, "--from", "Twist", terminal=True)
    first = recorder.wait_for_sound(ended=coach.ended)
    playing = termios.tcgetattr(coach.slave)
    recorder.sleep_until(first + frames(middle(says) - twist.start_ms))
    coach.press("q")
    assert coach.wait(timeout=10) == 0, coach.stderr
    quit_at = recorder.frames

    # Keys were read one by one without echo while playing, and the terminal is as it was.
    assert not playing[3] & (termios.ICANON | termios.ECHO)
    assert coach.settings_before[3] & termios.ICANON
    assert coach.settings_after == coach.settings_before
    assert "stopped at step 2 (Twist)" in coach.stdout
    assert saved_positions() == [(2, "Twist")]

    again = play(path, "--resume")
    resumed = recorder.wait_for_sound(after=quit_at, ended=again.ended)
    recorder.sleep_until(resumed + frames(2500))
    again.signal(signal.SIGINT)
    assert again.wait(timeout=10) == 130
    recording = recorder.collect()
    starts_with(recording, expected, resumed, twist.start_ms, 2500, "the resumed step")
    assert again.stdout.splitlines()[0] == "[2/2] Twist"


@pytest.mark.audio
@pytest.mark.slow
@pytest.mark.parametrize("step", ["2", "twist"])
def test_from_starts_at_the_step_given_by_number_or_name(controls, step, recorder, play):
    path, expected = controls
    twist = expected.chapter("Twist")
    coach = play(path, "--from", step)
    first = recorder.wait_for_sound(ended=coach.ended)
    recorder.sleep_until(first + frames(2000))
    coach.signal(signal.SIGINT)
    assert coach.wait(timeout=10) == 130
    recording = recorder.collect()
    starts_with(recording, expected, first, twist.start_ms, 1500, f"--from {step}")
    assert coach.stdout == "[2/2] Twist\n"


# -- no audio output -------------------------------------------------------------------------


def test_no_audio_output_is_an_environment_error_that_suggests_export(routine, run_coach):
    env = {
        **os.environ,
        "PULSE_SERVER": "unix:/nonexistent/socket",
        "PATH": "/nonexistent",
        "ALSA_CONFIG_PATH": "/nonexistent",
    }
    proc = run_coach("play", str(routine), "--output", "paplay", env=env, timeout=60)
    assert proc.returncode == 1
    assert "no audio output could be opened" in proc.stderr
    assert "coach export" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- Piper on an empty phrase cache: playing while the rest is spoken -------------------------

# Enough different phrases that Piper is still speaking them when the first sound is heard.
AHEAD = """\
title: Speaking ahead
safety:
  - Stop at once if anything hurts, and breathe normally throughout.
steps:
  - exercise: Neck tilt
    say:
      - Sit tall on the front of your chair and let both shoulders drop.
      - Tilt your head slowly toward your right shoulder until you feel a gentle stretch.
    hold: 6s
    transition: 0s
  - rest: 4s
    say: Shake your arms loosely while you rest.
  - exercise: Shoulder rolls
    say: Roll both shoulders up, back and down in big slow circles.
    reps: 3
    tempo: 2s
    count: true
    transition: 0s
"""


# More phrases still: the first words wait for the answers to keys as well (coach.play.session),
# and Piper must still be speaking the routine when a key is pressed in them.
AHEAD_LONGER = (
    AHEAD
    + """\
  - exercise: Chest opener
    say:
      - Clasp your hands loosely behind your back, palms facing each other.
      - Draw your shoulder blades gently together and lift your chest toward the ceiling.
      - Keep your chin level and your neck long, without pushing your head forward.
      - If your hands do not meet, hold a towel between them instead.
    hold: 8s
  - exercise: Seated side bend
    say:
      - Sit with your feet flat and hip width apart, and reach your right arm overhead.
      - Lean slowly to the left, keeping both sitting bones heavy on the chair.
      - Breathe into the right side of your ribs, then come back up to the centre.
      - Let your left hand rest on the chair beside you for support.
    hold: 8s
    sides: both
"""
)


@pytest.mark.audio
@pytest.mark.slow
def test_piper_on_an_empty_cache_plays_at_once_and_every_cue_lands_on_its_sample(
    tmp_path, monkeypatch, recorder, play
):
    """Issue 13: `coach play` does not wait for Piper to speak the routine. It sounds the
    start tone at once, while a thread and worker processes speak the phrases in the order
    they are said; the silence after the tone lasts until the first words are ready; the
    session is written only as far as the cue script is final, and the rest is compiled as
    phrases arrive: the routine is heard exactly as the complete script has it (with the first
    words where they waited to), from the first sound to the last."""
    cache = tmp_path / "phrases"
    monkeypatch.setenv("COACH_CACHE_DIR", str(cache))
    monkeypatch.setenv("COACH_VOICE", "")  # the default: Piper's voice for English
    path = write_routine(tmp_path, AHEAD, "ahead")
    coach = play(path, "--verbose")

    # When the first sound is heard, Piper has not spoken the routine yet.
    first_heard = recorder.wait_for_sound(0, 60, coach.ended)
    spoken_by_then = len(list(cache.glob("*/*.npy")))
    assert coach.wait(120) == 0, coach.stderr
    spoken = len(list(cache.glob("*/*.npy")))
    assert spoken >= 15 and spoken_by_then < spoken // 2, (spoken_by_then, spoken)
    assert f"speaking {spoken} new phrases with piper:" in coach.stderr, coach.stderr

    # The complete script (every phrase cached now) is what was heard, cue by cue, with the
    # first words where coach says they waited to (if they waited).
    waited = re.search(r"the first words waited for piper:\S+ until (\d+) ms", coach.stderr)
    expected = Expected(path, first_words_ms=int(waited[1]) if waited else None)
    assert expected.voice.label.startswith("piper:")
    recording = recorder.collect()
    first = int(loud(recording)[0])
    assert abs(first - first_heard) < frames(100)
    heard = cues_heard(recording, expected.session, expected.script, first)
    found = {c.index for c in heard}
    speech = [i for i, c in enumerate(expected.script.cues) if c.kind == "speech"]
    assert set(speech) <= found and len(found) >= 0.9 * len(expected.script.cues)
    latency = statistics.median(c.error_ms for c in heard)
    assert -CLIPPED_MS <= latency <= 0, "\n".join(map(str, heard))
    off = [c for c in heard if c.score < HEARD or abs(c.error_ms - latency) > ON_TIME_MS]
    assert not off, "\n".join(map(str, heard))
    end = first + frames(latency) + expected.at(expected.script.duration_ms)
    assert len(recording) > end and not len(loud(recording, end + frames(100)))


@pytest.mark.audio
@pytest.mark.slow
def test_with_piper_speaking_ahead_a_key_is_answered_at_once_and_next_goes_to_the_step(
    tmp_path, monkeypatch, recorder, play
):
    """Keys work while Piper is still speaking the routine: `n` in the introduction is
    answered at once ("Next step.") and the next step is heard from its start, on time."""
    cache = tmp_path / "phrases"
    monkeypatch.setenv("COACH_CACHE_DIR", str(cache))
    monkeypatch.setenv("COACH_VOICE", "")
    path = write_routine(tmp_path, AHEAD_LONGER, "ahead")
    coach = play(path, terminal=True)
    tone = recorder.wait_for_sound(ended=coach.ended)  # the start tone, at once
    after_tone = tone + frames(TONE_MS[Tone.START] + 50)
    first = recorder.wait_for_sound(after_tone, 60, coach.ended)  # the first words
    recorder.sleep_until(first + frames(500))  # in the introduction's first words
    spoken_by_then = len(list(cache.glob("*/*.npy")))
    pressed = recorder.position_at(coach.press("n"))
    recorder.sleep_until(pressed + frames(6000))
    coach.press("q")
    assert coach.wait(60) == 0, coach.stderr
    recording = recorder.collect()

    expected = Expected(path)
    # Still speaking then: the first words waited only for the first phrases and the first
    # keys' answers (measured on a quiet machine: 25 of 43 spoken 1 s into them).
    assert spoken_by_then <= len(list(cache.glob("*/*.npy"))) - 10
    tilt = expected.chapter("Neck tilt")
    said = answer(recording, expected.voice.pcm(ANSWERS["next"]), pressed, "Next step.")
    # The step goes on once Piper has spoken the way to it: after the answer's pause, or a
    # little later (silence meanwhile), then every cue on time from the step's start.
    start = expected.at(tilt.start_ms)
    template = expected.session[start : start + frames(CUE_WINDOW_MS)]
    found = find(recording, template, said.end + GAP - frames(20), said.end + frames(5000))
    assert found.score > HEARD, "the next step was not heard after 'Next step.'"
    assert not len(loud(recording, said.end + frames(20), found.at - frames(20)))
    heard = cues_heard(
        recording, expected.session, expected.script, found.at, tilt.start_ms, tilt.start_ms + 3000
    )
    assert_on_time(heard, "the step after 'Next step.'")
