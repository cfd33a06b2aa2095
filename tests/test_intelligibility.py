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

_heard: dict[str, tuple[Path, tuple[SpeechCue, ...], list[str]]] = {}


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
        _heard[voice] = (audio, cues, hear(audio, cues))
    return _heard[voice][1:]


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

    The issue's target of at most 0.20 is not met: this listener measures 0.269 for the joe
    voice on this routine and 0.243 on upper-back-release (espeak-ng en-us: 0.806 and 0.814),
    and `scripts/bench` reports it against that target. What is left is the recognizer's, not
    the harness's: every reference word is in pocketsphinx's dictionary and language model, the
    cuts hold each cue's sound whole (it starts 1-15 ms after the cue and ends 6-13 ms before
    its end, inside 200 ms margins), the decoder runs the model's own feat.params, and neither
    a noise floor under the digital silence, pocketsphinx's dither, nor Piper's random noise
    changed the rate over the 1,324 words of every English built-in phrase (0.239 as coach
    speaks them; 0.24-0.25 with each). The misses are word onsets ("hold" heard as "old" 7
    times, "lie" as "why", "breathing" as "reading") and lone counts ("Two." as "him").
    """
    (tmp_path / "piper").mkdir()
    piper = _hearing(run_coach, tmp_path / "piper", PIPER)
    espeak = _hearing(run_coach, tmp_path, ESPEAK)
    print(f"{PIPER} on {ROUTINE}: {piper.report()}")
    assert piper.wer <= espeak.wer / 2, f"Piper {piper.report()}\nespeak-ng {espeak.report()}"


def test_the_listener_hears_the_words_only_where_the_cue_script_says(run_coach, tmp_path):
    """The same Piper export cut a second late, at times that are not the cues': each window
    then holds the end of its cue and the start of the next, or silence, and the rate must be
    far worse (a listener that scored the same at any cut times would not check coach's)."""
    cues, _ = _hear(run_coach, tmp_path, PIPER)
    right = _hearing(run_coach, tmp_path, PIPER)
    late = [
        dataclasses.replace(c, start_ms=c.start_ms + 1000, end_ms=c.end_ms + 1000) for c in cues
    ]
    shifted = score(cues, hear(_heard[PIPER][0], late))
    assert shifted.wer >= right.wer + 0.25, (
        f"cut a second late: {shifted.wer:.3f}, at the cue times: {right.wer:.3f}"
    )
