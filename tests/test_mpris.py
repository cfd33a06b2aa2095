"""Media keys through the real thing: a private session bus (conftest's `session_bus`), playerctl
sending the commands a media key or a headset button would, and the test audio server's
recording saying what was heard.

A remote command must do what its key does, answer as the key does, and never make the sound
wait: `pause` silences the session within 300 ms (the answer "Paused." replaces it), `play`
goes on from where it stopped, `next` starts the next step, the metadata follows the step, and
a bus that dies mid-session leaves the session playing to its end.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from coach.history.store import History
from coach.play.session import ANSWERS
from tests import test_play
from tests.audio import cues_heard, find_clip, frames, loud, ms
from tests.test_play import (
    CLIPPED_MS,
    GAP,
    HEARD,
    ON_TIME_MS,
    TIMING,
    answer,
    goes_on,
    middle,
    write_routine,
)

# test_play's fixtures, here by the same names: the running `coach play`, the recording, and
# the routine with long instructions that commands land in the middle of.
play = test_play.play
recorder = test_play.recorder
sink_recorder = test_play.sink_recorder
controls = test_play.controls

SILENT_WITHIN_MS = 300  # from the command sent to the session's sound gone


def wait_for_player(bus, name: str = "coach", timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if name in bus.playerctl("-l").stdout.split():
            return
        time.sleep(0.05)
    raise AssertionError(f"no player {name!r} on the bus: {bus.playerctl('-l').stdout!r}")


def send(bus, recorder, command: str) -> int:
    """playerctl COMMAND, as a media key sends it; returns where in the recording it was sent
    (before playerctl started: its start-up counts against coach)."""
    sent = recorder.position_at(time.monotonic())
    done = bus.playerctl("-p", "coach", command)
    assert done.returncode == 0, done.stderr
    return sent


def get_property(bus, name: str) -> str:
    done = subprocess.run(
        [
            "dbus-send",
            "--print-reply=literal",
            f"--bus={bus.address}",
            "--dest=org.mpris.MediaPlayer2.coach",
            "/org/mpris/MediaPlayer2",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.mpris.MediaPlayer2.Player",
            f"string:{name}",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.audio
@pytest.mark.slow
def test_pause_silences_within_300_ms_and_play_resumes_where_it_stopped(
    controls, recorder, play, session_bus
):
    path, expected = controls
    reach = expected.chapter("Reach")
    says = expected.cue(1, "instruction")
    paused_pcm = expected.voice.pcm(ANSWERS["pause"])
    resuming_pcm = expected.voice.pcm(ANSWERS["resume"])
    coach = play(path, "--from", "1")  # no terminal: the bus is the only way to control it
    first = recorder.wait_for_sound(ended=coach.ended)
    wait_for_player(session_bus)
    assert session_bus.playerctl("-p", "coach", "status").stdout == "Playing\n"
    recorder.sleep_until(first + frames(middle(says) - reach.start_ms))
    paused_at = send(session_bus, recorder, "pause")
    recorder.sleep_until(paused_at + frames(2000))
    status_paused = session_bus.playerctl("-p", "coach", "status").stdout
    resumed_at = send(session_bus, recorder, "play")
    recorder.sleep_until(resumed_at + len(resuming_pcm) + GAP + frames(4500))
    send(session_bus, recorder, "stop")  # as q: stop and remember
    assert coach.wait() == 0, coach.stderr
    recording = recorder.collect()

    # The session's sound, up to the command; then "Paused." in its place within 300 ms,
    # heard whole and alone, and silence until "play".
    assert len(loud(recording, paused_at - frames(300), paused_at)), "nothing was playing"
    paused = find_clip(
        recording, paused_pcm, paused_at - frames(100), paused_at + frames(SILENT_WITHIN_MS)
    )
    assert paused.whole >= 0.9, "'Paused.' not heard: " + " ".join(
        f"{x:.2f}" for x in paused.scores
    )
    latency_ms = ms(paused.at - paused_at)
    print(f"\npause: the session's sound replaced {latency_ms:.0f} ms after playerctl started")
    assert latency_ms <= SILENT_WITHIN_MS
    resumed = answer(recording, resuming_pcm, resumed_at, "Resuming.")
    gap = loud(recording, paused.end + frames(20), resumed.at)
    assert not len(gap), f"sound during the pause, {ms(gap[0] - paused.at):.0f} ms after 'Paused.'"
    print(f"play: 'Resuming.' {ms(resumed.at - resumed_at):.0f} ms after playerctl started")
    goes_on(recording, expected, resumed, says.start_ms, 4000, "Resuming.")
    assert status_paused == "Paused\n"

    # The history has it, with the pause left out of the time played.
    (session,) = History().sessions()
    assert (session.ended, session.finished, session.step) == ("quit", False, 1)
    # Playing: from the first sound to the command, and from the next command to the last
    # sound; "Paused." is said once paused, "Resuming." once playing.
    last = int(loud(recording)[-1])
    playing_ms = ms(paused_at - first) + ms(last - resumed_at)
    assert abs(session.played_ms - playing_ms) < 400, (session.played_ms, playing_ms)


@pytest.mark.audio
@pytest.mark.slow
def test_next_starts_the_next_step_and_the_metadata_follows_it(
    controls, recorder, play, session_bus
):
    path, expected = controls
    reach, twist = expected.chapter("Reach"), expected.chapter("Twist")
    says = expected.cue(1, "instruction")
    next_pcm = expected.voice.pcm(ANSWERS["next"])
    coach = play(path, "--from", "1")
    first = recorder.wait_for_sound(ended=coach.ended)
    wait_for_player(session_bus)
    # Follows PropertiesChanged, as a desktop's media widget does.
    follow = subprocess.Popen(
        ["playerctl", "-p", "coach", "--follow", "metadata", "--format",
         "{{xesam:title}}|{{mpris:trackid}}|{{mpris:length}}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": session_bus.address},
    )  # fmt: skip
    try:
        shown = session_bus.playerctl("-p", "coach", "metadata").stdout
        can_go_next = get_property(session_bus, "CanGoNext")
        recorder.sleep_until(first + frames(middle(says) - reach.start_ms))
        pressed = send(session_bus, recorder, "next")
        recorder.sleep_until(pressed + len(next_pcm) + GAP + frames(3000))
        shown_after = session_bus.playerctl("-p", "coach", "metadata").stdout
        can_go_next_after = get_property(session_bus, "CanGoNext")
        position_s = float(session_bus.playerctl("-p", "coach", "position").stdout)
        send(session_bus, recorder, "stop")
        assert coach.wait() == 0, coach.stderr
    finally:
        follow.terminate()
    followed = [line for line in follow.communicate(timeout=10)[0].splitlines() if line]
    recording = recorder.collect()

    said = answer(recording, next_pcm, pressed, "Next step.")
    goes_on(recording, expected, said, twist.start_ms, 2500, "Next step.")
    fields = dict(line.split(None, 2)[1:] for line in shown.splitlines())
    assert fields == {
        "mpris:trackid": "'/coach/step/1'",
        "mpris:length": str((reach.end_ms - reach.start_ms) * 1000),
        "xesam:title": "Reach",
        "xesam:album": "Controls",
        "xesam:artist": "coach",
        "xesam:trackNumber": "1",
    }
    after = dict(line.split(None, 2)[1:] for line in shown_after.splitlines())
    assert (after["xesam:title"], after["mpris:trackid"]) == ("Twist", "'/coach/step/2'")
    assert (can_go_next, can_go_next_after) == (
        "variant       boolean true",
        "variant       boolean false",
    )
    # 3 s after the answer: the position counts within the step.
    assert 2.5 < position_s < 4.5, position_s
    assert followed == [
        f"Reach|'/coach/step/1'|{(reach.end_ms - reach.start_ms) * 1000}",
        f"Twist|'/coach/step/2'|{(twist.end_ms - twist.start_ms) * 1000}",
    ]


@pytest.mark.audio
@pytest.mark.slow
def test_the_bus_dying_mid_session_leaves_the_session_playing_to_its_end(
    controls, recorder, play, session_bus
):
    path, expected = controls
    reach = expected.chapter("Reach")
    coach = play(path, "--from", "1", "--verbose")
    first = recorder.wait_for_sound(ended=coach.ended)
    wait_for_player(session_bus)
    recorder.sleep_until(first + frames(2000))
    session_bus.kill()
    assert coach.wait(timeout=60) == 0, coach.stderr
    recording = recorder.collect()

    # Every cue from the start of the step to the end, at its time, before and after the kill.
    heard = cues_heard(recording, expected.session, expected.script, first, reach.start_ms)
    assert expected.script.cues[heard[0].index].start_ms == reach.start_ms
    assert heard[-1].text == "(finish)"
    lead = heard[0].error_ms
    assert -CLIPPED_MS <= lead <= 5
    off = [c for c in heard if c.score < HEARD or abs(c.error_ms - lead) > ON_TIME_MS]
    assert not off, "\n".join(map(str, heard))
    # One line for --verbose, nothing else about it.
    said = [line for line in coach.stderr.splitlines() if "media keys" in line or "bus" in line]
    assert said == [
        "media keys: on the session bus as org.mpris.MediaPlayer2.coach (playerctl -p coach)",
        "media keys: the session bus went away; playback goes on without them",
    ]
    (session,) = History().sessions()
    assert (session.ended, session.finished) == ("finished", True)


@pytest.mark.audio
@pytest.mark.slow
def test_without_a_session_bus_nothing_is_said_but_one_line_in_verbose(tmp_path, run_coach):
    path = write_routine(tmp_path, TIMING, "timing")
    quiet = run_coach("play", path, "--from", "1", timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert "bus" not in quiet.stderr and "media keys" not in quiet.stderr, quiet.stderr
    told = run_coach("play", path, "--from", "1", "--verbose", timeout=120)
    assert told.returncode == 0, told.stderr
    said = [line for line in told.stderr.splitlines() if "media keys" in line]
    assert said == [
        "media keys: no session bus (DBUS_SESSION_BUS_ADDRESS is not set and "
        "$XDG_RUNTIME_DIR/bus does not exist); only the keyboard controls coach"
    ]
    assert [s.ended for s in History().sessions()] == ["finished", "finished"]


@pytest.mark.audio
@pytest.mark.slow
def test_two_sessions_at_once_get_two_names_and_are_both_recorded(tmp_path, play, session_bus):
    path = write_routine(tmp_path, TIMING, "timing")
    one = play(path, "--from", "1", "--quiet")
    wait_for_player(session_bus)
    two = play(path, "--from", "1", "--quiet")
    names = set()
    deadline = time.monotonic() + 10
    while len(names) < 2 and time.monotonic() < deadline:
        names = set(session_bus.playerctl("-l").stdout.split())
    assert names == {"coach", f"coach.instance{two.proc.pid}"}
    assert one.wait() == 0 and two.wait() == 0
    sessions = History().sessions()
    assert [(s.routine, s.ended) for s in sessions] == [("timing", "finished")] * 2


@pytest.mark.audio
@pytest.mark.slow
def test_a_remote_quit_stops_like_q_and_saves_the_step(controls, recorder, play, session_bus):
    path, _ = controls
    coach = play(path, "--from", "2")
    recorder.wait_for_sound(ended=coach.ended)
    wait_for_player(session_bus)
    time.sleep(1)
    stopped = subprocess.run(
        ["dbus-send", "--print-reply", f"--bus={session_bus.address}",
         "--dest=org.mpris.MediaPlayer2.coach", "/org/mpris/MediaPlayer2",
         "org.mpris.MediaPlayer2.Quit"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert coach.wait(timeout=10) == 0
    assert "stopped at step 2 (Twist)" in coach.stderr
