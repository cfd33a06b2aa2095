"""Pronunciation fixes at speech time: the pure respelling, and the voice that applies it before
its phrase cache (so the cache keys what is said, and measured lengths fit it)."""

from __future__ import annotations

import numpy as np
import pytest

from coach.sound.pronounce import respell
from coach.sound.voice import SpeechVoice, VoiceChoice

SPINAE = (("spinae", "spy nee"), ("use", "yooz"))


# -- the pure function -----------------------------------------------------------------------


def test_nothing_to_respell_leaves_the_text_as_it_is():
    assert respell("Use a tennis ball.", ()) == "Use a tennis ball."
    assert respell("Hold for 20 seconds.", SPINAE) == "Hold for 20 seconds."


def test_whole_words_only():
    assert respell("use user reuse used misuse", SPINAE) == "yooz user reuse used misuse"


def test_case_is_ignored_and_the_respelling_is_put_in_as_written():
    assert respell("Use, USE, uSe.", SPINAE) == "yooz, yooz, yooz."
    assert respell("use", (("USE", "Yooz"),)) == "Yooz"


def test_punctuation_next_to_a_word_stays_and_ends_the_word():
    text = '(use) use. use, use; use: use! use? "use" use\'s use-case erector-spinae'
    assert respell(text, SPINAE) == (
        '(yooz) yooz. yooz, yooz; yooz: yooz! yooz? "yooz" yooz\'s yooz-case erector-spy nee'
    )


def test_letters_of_other_scripts_and_digits_belong_to_the_word():
    assert respell("useé use2 use_ 2use", SPINAE) == "useé use2 use_ 2use"
    assert respell("Straße", (("straße", "strasse"),)) == "strasse"


def test_a_longer_phrase_wins_over_a_word_inside_it_whatever_the_order():
    for pronounce in (
        (("spinae", "spy nee"), ("erector spinae", "back muscles")),
        (("erector spinae", "back muscles"), ("spinae", "spy nee")),
    ):
        assert respell("The erector spinae, not spinae.", pronounce) == (
            "The back muscles, not spy nee."
        )


def test_a_phrase_matches_across_any_run_of_spaces():
    pronounce = (("erector spinae", "e-rector spy nee"),)
    assert respell("Erector \n  SPINAE", pronounce) == "e-rector spy nee"


def test_a_respelling_is_never_respelt_again():
    pronounce = (("use", "yooz you"), ("you", "yoo"))
    assert respell("use you", pronounce) == "yooz you yoo"


def test_special_characters_in_a_key_are_literal():
    assert respell("cat-cow catxcow child's", (("cat-cow", "cat cow"), ("child's", "chyld's"))) == (
        "cat cow catxcow chyld's"
    )


# -- the voice: respelt before the cache --------------------------------------------------------


class _CountingVoice(SpeechVoice):
    """SpeechVoice with a stand-in engine: the phrase's length is its text's length."""

    def __init__(self, folder, pronounce=()):
        super().__init__(VoiceChoice(None, "en", 165), folder, pronounce)
        self.made: list[str] = []

    def identity(self) -> dict:
        return {"engine": "counting"}

    def _make(self, text: str) -> np.ndarray:
        self.made.append(text)
        self.synthesized += 1
        return np.full(len(text) * 100, 0.1, dtype=np.float32)


def test_the_voice_speaks_and_measures_the_respelt_text(tmp_path):
    voice = _CountingVoice(tmp_path, SPINAE)
    assert voice.duration_ms("Use it.") == round(len("yooz it.") * 100 * 1000 / 22_050)
    voice.pcm("Use it.")
    voice.pcm("use it.")  # another written text, the same spoken one: made once
    assert voice.made == ["yooz it."]


def test_a_phrase_without_a_fix_is_shared_with_routines_without_pronounce(tmp_path):
    plain = _CountingVoice(tmp_path)
    plain.pcm("Hold for 20 seconds.")
    fixed = _CountingVoice(tmp_path, SPINAE)
    fixed.pcm("Hold for 20 seconds.")
    assert fixed.made == []  # from the disk cache, made by the voice without pronounce
    fixed.pcm("Use a ball.")
    assert fixed.made == ["yooz a ball."]


@pytest.mark.parametrize("text", ["Use a tennis ball.", "Relax the erector spinae."])
def test_espeak_says_the_respelling(tmp_path, text):
    """Through the real engine: what is said with the fix is the respelling, sample for sample,
    and differs from the written word."""
    choice = VoiceChoice(None, "en", 165)
    fixed = SpeechVoice(choice, tmp_path, SPINAE).pcm(text)
    plain = SpeechVoice(choice, tmp_path).pcm(text)
    assert np.array_equal(fixed, SpeechVoice(choice, tmp_path).pcm(respell(text, SPINAE)))
    assert not np.array_equal(fixed, plain)
