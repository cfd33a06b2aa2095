"""Earcons: exact lengths, documented levels, no clicks, and the shapes the docs promise."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from coach.script.tones import EDGE_FADE_MS, TONE_MS, TONE_PEAK_DB, tone_length
from coach.sound import tones
from coach.sound.tones import tone_pcm
from tests.support import ROOT

RATES = (22050, 24000, 44100, 48000)
ALL = [(name, rate) for name in TONE_MS for rate in RATES]


def dominant_hz(x: np.ndarray, sample_rate: int) -> float:
    """The strongest frequency in `x` (Hann window, zero-padded 8x for a finer grid)."""
    size = 8 * len(x)
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)), size))
    return float(np.fft.rfftfreq(size, 1 / sample_rate)[spectrum.argmax()])


def quarters(name: str, rate: int) -> tuple[np.ndarray, np.ndarray]:
    x = tone_pcm(name, rate)
    q = len(x) // 4
    return x[:q], x[-q:]


def test_every_tone_has_a_level_and_a_generator():
    assert set(TONE_PEAK_DB) == set(TONE_MS)
    assert {"breath_in", "breath_out", "countdown"} <= set(TONE_MS)
    assert TONE_MS["countdown"] == 120
    assert TONE_MS["breath_in"] == TONE_MS["breath_out"]
    for name in TONE_MS:
        assert len(tone_pcm(name, 24000)) > 0


@pytest.mark.parametrize("name,rate", ALL)
def test_length_is_exact_and_samples_are_float32(name, rate):
    x = tone_pcm(name, rate)
    assert len(x) == round(TONE_MS[name] * rate / 1000) == tone_length(name, rate)
    assert x.dtype == np.float32
    assert x.ndim == 1


@pytest.mark.parametrize("name,rate", ALL)
def test_peak_is_the_documented_level(name, rate):
    peak_db = 20 * math.log10(float(np.max(np.abs(tone_pcm(name, rate)))))
    assert peak_db == pytest.approx(TONE_PEAK_DB[name], abs=0.1)


@pytest.mark.parametrize("name,rate", ALL)
def test_click_free(name, rate):
    x = tone_pcm(name, rate).astype(np.float64)
    peak = 10 ** (TONE_PEAK_DB[name] / 20)
    assert abs(x[0]) < 1e-4 * peak and abs(x[-1]) < 1e-4 * peak
    # The fades: the first and last millisecond stay far below the peak.
    ms = rate // 1000
    assert np.max(np.abs(x[:ms])) < 0.1 * peak
    assert np.max(np.abs(x[-ms:])) < 0.1 * peak
    # A step would jump by about the peak in one sample; nothing here moves faster than a
    # 3 kHz sine at the tone's peak level.
    assert np.max(np.abs(np.diff(x))) <= 2 * math.pi * 3000 / rate * peak


@pytest.mark.parametrize("name", TONE_MS)
def test_fades_are_at_least_five_ms(name):
    rate = 48000
    x = tone_pcm(name, rate).astype(np.float64)
    peak = 10 ** (TONE_PEAK_DB[name] / 20)
    half_fade = round(EDGE_FADE_MS / 2 * rate / 1000)
    # Half-way through a raised-cosine fade of at least 5 ms the gain is at most 0.5.
    assert np.max(np.abs(x[:half_fade])) <= 0.5 * peak
    assert np.max(np.abs(x[-half_fade:])) <= 0.5 * peak


@pytest.mark.parametrize("rate", RATES)
def test_breath_in_rises_and_breath_out_falls(rate):
    first, last = quarters("breath_in", rate)
    assert dominant_hz(last, rate) > dominant_hz(first, rate) * 1.2
    first, last = quarters("breath_out", rate)
    assert dominant_hz(last, rate) < dominant_hz(first, rate) / 1.2


@pytest.mark.parametrize("rate", RATES)
def test_pitches_are_as_documented(rate):
    def hz(name, part=None):
        x = tone_pcm(name, rate) if part is None else quarters(name, rate)[part]
        return dominant_hz(x, rate)

    assert hz("hold_start") == pytest.approx(880, abs=5)
    # hold_end: two notes, lower than hold_start, falling D5 -> G4
    assert hz("hold_end", 0) == pytest.approx(587.33, abs=5)
    assert hz("hold_end", 1) == pytest.approx(392, abs=5)
    assert hz("rest") == pytest.approx(261.63, abs=5)
    assert hz("rep") == pytest.approx(1046.5, abs=5)
    assert hz("countdown") == pytest.approx(1318.5, abs=8)
    assert hz("start", 0) < hz("start", 1)  # rising
    assert hz("finish", 0) > hz("finish", 1)  # falling, resolving low


def test_switch_alternates_two_notes():
    rate = 48000
    x = tone_pcm("switch", rate)
    note = round(0.12 * rate)
    got = [
        dominant_hz(x[i * note + note // 8 : (i + 1) * note - note // 8], rate) for i in range(4)
    ]
    assert got == pytest.approx([783.99, 1046.5, 783.99, 1046.5], abs=10)


def test_tones_differ_from_each_other():
    rate = 24000
    seen = {}
    for name in TONE_MS:
        first, last = quarters(name, rate)
        seen[name] = (
            TONE_MS[name],
            round(dominant_hz(first, rate)),
            round(dominant_hz(last, rate)),
        )
    assert len(set(seen.values())) == len(seen)


def test_deterministic_cached_and_read_only():
    a = tone_pcm("hold_start", 44100)
    assert tone_pcm("hold_start", 44100) is a
    tones._tone.cache_clear()
    b = tone_pcm("hold_start", 44100)
    assert b is not a and np.array_equal(a, b)
    with pytest.raises(ValueError):
        b[0] = 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown tone 'ding'"):
        tone_pcm("ding", 24000)
    for rate in (0, 100, 44100.0, True):
        with pytest.raises(ValueError, match="sample_rate"):
            tone_pcm("rep", rate)


def test_importing_tones_does_not_import_numpy():
    code = "import sys, coach.sound.tones, coach.script.cues; print('numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_earcons_doc_lists_every_tone_with_its_length_and_level():
    text = (ROOT / "docs" / "earcons.md").read_text(encoding="utf-8")
    for name, ms in TONE_MS.items():
        row = re.search(rf"^\| `{name}` \|(.*)$", text, re.M)
        assert row, name
        cells = [c.strip() for c in row.group(1).split("|")]
        assert f"{ms} ms" in cells, name
        assert f"{TONE_PEAK_DB[name]:g} dBFS" in cells, name


LENGTH_TOOLS = {
    "soxi": ["soxi", "-D"],
    "ffprobe": ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"],
}


@pytest.mark.parametrize("tool", LENGTH_TOOLS)
@pytest.mark.parametrize("rate", [22050, 48000])
def test_a_wav_of_a_tone_has_its_length_by_a_real_tool(tmp_path, rate, tool):
    import soundfile

    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    path = tmp_path / "finish.wav"
    soundfile.write(path, tone_pcm("finish", rate), rate, subtype="FLOAT")
    out = subprocess.run(
        [*LENGTH_TOOLS[tool], str(path)], capture_output=True, text=True, check=True
    )
    assert float(out.stdout) == pytest.approx(TONE_MS["finish"] / 1000, abs=0.5 / rate)


def test_a_tone_kept_in_the_cache_folder_is_the_tone_made_and_a_damaged_one_is_made_again(
    tmp_path, monkeypatch
):
    """Tones are made once and kept (the start tone takes 25 ms to make, before `coach
    play`'s first sound): what is read back is the same samples, and a kept file that is
    damaged or of the wrong length is made again, never played."""
    from coach.sound.cache import clear_cache

    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path))
    tones._tone.cache_clear()
    made = tone_pcm("start", 44100).copy()
    kept = list((tmp_path / "tones").glob("*/start-44100.npy"))
    assert len(kept) == 1
    tones._tone.cache_clear()
    again = tone_pcm("start", 44100)
    assert again.tobytes() == made.tobytes() and not again.flags.writeable
    for damage in (b"not a tone", np.zeros(10, np.float32).tobytes()):
        kept[0].write_bytes(damage)
        tones._tone.cache_clear()
        assert tone_pcm("start", 44100).tobytes() == made.tobytes()
    np.save(kept[0], np.zeros(len(made) - 1, np.float32))  # a readable tone, too short
    tones._tone.cache_clear()
    assert tone_pcm("start", 44100).tobytes() == made.tobytes()
    clear_cache(tmp_path)  # `coach cache --clear` clears the tones too
    assert not list((tmp_path / "tones").glob("*/*.npy"))
    tones._tone.cache_clear()
