"""Cue script -> PCM: every clip placed at exactly its cue's start sample.

Rendering is block by block, so a two-hour routine is written to a file without ever holding
the whole session in memory; `render` joins the blocks for callers that want one buffer.
Same script and voice, same samples: nothing here is random or depends on timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coach.script.cues import Cue, CueKind, CueScript
from coach.sound.voice import Voice

if TYPE_CHECKING:
    import numpy

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
    from coach.sound.tones import tone_pcm

    if cue.kind == CueKind.SPEECH:
        assert cue.text is not None  # the cue script's checker requires it
        return voice.pcm(cue.text)
    assert cue.tone is not None
    return tone_pcm(cue.tone, sample_rate)


def _gains(side: str | None, channels: int):
    """Constant-power pan: centred cues keep their level in each ear."""
    import math

    if channels == 1:
        return (1.0,)
    pos = {"left": -PAN, "right": PAN}.get(side or "", 0.0)
    angle = (pos + 1) * math.pi / 4
    return (math.cos(angle) * math.sqrt(2), math.sin(angle) * math.sqrt(2))


class Mixer:
    """Reads the session from any sample on, in blocks of any size, always the same samples.

    `render_blocks` reads it front to back; `coach play` also starts it in the middle (skip,
    back, resume), where the clips that began earlier and are still sounding are picked up.
    """

    def __init__(
        self, script: CueScript, voice: Voice, layout: Layout | None = None, start: int = 0
    ) -> None:
        self.voice = voice
        self.layout = layout or Layout(voice.sample_rate)
        self.total = total_samples(script, self.layout.sample_rate)
        self.position = min(max(0, start), self.total)
        sr = self.layout.sample_rate
        self._starts = [samples_at(c.start_ms, sr) for c in script.cues]
        self._cues = script.cues
        # Cues that ended before `start` are never loaded; the ones sounding at it are.
        self._next = 0
        while (
            self._next < len(self._cues)
            and samples_at(self._cues[self._next].end_ms, sr) <= self.position
            and self._starts[self._next] < self.position
        ):
            self._next += 1
        self._sounding: list[tuple[int, numpy.ndarray, tuple[float, ...]]] = []
        self._peaks: dict[int, tuple[numpy.ndarray, numpy.float32]] = {}  # clip id: clip, peak

    def follow(self, script: CueScript) -> None:
        """Go on with `script`, which has every cue that started before this position where
        the old one had it (a script compiled further ahead: coach.script.compiler.Ahead)."""
        sr = self.layout.sample_rate
        self.total = total_samples(script, sr)
        self._starts = [samples_at(c.start_ms, sr) for c in script.cues]
        self._cues = script.cues

    def read(self, frames: int):
        """The next `frames` samples (fewer at the end): float32, (n,) mono or (n, 2) stereo."""
        import numpy as np

        sr, channels = self.layout.sample_rate, self.layout.channels
        b0 = self.position
        b1 = min(self.total, b0 + max(0, frames))
        cues, starts = self._cues, self._starts
        while self._next < len(cues) and starts[self._next] < b1:
            cue = cues[self._next]
            clip = _clip(cue, self.voice, sr)
            if starts[self._next] + len(clip) > b0:  # skipped over when it was already over
                self._sounding.append((starts[self._next], clip, _gains(cue.side, channels)))
            self._next += 1
        out = np.zeros((b1 - b0, channels), dtype=np.float32)
        keep = []
        # Clipped only where a sample can leave [-1, 1]: where clips overlap, or where one is
        # louder than full scale (with its pan gain). Elsewhere each sample is one clip's,
        # already within it, and clipping it (a pass over every sample) would change nothing.
        loud = False
        covered = b0  # the end of what the clips so far cover; they come in order of start
        for start, clip, gains in self._sounding:
            lo, hi = max(start, b0), min(start + len(clip), b1)
            if lo < hi:
                piece = clip[lo - start : hi - start]
                for ch, g in enumerate(gains):
                    if g == 1.0:  # mono: no product to make
                        out[lo - b0 : hi - b0, ch] += piece
                    else:
                        out[lo - b0 : hi - b0, ch] += piece * np.float32(g)
                loud = loud or lo < covered or self._louder_than_full_scale(clip, gains)
                covered = max(covered, hi)
            if start + len(clip) > b1:
                keep.append((start, clip, gains))
        self._sounding = keep
        self.position = b1
        if loud:
            np.clip(out, -1.0, 1.0, out=out)
        return out[:, 0] if channels == 1 else out

    def _louder_than_full_scale(self, clip, gains: tuple[float, ...]) -> bool:
        import numpy as np

        # Each clip's peak is found once: a routine says the same phrases and tones many
        # times. It is kept with the clip itself, so the id stays the clip's while it is here.
        known = self._peaks.get(id(clip))
        if known is None:
            peak = max(clip.max(), -clip.min()) if len(clip) else np.float32(0)
            known = self._peaks[id(clip)] = (clip, np.float32(peak))
        # In float32, as the samples are scaled above: the loudest sample scaled is the peak
        # scaled, rounded the same way.
        return any(known[1] * np.float32(g) > 1.0 for g in gains)


def render_blocks(
    script: CueScript, voice: Voice, layout: Layout | None = None, block_s: int = BLOCK_S
) -> Iterator:
    """Yield the session as consecutive float32 blocks ((n,) mono or (n, 2) stereo)."""
    mixer = Mixer(script, voice, layout)
    block = block_s * mixer.layout.sample_rate
    while mixer.position < mixer.total:
        yield mixer.read(block)


def render(script: CueScript, voice: Voice, layout: Layout | None = None):
    """The whole session as one float32 buffer of exactly `duration_ms` worth of samples."""
    import numpy as np

    layout = layout or Layout(voice.sample_rate)
    blocks = list(render_blocks(script, voice, layout))
    if not blocks:
        shape = (0,) if layout.channels == 1 else (0, 2)
        return np.zeros(shape, dtype=np.float32)
    return np.concatenate(blocks)
