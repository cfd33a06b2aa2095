"""`coach play` through a real audio server: simpleaudio, ALSA, PulseAudio and its null sink.

`scripts/test` starts the server; the sink's monitor is recorded with parecord while coach
plays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile

from coach.library import load_spoken
from tests.conftest import coach_command

SINK = os.environ.get("COACH_TEST_SINK")
REASON = os.environ.get("COACH_NO_AUDIO_SERVER_REASON", "no audio server: run scripts/test")
needs_server = pytest.mark.skipif(not SINK, reason=REASON)
RATE = 22_050

ROUTINE = """\
title: Play test
steps:
  - exercise: Reach
    say: Reach up with both arms.
    hold: 6s
    transition: 1s
"""


@pytest.fixture
def routine(tmp_path):
    path = tmp_path / "play-test.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    return path


class Recorder:
    def __init__(self, path):
        self.path = path
        self.proc = subprocess.Popen(
            ["parecord", f"--device={SINK}.monitor", f"--rate={RATE}", "--channels=1",
             "--format=s16le", "--file-format=wav", str(path)],
            stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(0.5)

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        data, rate = soundfile.read(str(self.path), dtype="float32")
        assert rate == RATE
        return data


@needs_server
def test_the_whole_session_is_played_through_the_server(routine, tmp_path):
    spoken = load_spoken(str(routine))
    rec = Recorder(tmp_path / "rec.wav")
    proc = subprocess.run([*coach_command(), "play", str(routine)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    recording = rec.stop()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    heard = np.flatnonzero(np.abs(recording) > 0.01)
    assert len(heard)
    seconds = (heard[-1] - heard[0]) / RATE
    # from the start tone to the end of the finish tone, give or take the server's buffering
    assert abs(seconds - spoken.script.duration_ms / 1000) < 1.5


@needs_server
def test_ctrl_c_stops_playing_with_exit_130(routine):
    proc = subprocess.Popen([*coach_command(), "play", str(routine), "--output", "paplay"],
                            stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert b"Traceback" not in proc.stderr.read()


@needs_server
def test_sigterm_stops_the_sound_too(routine):
    proc = subprocess.Popen([*coach_command(), "play", str(routine)], stderr=subprocess.PIPE)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 130


def test_no_audio_output_is_an_environment_error_that_suggests_export(routine):
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/socket", "PATH": "/nonexistent",
           "ALSA_CONFIG_PATH": "/nonexistent"}  # fmt: skip
    exe = coach_command()
    proc = subprocess.run([*exe, "play", str(routine), "--output", "paplay"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert "no audio output could be opened" in proc.stderr
    assert "coach export" in proc.stderr
    assert "Traceback" not in proc.stderr
