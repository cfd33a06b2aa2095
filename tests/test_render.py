"""Rendering a cue script to PCM: every clip at its exact sample, with a stand-in voice."""

from __future__ import annotations

import numpy as np
import pytest

from coach.routine.parser import parse_routine
from coach.script.compiler import compile
from coach.sound.render import Layout, Mixer, render, render_blocks, samples_at, total_samples
from coach.sound.tones import tone_pcm

RATE = 22_050


class ClickVoice:
    """Each phrase is a burst whose first sample is 1.0, so its onset can be found exactly."""

    sample_rate = RATE

    def pcm(self, text: str):
        n = 20 * len(text) + 200
        out = np.full(n, 0.01, dtype=np.float32)
        out[0] = 1.0
        return out

    def duration_ms(self, text: str) -> int:
        return round(len(self.pcm(text)) * 1000 / RATE)


ROUTINE = """
title: R
safety: Stop if it hurts.
steps:
  - exercise: Twist
    say: Sit tall.
    hold: 12s
    sides: both
  - rest: 10s
  - breathe: box
    cycles: 1
"""


@pytest.fixture(scope="module")
def script():
    voice = ClickVoice()
    return compile(parse_routine(ROUTINE, "r.yaml"), None, voice.duration_ms)


def test_the_buffer_lasts_exactly_the_script(script):
    pcm = render(script, ClickVoice())
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert len(pcm) == total_samples(script, RATE) == samples_at(script.duration_ms, RATE)


def test_every_speech_clip_starts_at_its_cue_sample(script):
    pcm = render(script, ClickVoice())
    onsets = np.flatnonzero(pcm >= 0.99)
    starts = [samples_at(c.start_ms, RATE) for c in script.cues if c.kind == "speech"]
    assert set(starts) <= set(onsets.tolist())


def test_a_tone_is_placed_sample_for_sample(script):
    pcm = render(script, ClickVoice())
    cue = next(c for c in script.cues if c.tone == "hold_start")
    start = samples_at(cue.start_ms, RATE)
    tone = tone_pcm("hold_start", RATE)
    window = pcm[start : start + len(tone)]
    overlapping = [
        c
        for c in script.cues
        if c is not cue and c.start_ms < cue.end_ms and c.end_ms > cue.start_ms
    ]
    assert not overlapping  # the first hold of "Twist" starts in silence
    assert np.allclose(window, tone, atol=1e-7)
    assert not pcm[start - 50 : start].any()


def test_blocks_join_into_the_whole_and_rendering_is_deterministic(script):
    whole = render(script, ClickVoice())
    small = np.concatenate(list(render_blocks(script, ClickVoice(), block_s=1)))
    assert np.array_equal(whole, small)
    assert np.array_equal(whole, render(script, ClickVoice()))


def test_stereo_pans_each_side_toward_its_ear(script):
    pcm = render(script, ClickVoice(), Layout(RATE, channels=2))
    assert pcm.shape == (total_samples(script, RATE), 2)
    for side, louder in (("left", 0), ("right", 1)):
        cue = next(c for c in script.cues if c.side == side and c.kind == "speech")
        s = samples_at(cue.start_ms, RATE)
        assert pcm[s, louder] > 1.5 * pcm[s, 1 - louder]
    centred = next(c for c in script.cues if c.side is None and c.kind == "speech")
    s = samples_at(centred.start_ms, RATE)
    assert pcm[s, 0] == pytest.approx(pcm[s, 1])


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("start_ms", [0, 1, 3_000, 17_777])
def test_mixing_from_the_middle_gives_the_same_samples_as_rendering_it_all(
    script, start_ms, channels
):
    # `coach play` starts mixing mid-session (skip, back, resume), with clips that began
    # earlier still sounding, and reads in blocks of any size.
    layout = Layout(RATE, channels)
    whole = render(script, ClickVoice(), layout)
    start = samples_at(start_ms, RATE)
    mixer = Mixer(script, ClickVoice(), layout, start)
    parts = []
    for size in [1, 999, 4_410, 100_000] * 20:
        parts.append(mixer.read(size))
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(joined, whole[start:])
    assert len(mixer.read(10)) == 0


class LoudVoice(ClickVoice):
    """Some phrases louder than full scale, the rest quiet: the mixer must clip the first."""

    def pcm(self, text: str):
        out = super().pcm(text) * (1.3 if len(text) % 2 else 0.5)
        out[1::7] *= -1
        return out


class SteadyVoice(ClickVoice):
    """Phrases just under full scale throughout: a tone sounding with one takes it over."""

    def pcm(self, text: str):
        return np.full(len(super().pcm(text)), 0.95, dtype=np.float32)


def _clipped_sum(script, voice, channels: int) -> np.ndarray:
    """Every cue added in the order the mixer adds them, then all of it clipped: what the
    mixer's blocks must hold, whichever samples it clips."""
    from coach.sound.render import _gains

    out = np.zeros((total_samples(script, RATE), channels), dtype=np.float32)
    for cue in script.cues:
        clip = voice.pcm(cue.text) if cue.kind == "speech" else tone_pcm(cue.tone, RATE)
        s = samples_at(cue.start_ms, RATE)
        piece = clip[: max(0, len(out) - s)]
        for ch, g in enumerate(_gains(cue.side, channels)):
            out[s : s + len(piece), ch] += piece if g == 1.0 else piece * np.float32(g)
    np.clip(out, -1.0, 1.0, out=out)
    return out[:, 0] if channels == 1 else out


@pytest.mark.parametrize(
    "voice", [ClickVoice(), LoudVoice(), SteadyVoice()], ids=["click", "loud", "steady"]
)
@pytest.mark.parametrize("channels", [1, 2])
def test_the_mixer_clips_wherever_a_sample_leaves_full_scale(script, voice, channels):
    # The mixer clips only blocks where clips overlap or one is louder than full scale (a
    # pan gain can make it so); the result must be every sample clipped.
    pcm = render(script, voice, Layout(RATE, channels))
    expected = _clipped_sum(script, voice, channels)
    assert np.abs(expected).max() == 1.0  # some samples were clipped
    np.testing.assert_array_equal(pcm, expected)
    small = np.concatenate(list(render_blocks(script, voice, Layout(RATE, channels), 1)))
    np.testing.assert_array_equal(small, expected)
