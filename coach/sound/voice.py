"""Speech: the `Voice` protocol that rendering speaks through, what is asked of an engine
(`VoiceChoice`), the installed voices, and `SpeechVoice`, the real voice.

Each unique phrase is synthesized once, ever: `SpeechVoice` asks the engine
(coach.sound.espeak) only for phrases the phrase cache (coach.sound.cache) does not hold, and
stores them trimmed of silence and normalized to one loudness (coach.sound.dsp), so the mix
needs no dynamic processing (no pumping) and lands at a steady level. The engine is started
only when a phrase or the voice list is needed; this module must not be imported by
`coach validate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from coach.sound import cache
from coach.sound.pronounce import Pronounce, respell

if TYPE_CHECKING:
    import numpy as np

    from coach.sound.espeak import Engine


class Voice(Protocol):
    """Text to mono float32 PCM at `sample_rate`."""

    sample_rate: int

    def pcm(self, text: str) -> np.ndarray: ...

    def duration_ms(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """What is asked of the engine; every field changes the sound, so all are in the cache key."""

    voice: str | None  # a voice id, name or language code; None: the language's default
    language: str = "en"
    rate_wpm: int = 165
    volume: float = 1.0
    pitch: int = 50  # espeak-ng's scale, 0-100


def find_voice(voices, wanted: str) -> VoiceInfo | None:
    """A voice by id, by the id's last part (en-gb in gmw/en-GB), by name, or by language."""
    w = wanted.strip().lower()
    for test in (
        lambda v: v.id.lower() == w,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == w,
        lambda v: v.name.lower() == w,
        lambda v: any(lang.lower() == w for lang in v.languages),
    ):
        for v in voices:
            if test(v):
                return v
    return None


def list_voices(language: str | None = None) -> list[VoiceInfo]:
    """Installed voices, optionally those speaking `language` (en matches en-gb too)."""
    from coach.sound.espeak import Engine

    voices = Engine.get().voices
    if not language:
        return list(voices)
    lang = language.lower()
    return [
        v
        for v in voices
        if any(x.lower() == lang or x.lower().startswith(lang + "-") for x in v.languages)
    ]


class SpeechVoice:
    """The real voice: pyttsx3 through the phrase cache, in memory and on disk."""

    def __init__(
        self, choice: VoiceChoice, folder: Path | None = None, pronounce: Pronounce = ()
    ) -> None:
        self.choice = choice
        self.pronounce = pronounce  # a routine's respellings, applied to every phrase said
        self.folder = folder or cache.cache_dir()
        self._engine: Engine | None = None
        self._voice_id: str | None = None
        self._memory: dict[str, np.ndarray] = {}
        self.sample_rate = 22_050  # espeak-ng's rate; checked on every synthesized phrase
        self.synthesized = 0  # phrases made this run (the rest came from the cache)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from coach.sound.espeak import Engine

            self._engine = Engine.get()
            self._voice_id = self._engine.resolve(self.choice)
        return self._engine

    def identity(self) -> dict:
        """Everything that changes the sound, for the cache key and the export's comment."""
        e = self.engine
        return {
            "backend": f"pyttsx3-{e.pyttsx3_version}/{e.driver}",
            "engine": e.backend_version,
            "voice": self._voice_id,
            "rate_wpm": self.choice.rate_wpm,
            "pitch": self.choice.pitch,
            "volume": self.choice.volume,
            "processing": cache.PROCESSING_VERSION,
        }

    def duration_ms(self, text: str) -> int:
        return round(len(self.pcm(text)) * 1000 / self.sample_rate)

    def pcm(self, text: str) -> np.ndarray:
        # Respelt before the cache, which keys what is said; duration_ms measures it too.
        text = respell(text, self.pronounce)
        found = self._memory.get(text)
        if found is not None:
            return found
        path = cache.entry_path(self.folder, text, self.identity())
        data = cache.load(path)
        if data is None:
            data = self._make(text)
            cache.store(path, data)
        data.setflags(write=False)
        self._memory[text] = data
        return data

    def _make(self, text: str) -> np.ndarray:
        from coach.sound.dsp import normalize_phrase, resample

        engine = self.engine
        assert self._voice_id is not None  # resolved with the engine
        raw, rate = engine.synthesize(text, self._voice_id, self.choice)
        if rate != self.sample_rate:
            raw = resample(raw, rate, self.sample_rate)
        self.synthesized += 1
        return normalize_phrase(raw, self.sample_rate)
