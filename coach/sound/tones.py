"""Earcons: the sound of each tone in coach.script.tones (marks for holds, sides, rests,
breaths, the start and the finish), made with numpy where audio is rendered.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from coach.script.tones import EDGE_FADE_MS, TONE_MS, TONE_PEAK_DB, Tone, tone_length

if TYPE_CHECKING:
    import numpy

# Equal temperament, A4 = 440 Hz.
_C4, _G4, _A4 = 261.63, 392.00, 440.00
_C5, _D5, _E5, _G5, _A5 = 523.25, 587.33, 659.26, 783.99, 880.00
_C6, _E6 = 1046.50, 1318.51


def tone_pcm(name: str, sample_rate: int) -> numpy.ndarray:
    """Tone `name` as mono float32 in [-1, 1], exactly `tone_length(name, sample_rate)` long.

    Its peak is TONE_PEAK_DB[name] dBFS; it starts and ends at zero. The same arguments always
    give the same samples; the array is cached and read-only (copy it to change it).
    """
    if name not in _GENERATORS:
        raise ValueError(f"unknown tone {name!r}; known: {', '.join(TONE_MS)}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ValueError(
            f"sample_rate must be a whole number of Hz, 8000 or more, found {sample_rate!r}"
        )
    return _tone(name, sample_rate)


@lru_cache(maxsize=128)
def _tone(name: Tone, sample_rate: int) -> numpy.ndarray:
    # Made once and kept in the cache folder: the start tone alone takes 25 ms to make, before
    # `coach play`'s first sound, and an export makes five or more (60 ms); reading one back
    # takes a tenth of a millisecond. The same samples either way (kept as made).
    from coach.sound import cache

    path = _kept_path(name, sample_rate)
    kept = cache.load(path)
    if kept is not None and len(kept) == tone_length(name, sample_rate):
        return kept  # read-only: numpy's view of the bytes read
    out = _make(name, sample_rate)
    cache.store(path, out)
    return out


def _kept_path(name: Tone, sample_rate: int) -> Path:
    """Where tone `name` at `sample_rate` is kept: under the cache folder's tones/, in a
    folder named for the code that makes it (this module and the tone table) and numpy's
    version, so a change to either makes the tones again."""
    from coach.sound.cache import cache_dir

    return cache_dir() / "tones" / _maker_key() / f"{name}-{sample_rate}.npy"


@lru_cache(maxsize=1)
def _maker_key() -> str:
    import hashlib
    import sys

    import numpy as np

    from coach.script import tones as table

    digest = hashlib.sha256(np.__version__.encode())
    for module in (table, sys.modules[__name__]):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def _make(name: Tone, sample_rate: int) -> numpy.ndarray:
    import numpy as np

    n = tone_length(name, sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    x = _GENERATORS[name](t)
    x *= _edges(n, sample_rate, _TAIL_MS.get(name, EDGE_FADE_MS))
    peak = float(np.max(np.abs(x)))
    x *= 10 ** (TONE_PEAK_DB[name] / 20) / peak
    out = x.astype(np.float32)
    out.setflags(write=False)
    return out


# -- shaping ------------------------------------------------------------------------------

# Fade-out length where a tone's own decay is not yet near silence at its end.
_TAIL_MS = {
    Tone.START: 60.0,
    Tone.FINISH: 120.0,
    Tone.REST: 120.0,
    Tone.HOLD_END: 40.0,
    Tone.SWITCH: 20.0,
}


def _rise(n: int):
    """Raised-cosine ramp of n samples from exactly 0 toward 1."""
    import numpy as np

    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def _edges(n: int, sample_rate: int, tail_ms: float):
    """Whole-tone envelope: 5 ms raised-cosine fade in, `tail_ms` fade out to exactly 0."""
    import numpy as np

    env = np.ones(n)
    head = min(n // 2, round(EDGE_FADE_MS * sample_rate / 1000))
    tail = min(n // 2, round(tail_ms * sample_rate / 1000))
    env[:head] = _rise(head)
    env[n - tail :] = _rise(tail)[::-1]
    return env


def _note(
    t,
    onset_s: float,
    freq_hz: float,
    decay_s: float,
    partials=((1, 1.0),),
    attack_s: float = 0.006,
    partial_decay: float = 0.5,
):
    """A struck note from `onset_s`: a raised-cosine attack, then exponential decay.

    `partials` are (multiple of freq_hz, amplitude); higher partials die away faster
    (their decay time scaled by `partial_decay` per multiple), as in a bell or a chime.
    """
    import numpy as np

    local = t - onset_s
    on = local >= 0
    local = np.where(on, local, 0.0)
    attack = np.where(local < attack_s, 0.5 - 0.5 * np.cos(np.pi * local / attack_s), 1.0)
    out = np.zeros_like(t)
    for mult, amp in partials:
        decay = decay_s * partial_decay ** (mult - 1)
        out += amp * np.sin(2 * np.pi * freq_hz * mult * local) * np.exp(-local / decay)
    return np.where(on, out * attack, 0.0)


def _glide(t, from_hz: float, to_hz: float, swell: float = 0.3):
    """A soft tone whose pitch moves evenly (in semitones) from from_hz to to_hz.

    The phase is the running integral of the frequency, so the glide has no steps; the loudness
    swells in and out like a breath over `swell` of the length at each end.
    """
    import numpy as np

    dur = t[-1] + (t[1] - t[0]) if len(t) > 1 else 1.0
    freq = from_hz * (to_hz / from_hz) ** (t / dur)
    phase = 2 * np.pi * np.cumsum(freq) * (t[1] - t[0] if len(t) > 1 else 0.0)
    n = len(t)
    env = np.ones(n)
    k = round(n * swell)
    env[:k] = _rise(k)
    env[n - k :] = _rise(k)[::-1]
    return (np.sin(phase) + 0.15 * np.sin(2 * phase)) * env


_CHIME = ((1, 1.0), (2, 0.25), (3, 0.08))
_BELL = ((1, 1.0), (2, 0.45), (3, 0.2), (4, 0.08))


def _start(t):
    # Rising major arpeggio C5-E5-G5: "here we go".
    return sum(_note(t, on, f, 0.45, _CHIME) for on, f in ((0.0, _C5), (0.14, _E5), (0.28, _G5)))


def _finish(t):
    # Falling G5-E5 resolving onto a C5 + C4 chord that rings out: "done".
    return (
        _note(t, 0.0, _G5, 0.5, _CHIME)
        + _note(t, 0.18, _E5, 0.5, _CHIME)
        + _note(t, 0.36, _C5, 0.55, _CHIME)
        + 0.6 * _note(t, 0.36, _C4, 0.6, _CHIME)
    )


def _hold_start(t):
    # One bright bell strike at A5: short, high, unmistakable.
    return _note(t, 0.0, _A5, 0.12, _BELL, attack_s=0.003, partial_decay=0.6)


def _hold_end(t):
    # Two lower, rounder notes falling a fifth, D5 then G4: "and release".
    return _note(t, 0.0, _D5, 0.15, _CHIME) + _note(t, 0.16, _G4, 0.2, _CHIME)


def _rep(t):
    # A soft pure pip at C6 that dies away almost at once.
    return _note(t, 0.0, _C6, 0.035, attack_s=0.005)


def _switch(t):
    # Four short notes alternating G5 and C6, back and forth: "swap".
    return sum(
        _note(t, i * 0.12, (_G5, _C6)[i % 2], 0.06, _CHIME, attack_s=0.005) for i in range(4)
    )


def _rest(t):
    # A soft, low C4 with a slow attack: time to let go.
    return _note(t, 0.0, _C4, 0.35, ((1, 1.0), (2, 0.12)), attack_s=0.06)


def _breath_in(t):
    # Rising a fifth, A3 to E4, swelling and fading like an in-breath.
    return _glide(t, _A4 / 2, _A4 * 0.75)


def _breath_out(t):
    return _glide(t, _A4 * 0.75, _A4 / 2)


def _countdown(t):
    # A short E6 pip, higher and shorter than `rep`, so "3, 2, 1" pips are not mistaken for reps.
    return _note(t, 0.0, _E6, 0.04, attack_s=0.005)


_GENERATORS = {
    Tone.START: _start,
    Tone.FINISH: _finish,
    Tone.HOLD_START: _hold_start,
    Tone.HOLD_END: _hold_end,
    Tone.REP: _rep,
    Tone.SWITCH: _switch,
    Tone.REST: _rest,
    Tone.BREATH_IN: _breath_in,
    Tone.BREATH_OUT: _breath_out,
    Tone.COUNTDOWN: _countdown,
}
