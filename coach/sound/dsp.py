"""Sample processing: a phrase's loudness, trimming and fades, and THE one resampler.

Every change of sample rate in coach goes through `Resampler` (python-soxr, the SoX
resampler): a phrase an engine spoke at another rate, and an Opus export of a session whose
rate libopus does not take. numpy and soxr are imported inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Phrase loudness after normalization: RMS of the voiced part, and a ceiling for peaks.
# Together with the tone levels in coach.tones this puts the mix near -19 LUFS.
SPEECH_RMS_DB = -15.5
SPEECH_PEAK_DB = -3.0
SILENCE_DB = -45.0  # quieter than this at either end of a phrase is trimmed
EDGE_MS = 15  # kept (and faded) at each end after trimming, so words are not clipped
# soxr's "HQ": 20-bit precision and a passband to 91% of Nyquist, far below what an Opus or
# float mix can show; "VHQ" costs more and changes nothing that can be heard here.
RESAMPLE_QUALITY = "HQ"


def normalize_phrase(raw, sample_rate: int):
    """Trim silence at both ends, fade the edges, and set a fixed loudness and peak ceiling."""
    import numpy as np

    x = np.asarray(raw, dtype=np.float32)
    loud = np.flatnonzero(np.abs(x) > 10 ** (SILENCE_DB / 20))
    if not len(loud):
        return np.zeros(max(1, sample_rate // 10), dtype=np.float32)
    edge = sample_rate * EDGE_MS // 1000
    x = x[max(0, loud[0] - edge) : loud[-1] + edge + 1].copy()
    fade = min(edge, len(x) // 2)
    if fade:
        ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    voiced = x[np.abs(x) > 10 ** ((SILENCE_DB + 10) / 20)]
    rms = float(np.sqrt(np.mean(np.square(voiced, dtype=np.float64)))) if len(voiced) else 0.0
    peak = float(np.max(np.abs(x)))
    if rms <= 0 or peak <= 0:
        return x
    y = x * np.float32(10 ** (SPEECH_RMS_DB / 20) / rms)
    # Speech peaks sit 12-18 dB above its RMS; rather than lower the whole phrase to keep the
    # rare peak under the ceiling, round the peaks off with a static soft knee (no pumping).
    ceiling = 10 ** (SPEECH_PEAK_DB / 20)
    knee = 0.6 * ceiling
    over = np.abs(y) > knee
    if over.any():
        mag = np.abs(y[over])
        y[over] = np.sign(y[over]) * (
            knee + (ceiling - knee) * np.tanh((mag - knee) / (ceiling - knee))
        )
    return y.astype(np.float32)


class Resampler:
    """`frames_in` samples at `rate_in` to `rate_out`, fed a block at a time, in order.

    Only the filter's state is held (soxr.ResampleStream), so a two-hour session is resampled
    in the memory of a block. soxr takes its filter's delay out, so output sample i is at the
    time of input sample i * rate_in / rate_out and chapter times stay right. The output is
    exactly ceil(frames_in * rate_out / rate_in) samples, whatever the block sizes, and the
    same samples for any split of the input (soxr buffers to its own block size).
    """

    def __init__(self, rate_in: int, rate_out: int, channels: int, frames_in: int) -> None:
        import soxr

        if rate_in <= 0 or rate_out <= 0:
            raise ValueError(f"sample rates must be positive, not {rate_in} and {rate_out}")
        self.channels = channels
        self.total_out = -(-frames_in * rate_out // rate_in)
        self.done_out = 0
        self._stream = soxr.ResampleStream(
            rate_in, rate_out, channels, dtype="float32", quality=RESAMPLE_QUALITY
        )

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """The output for the next input block, shape (n,) or (n, channels) as given; with
        `last`, everything left, padded or cut to the promised length."""
        import numpy as np

        x = np.ascontiguousarray(block, dtype=np.float32)
        mono = x.ndim == 1
        x = x.reshape(len(x), self.channels)
        out = self._stream.resample_chunk(x, last=last).reshape(-1, self.channels)
        out = out[: self.total_out - self.done_out]
        if last and self.done_out + len(out) < self.total_out:
            pad = np.zeros((self.total_out - self.done_out - len(out), self.channels), np.float32)
            out = np.concatenate([out, pad])
        self.done_out += len(out)
        return out[:, 0] if mono else out


def resample(x, rate_in: int, rate_out: int):
    """A whole mono buffer at another rate, through the same `Resampler`."""
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    return Resampler(rate_in, rate_out, 1, len(x)).process(x, last=True)
