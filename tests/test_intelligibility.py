"""Can a person understand coach? An independent listener (pocketsphinx with its bundled
US-English model, tests/listener.py) transcribes an export of a built-in routine, cut at the
cue script's times, and the word error rate is counted over the whole routine (issue 13).

Each test exports with `coach export` and times the cuts with `coach compile --json`, with the
same voice option for both, so the audio and the times are what a person gets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.listener import Hearing, SpeechCue, hear, score, speech_cues

pytestmark = pytest.mark.slow  # each export is transcribed by pocketsphinx: about a minute

ROUTINE = "upper-back-quick"  # the shortest built-in routine, about 2:43
ESPEAK = "en-us"
PIPER = "piper:en_US-joe-medium"

# espeak-ng's formant voice (`--voice en-us`) measured 0.81 on this routine (0.76 on
# upper-back-release, issue 13). The bound leaves room for a change of espeak-ng's or
# pocketsphinx's version, and fails if the harness stops hearing words (cuts at the wrong
# times, wrong sample rate or format, a silent export: all score near 1.0).
ESPEAK_WER_AT_MOST = 0.90

_heard: dict[str, tuple[tuple[SpeechCue, ...], list[str]]] = {}


def _hear(run_coach, folder: Path, voice: str) -> tuple[tuple[SpeechCue, ...], list[str]]:
    """Export ROUTINE with `voice`, and what the listener hears in each speech cue (kept for
    the module: the transcription is the slow part, and the same inputs give the same audio)."""
    if voice not in _heard:
        audio, script = folder / "routine.wav", folder / "routine.json"
        for args in (
            ("compile", ROUTINE, "--json", "-o", script),
            ("export", ROUTINE, "-o", audio, "--quiet", "--force"),
        ):
            done = run_coach(*args, "--voice", voice)
            assert done.returncode == 0, (
                f"`coach {' '.join(map(str, args))} --voice {voice}` failed "
                f"(exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
        cues = speech_cues(script)
        assert len(cues) >= 30, "upper-back-quick has some 36 speech cues"
        _heard[voice] = (cues, hear(audio, cues))
    return _heard[voice]


def _hearing(run_coach, folder: Path, voice: str) -> Hearing:
    return score(*_hear(run_coach, folder, voice))


def test_the_listener_understands_espeak_ng_only_partly_and_really_listens(run_coach, tmp_path):
    hearing = _hearing(run_coach, tmp_path, ESPEAK)
    print(f"espeak-ng ({ESPEAK}) on {ROUTINE}: {hearing.report()}")
    assert hearing.words >= 150  # the whole routine was scored, not a few cues
    assert hearing.wer <= ESPEAK_WER_AT_MOST, hearing.report()

    # The same transcripts against the wrong words (each cue paired with the text of a cue
    # half the routine away) score much worse: what is heard depends on what was said.
    # (Measured: 1.16 against 0.81.)
    cues, heard = _hear(run_coach, tmp_path, ESPEAK)
    half = len(cues) // 2
    texts = [c.text for c in cues]
    wrong = [dataclasses.replace(c, text=t) for c, t in zip(cues, texts[half:] + texts[:half])]
    mismatched = score(wrong, heard)
    assert mismatched.wer >= hearing.wer + 0.25, (
        f"the wrong reference scored {mismatched.wer:.3f}, the right one {hearing.wer:.3f}"
    )


def test_the_natural_voice_is_understood_far_better_than_espeak_ng(run_coach, tmp_path):
    """Issue 13, item 7: Piper's `en_US-joe-medium` is understood better than espeak-ng, here
    with at most half its word errors.

    The issue's target of at most 0.20 is not met yet: this listener measures 0.25-0.27 for the
    joe voice (espeak-ng en-us: 0.81), and `scripts/bench` reports it against that target.
    """
    (tmp_path / "piper").mkdir()
    piper = _hearing(run_coach, tmp_path / "piper", PIPER)
    espeak = _hearing(run_coach, tmp_path, ESPEAK)
    print(f"{PIPER} on {ROUTINE}: {piper.report()}")
    assert piper.wer <= espeak.wer / 2, f"Piper {piper.report()}\nespeak-ng {espeak.report()}"
