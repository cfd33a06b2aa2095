"""Cue script -> PCM: every clip placed at exactly its cue's start sample.

Rendering is block by block, so a two-hour routine is written to a file without ever holding
the whole session in memory; `render` joins the blocks for callers that want one buffer.
Same script and voice, same samples: nothing here is random or depends on timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from coach.cues import Cue, CueScript
from coach.voice import Voice

BLOCK_S = 10
PAN = 0.7  # how far toward one ear a sided cue goes in stereo (0 centre, 1 fully one side)


@dataclass(frozen=True, slots=True)
class Layout:
    sample_rate: int
    channels: int = 1  # 2: cues for the left or right side are panned toward that ear


def samples_at(ms: int, sample_rate: int) -> int:
    """The sample index of a time: the one rounding rule used by render and by its tests."""
    return (ms * sample_rate + 500) // 1000


def total_samples(script: CueScript, sample_rate: int) -> int:
    return samples_at(script.duration_ms, sample_rate)


def _clip(cue: Cue, voice: Voice, sample_rate: int):
    from coach.tones import tone_pcm

    if cue.kind == "speech":
        return voice.pcm(cue.text)
    return tone_pcm(cue.tone, sample_rate)


def _gains(side: str | None, channels: int):
    """Constant-power pan: centred cues keep their level in each ear."""
    import math

    if channels == 1:
        return (1.0,)
    pos = {"left": -PAN, "right": PAN}.get(side or "", 0.0)
    angle = (pos + 1) * math.pi / 4
    return (math.cos(angle) * math.sqrt(2), math.sin(angle) * math.sqrt(2))


def render_blocks(
    script: CueScript, voice: Voice, layout: Layout | None = None, block_s: int = BLOCK_S
) -> Iterator:
    """Yield the session as consecutive float32 blocks ((n,) mono or (n, 2) stereo)."""
    import numpy as np

    layout = layout or Layout(voice.sample_rate)
    sr, channels = layout.sample_rate, layout.channels
    total = total_samples(script, sr)
    block = block_s * sr
    cues = script.cues
    nxt = 0  # index of the first cue not yet started
    sounding: list[tuple[int, object, tuple[float, ...]]] = []  # (start sample, clip, gains)
    for b0 in range(0, total, block):
        b1 = min(total, b0 + block)
        while nxt < len(cues) and samples_at(cues[nxt].start_ms, sr) < b1:
            cue = cues[nxt]
            sounding.append((samples_at(cue.start_ms, sr), _clip(cue, voice, sr),
                             _gains(cue.side, channels)))  # fmt: skip
            nxt += 1
        out = np.zeros((b1 - b0, channels), dtype=np.float32)
        keep = []
        for start, clip, gains in sounding:
            lo, hi = max(start, b0), min(start + len(clip), b1)
            if lo < hi:
                piece = clip[lo - start : hi - start]
                for ch, g in enumerate(gains):
                    out[lo - b0 : hi - b0, ch] += piece * np.float32(g)
            if start + len(clip) > b1:
                keep.append((start, clip, gains))
        sounding = keep
        np.clip(out, -1.0, 1.0, out=out)
        yield out[:, 0] if channels == 1 else out


def render(script: CueScript, voice: Voice, layout: Layout | None = None):
    """The whole session as one float32 buffer of exactly `duration_ms` worth of samples."""
    import numpy as np

    layout = layout or Layout(voice.sample_rate)
    blocks = list(render_blocks(script, voice, layout))
    if not blocks:
        shape = (0,) if layout.channels == 1 else (0, 2)
        return np.zeros(shape, dtype=np.float32)
    return np.concatenate(blocks)
