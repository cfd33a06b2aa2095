"""An independent listener: pocketsphinx (CMU's recognizer, with the US-English acoustic model,
dictionary and language model its wheel bundles) transcribes what coach says, so
intelligibility is measured by a tool no one here wrote.

Given an exported audio file and its cue script, each speech cue is cut out at the script's
times (with a little margin either side, never reaching into the neighbouring speech cues),
converted to what pocketsphinx wants (16 kHz mono int16, resampled by python-soxr), and
transcribed. Both sides are normalized the same way (lower case, no punctuation, numbers as
their spoken words: "30 seconds" -> "thirty seconds", "4-7-8" -> "four seven eight") and the
word error rate is counted over the whole routine: all word edits over all reference words.
Single cues are not judged alone: a cue like "Two." is too short for a recognizer with a
general language model to get right, however clear the voice.

Used by tests/test_intelligibility.py and by bench/bench.py. By hand:

    .venv/bin/coach compile upper-back-quick --json -o /tmp/r.json
    .venv/bin/coach export upper-back-quick -o /tmp/r.wav
    .venv/bin/python -m tests.listener /tmp/r.wav /tmp/r.json
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What pocketsphinx's bundled US-English model was trained on.
LISTEN_RATE = 16_000
#: Audio kept either side of a speech cue: a voice's onset and tail can fall a little outside
#: the measured phrase, and the recognizer wants some silence around the words.
MARGIN_MS = 200


# -- the cues to listen to --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechCue:
    """Words said from start_ms to end_ms, as the cue script has them."""

    start_ms: int
    end_ms: int
    text: str


def speech_cues(script: Any) -> tuple[SpeechCue, ...]:
    """The speech cues of a cue script, in time order.

    `script` is the path of `coach compile ROUTINE --json -o X.json`, its parsed JSON, a
    `coach.script.cues.CueScript`, or speech cues already.
    """
    if isinstance(script, (str, Path)):
        script = json.loads(Path(script).read_text(encoding="utf-8"))
    if isinstance(script, Mapping):
        found = [
            SpeechCue(int(c["start_ms"]), int(c["end_ms"]), str(c["text"]))
            for c in script["cues"]
            if c["kind"] == "speech"
        ]
    elif hasattr(script, "speech"):  # a CueScript
        found = [SpeechCue(c.start_ms, c.end_ms, c.text or "") for c in script.speech()]
    else:
        found = [SpeechCue(c.start_ms, c.end_ms, c.text) for c in script]
    return tuple(sorted(found, key=lambda c: (c.start_ms, c.end_ms)))


# -- the words as said ------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*)(?:\.(\d+))?(st|nd|rd|th)?%?(?!\w)")
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "×": " times ", "°": " degrees "}
# Pocketsphinx marks alternative pronunciations ("the(2)") and fillers ("<sil>", "[NOISE]").
_MARKS = re.compile(r"\(\d+\)|<[^>]*>|\[[^\]]*\]")
# One word, two spellings: the routines write British "centre", the listener's US-English
# language model (which has both) writes "center" for the same sound (measured: every time).
# Both sides are compared in the US spelling, as the recognizer's dictionary prefers.
_US_SPELLING = {
    "centre": "center",
    "centres": "centers",
    "metre": "meter",
    "metres": "meters",
    "litre": "liter",
    "litres": "liters",
    "colour": "color",
    "colours": "colors",
    "favourite": "favorite",
    "grey": "gray",
}


def _say_number(match: re.Match[str]) -> str:
    from num2words import num2words

    whole, fraction, ordinal = match.group(1).replace(",", ""), match.group(2), match.group(3)
    if ordinal:
        words = num2words(int(whole), to="ordinal")
    elif fraction is not None:
        # "1.5" is "one point five"; each digit after the point is said alone.
        words = num2words(int(whole)) + " point " + " ".join(num2words(int(d)) for d in fraction)
    else:
        words = num2words(int(whole))
    if match.group(0).endswith("%"):
        words += " percent"
    return f" {words} "


def spoken_words(text: str) -> tuple[str, ...]:
    """`text` as the words a listener hears: lower case, no punctuation, numbers spelled out.

    Hyphens and dashes separate words ("4-7-8" -> four seven eight, "warm-up" -> warm up);
    an apostrophe inside a word stays ("don't"), as the recognizer's dictionary spells it; a
    British spelling is the US one ("centre" -> center), as the recognizer writes it.
    """
    text = _MARKS.sub(" ", text).replace("’", "'").replace("‘", "'")
    # A range or a breath pattern ("4-7-8", "10–15") is its numbers said one after another.
    text = re.sub(r"[-‐‑‒–—―/:]", " ", text)
    text = _NUMBER.sub(_say_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.lower().replace("-", " ")  # num2words writes "twenty-one"
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes
    return tuple(_US_SPELLING.get(word, word) for word in text.split())


# -- hearing ----------------------------------------------------------------------------------


def read_mono(path: Path | str) -> tuple[Any, int]:
    """An audio file as mono float32 samples and its sample rate (channels are averaged)."""
    import numpy as np
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(samples.mean(axis=1, dtype=np.float32)), int(rate)


def windows(cues: Sequence[SpeechCue], margin_ms: int = MARGIN_MS) -> list[tuple[int, int]]:
    """Where each cue is cut out, in ms: the cue with `margin_ms` either side, but never
    reaching into the speech cue before or after it."""
    out = []
    for i, cue in enumerate(cues):
        start = cue.start_ms - margin_ms
        end = cue.end_ms + margin_ms
        if i > 0:
            start = max(start, cues[i - 1].end_ms)
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start_ms)
        out.append((max(0, min(start, cue.start_ms)), max(end, cue.end_ms)))
    return out


def _to_int16(samples: Any, rate: int) -> bytes:
    import numpy as np
    import soxr

    if rate != LISTEN_RATE:
        samples = soxr.resample(samples, rate, LISTEN_RATE, quality="HQ")
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def _decoder() -> Any:
    from pocketsphinx import Decoder

    # The defaults are the bundled US-English model, dictionary and language model.
    return Decoder(samprate=LISTEN_RATE, loglevel="FATAL")


def transcribe(pcm16: bytes, decoder: Any = None) -> str:
    """What pocketsphinx hears in 16 kHz mono little-endian int16 audio (one utterance)."""
    decoder = decoder or _decoder()
    decoder.start_utt()
    decoder.process_raw(pcm16, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def hear(audio: Path | str, cues: Sequence[SpeechCue], margin_ms: int = MARGIN_MS) -> list[str]:
    """pocketsphinx's transcript of each cue of `audio` (an exported file), cut at its times."""
    samples, rate = read_mono(audio)
    return hear_pieces(
        (
            samples[start_ms * rate // 1000 : end_ms * rate // 1000]
            for start_ms, end_ms in windows(cues, margin_ms)
        ),
        rate,
    )


def hear_pieces(pieces: Iterable[Any], rate: int) -> list[str]:
    """pocketsphinx's transcript of each piece (mono float samples at `rate`), heard one
    after another by one decoder, as `hear` hears the cues of a routine."""
    decoder = _decoder()
    return [transcribe(_to_int16(piece, rate), decoder) for piece in pieces]


# -- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeardCue:
    """One speech cue: what it says, what the listener heard, and the word edits between."""

    cue: SpeechCue
    expected: tuple[str, ...]
    heard: tuple[str, ...]
    edits: int  # substitutions + deletions + insertions

    @property
    def words(self) -> int:
        return len(self.expected)

    @property
    def wer(self) -> float:
        return self.edits / self.words if self.words else float(self.edits > 0)


@dataclass(frozen=True, slots=True)
class Hearing:
    """Every speech cue of a routine as heard, and the word error rate over all of them."""

    cues: tuple[HeardCue, ...]

    @property
    def edits(self) -> int:
        return sum(c.edits for c in self.cues)

    @property
    def words(self) -> int:
        return sum(c.words for c in self.cues)

    @property
    def wer(self) -> float:
        """Word error rate over the whole routine: all edits over all reference words."""
        return self.edits / self.words if self.words else float(self.edits > 0)

    def worst(self, n: int = 8) -> tuple[HeardCue, ...]:
        """The `n` cues with the most word edits (then the highest rate), in that order."""
        return tuple(sorted(self.cues, key=lambda c: (-c.edits, -c.wer, c.cue.start_ms))[:n])

    def report(self, n: int = 8) -> str:
        """A summary with the worst cues, for a failing assertion or a person."""
        lines = [
            f"WER {self.wer:.3f}: {self.edits} word edits over {self.words} words "
            f"in {len(self.cues)} speech cues; worst cues:"
        ]
        for c in self.worst(n):
            said, heard = " ".join(c.expected), " ".join(c.heard)
            lines.append(
                f"  {c.cue.start_ms / 1000:7.2f}s {c.edits}/{c.words}  said: {said!r}"
                f"  heard: {heard!r}"
            )
        return "\n".join(lines)


def score(cues: Sequence[SpeechCue], heard: Iterable[str]) -> Hearing:
    """Each cue's text against what was heard in it (normalized alike), as a Hearing."""
    import jiwer

    out = []
    for cue, said in zip(cues, heard, strict=True):
        expected, got = spoken_words(cue.text), spoken_words(said)
        if not expected:  # jiwer counts each heard word as an insertion then too
            edits = len(got)
        else:
            w = jiwer.process_words(" ".join(expected), " ".join(got))
            edits = w.substitutions + w.deletions + w.insertions
        out.append(HeardCue(cue, expected, got, edits))
    return Hearing(tuple(out))


def listen(audio: Path | str, script: Any, margin_ms: int = MARGIN_MS) -> Hearing:
    """How well the listener understands `audio` (an export) against its cue script (see
    `speech_cues` for what `script` may be)."""
    cues = speech_cues(script)
    return score(cues, hear(audio, cues, margin_ms))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m tests.listener AUDIO CUE_SCRIPT.json", file=sys.stderr)
        return 2
    print(listen(args[0], args[1]).report(n=1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
