"""The listener's own rules (tests/listener.py): how words are normalized, where cues are cut,
and how the word error rate is counted. Its real use is tests/test_intelligibility.py."""

from __future__ import annotations

import itertools

import pytest

from tests.listener import SpeechCue, score, speech_cues, spoken_words, windows


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hold for 30 seconds.", "hold for thirty seconds"),
        ("Breathe 4-7-8.", "breathe four seven eight"),
        ("2.", "two"),
        ("Set 2 of 3.", "set two of three"),
        ("Next up: Seated twist.", "next up seated twist"),
        ("Don’t force it — ease off.", "don't force it ease off"),
        ("About 1.5 minutes, 21 reps", "about one point five minutes twenty one reps"),
        ("the 1st of 1,000", "the first of one thousand"),
        ("Warm-up & 10–15 reps", "warm up and ten fifteen reps"),
        # one word in either spelling: the routines are British, the listener's model is US
        ("Come back to the centre.", "come back to the center"),
        ("Back to the center, grey mat", "back to the center gray mat"),
        # what pocketsphinx writes: alternative pronunciations and fillers
        ("<s> the(2) [NOISE] end <sil> </s>", "the end"),
    ],
)
def test_words_are_compared_as_they_are_said(text, words):
    assert " ".join(spoken_words(text)) == words


def test_a_cue_is_cut_with_a_margin_that_never_reaches_the_next_speech_cue():
    cues = [SpeechCue(1000, 2000, "a"), SpeechCue(2100, 3000, "b"), SpeechCue(9000, 9500, "c")]
    assert windows(cues, margin_ms=200) == [(800, 2100), (2000, 3200), (8800, 9700)]
    assert windows([SpeechCue(50, 500, "a")], margin_ms=200) == [(0, 700)]


def test_the_error_rate_is_counted_over_the_whole_routine():
    cues = [SpeechCue(0, 1000, "Hold for 30 seconds."), SpeechCue(2000, 2500, "Two.")]
    hearing = score(cues, ["hold for thirty second", "to"])
    assert [c.edits for c in hearing.cues] == [1, 1]
    # 2 edits over 5 words, not the mean of the cues' rates (0.25 and 1.0)
    assert hearing.wer == pytest.approx(2 / 5)
    assert hearing.worst(1)[0].cue.text == "Two."
    assert "said: 'two'  heard: 'to'" in hearing.report()
    # an insertion counts, and an empty transcript deletes every word
    assert score(cues, ["", "two and"]).edits == 4 + 1


def test_speech_cues_come_from_the_json_form_or_the_library(tmp_path):
    from coach.routine.library import find, shown_path
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from coach.script.cues import dumps
    from tests.support import fake_durations

    source = find("upper-back-quick")
    script = compile(load_routine(source.path, shown_path(source)), None, fake_durations)
    path = tmp_path / "script.json"
    path.write_text(dumps(script), encoding="utf-8")
    from_json = speech_cues(path)
    assert from_json == speech_cues(script)
    assert len(from_json) == len(script.speech()) > 10
    assert all(a.end_ms <= b.start_ms for a, b in itertools.pairwise(from_json))
