"""Speech: the `Voice` protocol that rendering speaks through, what is asked of an engine
(`VoiceChoice`), the installed voices of both engines, choosing one (`choose`), and
`SpeechVoice`, the real voice.

Two engines: Piper (coach.sound.piper, neural, one model per voice) and espeak-ng through
pyttsx3 (coach.sound.espeak, every language). A voice name says its engine:
`piper:en_US-joe-medium`, `espeak:en-us`; `piper` or `espeak` alone is that engine's voice for
the routine's language; a path to an .onnx file is a Piper voice; any other name is looked up
by name among Piper's voices first, then among espeak-ng's (by id, name or language, as
before). With no voice set, coach takes the best installed for the routine's language: a
Piper voice for it when piper-tts and such a voice are installed, else espeak-ng's; the
`Chosen.reason` says why, for doctor and the commands to show. $COACH_VOICE, when set, is
that default instead (the tests use it to make espeak-ng theirs).

Each unique phrase is synthesized once, ever: `SpeechVoice` asks the engine only for phrases
the phrase cache (coach.sound.cache) does not hold, and stores them trimmed of silence and
normalized to one loudness (coach.sound.dsp), whatever the engine, so the mix needs no
dynamic processing (no pumping) and lands at a steady level. The engine is started only when
a phrase or the voice list is needed; this module must not be imported by `coach validate`.
`SpeechVoice.prepare` makes many phrases at once: Piper's on every core, a thread of coach's
own and a worker process per other core (coach.sound.workers), espeak-ng's by its speaker
process (coach.sound.espeak), the same bytes as one by one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from coach.errors import EnvironmentFault
from coach.sound import cache
from coach.sound.pronounce import Pronounce, respell

if TYPE_CHECKING:
    import numpy as np

    from coach.sound.espeak import Engine
    from coach.sound.piper import PiperModel
    from coach.sound.workers import PiperJob, SpeakingAhead

PIPER, ESPEAK = "piper", "espeak"
ASKED = "asked for"  # the reason of a voice named by the person
ENGINES = (PIPER, ESPEAK)  # the order a bare voice name is looked up in
SAMPLE_RATE = 22_050  # coach's speech rate; a voice at another is resampled (soxr)


class Voice(Protocol):
    """Text to mono float32 PCM at `sample_rate`."""

    sample_rate: int

    def pcm(self, text: str) -> np.ndarray: ...

    def duration_ms(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    id: str  # the engine's own id: gmw/en-US (espeak-ng), piper:en_US-joe-medium (Piper)
    name: str
    languages: tuple[str, ...]
    engine: str = ESPEAK
    sample_rate: int = SAMPLE_RATE
    source: str = "espeak-ng"  # where it came from: espeak-ng, bundled (...), voices folder
    provenance: str = ""  # what its model card says of its data and training (Piper)

    @property
    def qualified(self) -> str:
        """The name that says its engine: espeak:gmw/en-us, piper:en_US-joe-medium."""
        return self.id if self.engine == PIPER else f"{ESPEAK}:{self.id}"


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """What is asked of the engine; every field changes the sound, so all are in the cache key."""

    voice: str | None  # a voice name (see the module docstring); None: the language's best
    language: str = "en"
    rate_wpm: int = 165
    volume: float = 1.0
    pitch: int = 50  # espeak-ng's scale, 0-100; Piper voices have no pitch


@dataclass(frozen=True, slots=True)
class Chosen:
    """The voice a choice comes to, and why it is that one."""

    info: VoiceInfo
    reason: str  # "asked for", "the best installed for en", "piper-tts is not installed"
    model: PiperModel | None = None  # the Piper voice file, for Piper

    @property
    def engine(self) -> str:
        return self.info.engine


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


def _speaks(v: VoiceInfo, language: str) -> bool:
    lang = language.lower().replace("_", "-")
    return any(x.lower() == lang or x.lower().startswith(lang + "-") for x in v.languages)


def espeak_voices() -> list[VoiceInfo]:
    """espeak-ng's voices (from its facts: the engine is started if they are not noted)."""
    from coach.sound.espeak import facts

    return list(facts().voices)


def _piper_info(model: PiperModel) -> VoiceInfo:
    return VoiceInfo(
        model.id,
        model.name,
        (model.language,),
        PIPER,
        model.sample_rate,
        model.source,
        model.provenance,
    )


def piper_voices() -> tuple[list[VoiceInfo], tuple[EnvironmentFault, ...]]:
    """Piper's voices (from their files; Piper itself is not started), and the faults of
    voice files in the voices folder that cannot be used."""
    from coach.sound.piper import find_models

    models, faults = find_models()
    return [_piper_info(m) for m in models], faults


def list_voices(language: str | None = None) -> list[VoiceInfo]:
    """Installed voices of both engines, Piper's first, optionally those speaking `language`
    (en matches en-gb too). Unusable files in the voices folder are left out here; `coach
    voices` and `coach doctor` name them."""
    voices = [*piper_voices()[0], *espeak_voices()]
    if not language:
        return voices
    return [v for v in voices if _speaks(v, language)]


def choose(choice: VoiceChoice) -> Chosen:
    """The voice that speaks `choice`, or an EnvironmentFault naming what is installed."""
    wanted = (choice.voice or "").strip() or os.environ.get("COACH_VOICE", "").strip()
    language = choice.language
    if not wanted:
        return _best(language)
    lowered = wanted.lower()
    if lowered.endswith((".onnx", ".onnx.json")):
        from coach.sound.piper import read_model

        path = Path(wanted.removesuffix(".json")).expanduser()
        return _piper_chosen(read_model(path, "path"), f"{ASKED} by path ({path})")
    engine, sep, name = wanted.partition(":")
    if sep and engine.lower() in ENGINES:
        return _in_engine(engine.lower(), name.strip(), language, wanted)
    if lowered in ENGINES:
        return _in_engine(lowered, "", language, wanted)
    piper, faults = piper_voices()
    found = find_voice(piper, wanted) if not _is_language(piper, wanted) else None
    if found is not None:
        return _piper_chosen(_model(found), ASKED)
    match = find_voice(espeak_voices(), wanted)
    if match is None:
        raise _not_installed(wanted, faults)
    return Chosen(match, ASKED)


def _is_language(voices: list[VoiceInfo], wanted: str) -> bool:
    # A bare language code names espeak-ng's voice for it, as it always has; a Piper voice
    # is asked for by its name, or by leaving the voice unset.
    return find_voice(voices, wanted) is not None and all(
        wanted.lower() not in (v.id.lower(), v.name.lower()) for v in voices
    )


def _in_engine(engine: str, name: str, language: str, wanted: str) -> Chosen:
    if engine == ESPEAK:
        voices = espeak_voices()
        match = find_voice(voices, name or language) or find_voice(voices, language.split("-")[0])
        if match is None:
            raise _not_installed(wanted, ())
        return Chosen(match, ASKED)
    piper, faults = piper_voices()
    if faults:
        raise faults[0]
    if name:
        found = find_voice(piper, name) or find_voice(piper, f"piper:{name}")
    else:
        found = next((v for v in piper if _speaks(v, language)), None)
        if found is None:
            found = next((v for v in piper if _speaks(v, language.split("-")[0])), None)
    if found is None:
        raise _not_installed(wanted, faults)
    return _piper_chosen(_model(found), ASKED)


def _best(language: str) -> Chosen:
    """No voice asked for: a Piper voice for the language when one can speak, else espeak-ng."""
    from coach.sound.piper import unavailable

    piper, faults = piper_voices()
    if faults:
        raise faults[0]  # a voice the person added that cannot load is never skipped silently
    base = language.split("-")[0]
    found = [v for v in piper if _speaks(v, language)] or [v for v in piper if _speaks(v, base)]
    if found:
        why_not = unavailable()
        if why_not is None:
            return _piper_chosen(_model(found[0]), f"the best installed for '{language}'")
        reason = f"{why_not}, so espeak-ng speaks instead (pip install 'coach[neural]')"
    else:
        reason = f"no Piper voice for '{language}' is installed, so espeak-ng's is used"
    voices = espeak_voices()
    match = find_voice(voices, language) or find_voice(voices, base)
    if match is None:
        raise EnvironmentFault(
            f"no installed voice speaks '{language}'",
            "list the voices with `coach voices` and pass one with --voice",
        )
    return Chosen(match, reason)


def _model(info: VoiceInfo) -> PiperModel:
    from coach.sound.piper import find_models

    return next(m for m in find_models()[0] if m.id == info.id)


def _piper_chosen(model: PiperModel, reason: str) -> Chosen:
    return Chosen(_piper_info(model), reason, model)


def _not_installed(wanted: str, faults) -> EnvironmentFault:
    if faults:
        return faults[0]
    return EnvironmentFault(
        f"no installed voice matches '{wanted}'",
        "list the voices with `coach voices` and pass one with --voice",
    )


def _workers() -> int | None:
    """$COACH_SPEECH_WORKERS: how many processes speak Piper's new phrases (0: coach's own,
    one by one); unset, one per core. For tests and benchmarks."""
    raw = os.environ.get("COACH_SPEECH_WORKERS", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise EnvironmentFault(
            f"COACH_SPEECH_WORKERS={raw!r} is not a whole number",
            "set it to a count of processes (0: none), or unset it for one per core",
        )
    return int(raw)


class SpeechVoice:
    """The real voice: Piper or espeak-ng (see `choose`) through the phrase cache, in memory
    and on disk."""

    def __init__(
        self, choice: VoiceChoice, folder: Path | None = None, pronounce: Pronounce = ()
    ) -> None:
        self.choice = choice
        self.pronounce = pronounce  # a routine's respellings, applied to every phrase said
        self.folder = folder or cache.cache_dir()
        self._chosen: Chosen | None = None
        self._engine: Engine | None = None
        self._voice_id: str | None = None
        self._identity: dict | None = None
        self._memory: dict[str, np.ndarray] = {}
        # Phrases (as said) the cache holds, with their number of samples, read from the
        # entries' headers: a compile needs only lengths, so a cached routine reads no audio.
        self._lengths: dict[str, int] = {}
        self.sample_rate = SAMPLE_RATE  # every engine's phrases are brought to this rate
        self.synthesized = 0  # phrases made this run (the rest came from the cache)
        self.workers = _workers()  # processes for `prepare` (None: one per core; 0: none)
        self.serial_reason: str | None = None  # why `prepare` spoke in this process, if it did
        # Phrases being spoken in the background (`speak_ahead`): as said -> where kept.
        self._ahead: SpeakingAhead | None = None
        self._coming: dict[str, Path] = {}
        self._arrived = threading.Condition()

    @property
    def chosen(self) -> Chosen:
        """The voice speaking, and why it is that one (resolved on first use)."""
        if self._chosen is None:
            self._chosen = choose(self.choice)
        return self._chosen

    @property
    def label(self) -> str:
        """The voice's name with its engine: piper:en_US-joe-medium, espeak:gmw/en-US."""
        if self.chosen.engine == ESPEAK:
            return f"{ESPEAK}:{self.voice_id}"  # the engine's id may differ in case
        return self.chosen.info.qualified

    def notes(self) -> tuple[str, ...]:
        """What a person should hear of: a fallback to espeak-ng (with why), and settings the
        voice's engine cannot honour, said rather than silently dropped."""
        from coach.settings import BUILTIN_PITCH

        out = []
        chosen = self.chosen
        if chosen.engine == ESPEAK and chosen.reason != ASKED:
            out.append(f"voice {self.label}: {chosen.reason}")
        if chosen.engine == PIPER and self.choice.pitch != BUILTIN_PITCH:
            out.append(
                f"pitch {self.choice.pitch} is not applied: Piper voices have no pitch "
                f"setting ({self.label}); use an espeak-ng voice (--voice espeak) to change it"
            )
        return tuple(out)

    @property
    def engine(self) -> Engine:
        """espeak-ng through pyttsx3 (for an espeak-ng voice only)."""
        if self._engine is None:
            from coach.sound.espeak import Engine

            self._engine = Engine.get()
        return self._engine

    @property
    def voice_id(self) -> str:
        """espeak-ng's id of the chosen voice (for an espeak-ng voice only), known from its
        facts (coach.sound.espeak.facts) without starting it."""
        if self._voice_id is None:
            from coach.sound import espeak

            choice, info = self.choice, self.chosen.info
            self._voice_id = espeak.facts().resolve(
                VoiceChoice(info.id, choice.language, choice.rate_wpm, choice.volume, choice.pitch)
            )
        return self._voice_id

    def identity(self) -> dict:
        """Everything that changes the sound, for the cache key and the export's comment."""
        if self._identity is None:
            piper = self.chosen.engine == PIPER
            self._identity = self._piper_identity() if piper else self._espeak_identity()
        return self._identity

    def _espeak_identity(self) -> dict:
        from coach.sound import espeak

        e = espeak.facts()
        return {
            "backend": f"pyttsx3-{e.pyttsx3_version}/{e.driver}",
            "engine": e.backend_version,
            "voice": self.voice_id,
            "rate_wpm": self.choice.rate_wpm,
            "pitch": self.choice.pitch,
            "volume": self.choice.volume,
            "processing": cache.PROCESSING_VERSION,
        }

    def _piper_identity(self) -> dict:
        from coach.sound import piper

        model = self.chosen.model
        assert model is not None  # a Piper choice carries its model
        return {
            "backend": piper.versions(),
            "engine": PIPER,
            "voice": model.id,
            "model": piper.model_identity(model.model_path, self.folder),
            "model_sample_rate": model.sample_rate,
            "rate_wpm": self.choice.rate_wpm,
            "length_scale": piper.rate_to_length_scale(self.choice.rate_wpm),
            "noise_scale": piper.NOISE_SCALE,
            "noise_w_scale": piper.NOISE_W_SCALE,
            "sentence_pause_ms": piper.SENTENCE_PAUSE_MS,
            "volume": self.choice.volume,
            "processing": cache.PROCESSING_VERSION,
        }

    def duration_ms(self, text: str) -> int:
        known = self.cached_ms(text)
        return known if known is not None else round(len(self.pcm(text)) * 1000 / self.sample_rate)

    def _samples(self, said: str) -> int | None:
        # The length of a phrase (as said) in memory or known from the cache, else None.
        data = self._memory.get(said)
        return len(data) if data is not None else self._lengths.get(said)

    def estimate_ms(self, text: str) -> int:
        """How long `text` will take, estimated before it is spoken: from its characters for
        Piper (fitted to its voices), from its words and the speech rate for espeak-ng."""
        if self.chosen.engine == PIPER:
            from coach.sound import piper

            return piper.estimated_ms(respell(text, self.pronounce), self.choice.rate_wpm)
        from coach.script.compiler import estimated_durations

        return estimated_durations(self.choice.rate_wpm)(text)

    @property
    def intro_durations(self) -> Callable[[str], int] | None:
        """The lengths a routine's introduction reckons its length with: Piper's estimates,
        so it is the same with an empty or a full cache and `coach play` can say it before
        the rest is spoken; None (the measured lengths) for espeak-ng."""
        return self.estimate_ms if self.chosen.engine == PIPER else None

    def known_ms(self, text: str) -> int | None:
        """The length of `text` if it is spoken already (in memory or the cache), else None."""
        count = self._samples(respell(text, self.pronounce))
        return None if count is None else round(count * 1000 / self.sample_rate)

    def cached_ms(self, text: str) -> int | None:
        """The length of `text` if it is spoken already, looked up in the phrase cache too
        (its entry's header), else None. Nothing is spoken."""
        known = self.known_ms(text)
        if known is None:
            self._missing((text,))  # notes its length when the cache holds it
            known = self.known_ms(text)
        return known

    def pcm(self, text: str) -> np.ndarray:
        # Respelt before the cache, which keys what is said; duration_ms measures it too.
        text = respell(text, self.pronounce)
        found = self._memory.get(text)
        if found is not None:
            return found
        if text in self._coming:
            return self._wait_for(text)
        path = cache.entry_path(self.folder, text, self.identity())
        data = cache.load(path)
        if data is None:
            data = self._make(text)
            cache.store(path, data)
        data.setflags(write=False)
        self._memory[text] = data
        return data

    def _keep(self, said: str, path: Path, data: np.ndarray) -> None:
        """A phrase just made: into the phrase cache at `path`, and into memory, read-only."""
        cache.store(path, data)
        data.setflags(write=False)
        self._memory[said] = data

    def slow_to_speak(self, texts: Iterable[str]) -> bool:
        """Whether speaking `texts` would make a person wait: some are not in the phrase cache
        and the engine is Piper (espeak-ng makes a phrase in milliseconds)."""
        return self.chosen.engine == PIPER and bool(self._missing(texts))

    def _missing(self, texts: Iterable[str]) -> dict[str, Path]:
        # The phrases of `texts` (as said) the cache lacks, with where each will be kept; the
        # lengths of the ones it holds are noted on the way (their audio is read when played).
        unread: dict[str, Path] = {}  # no entry, or a header `samples` does not read
        for said in dict.fromkeys(respell(t, self.pronounce) for t in texts):
            if said in self._memory or said in self._lengths or said in unread:
                continue
            path = cache.entry_path(self.folder, said, self.identity())
            count = cache.samples(path)
            if count is None:
                unread[said] = path
            else:
                self._lengths[said] = count
        if len(unread) > 1 and self.chosen.engine == ESPEAK:
            # Likely two or more to speak: espeak-ng's speaker process starts now, while the
            # entries are read (numpy is imported), not when the phrases are asked for.
            self.engine.start_speaking()
        missing: dict[str, Path] = {}
        for said, path in unread.items():
            data = cache.load(path)
            if data is None:
                missing[said] = path
            else:
                data.setflags(write=False)
                self._memory[said] = data
        return missing

    def prepare(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Make sure every phrase of `texts` is ready: those the phrase cache lacks are spoken,
        by Piper on every core (a thread here and a worker process per other core,
        coach.sound.workers.SpeakingAhead), by espeak-ng's speaker process
        (coach.sound.espeak), a few at a time, each made ready for the cache here as it comes.
        `progress(done, total)` is called as they are made, only when there is something to
        make. Returns how many were made. The samples are the same bytes as `pcm` alone would
        make."""
        missing = self._missing(texts)
        total = len(missing)
        if not total:
            return 0
        made = 0

        def keep(said: str, data: np.ndarray) -> None:
            nonlocal made
            if said not in self._memory:  # kept once, whoever made it
                self._keep(said, missing[said], data)
            made += 1
            if progress is not None:
                progress(made, total)

        if progress is not None:
            progress(0, total)
        if self.chosen.engine == PIPER and total > 1 and self.workers != 0:
            import threading

            from coach.sound import workers

            lock = threading.Lock()  # made by a thread here and by the pool's collector

            def made_by_worker(said: str, data: np.ndarray) -> None:
                with lock:
                    self.synthesized += 1
                    keep(said, data)

            # Longest first, so no one is left with a long phrase at the end; a thread here
            # speaks too (SpeakingAhead), from the moment the voice is loaded, while the
            # worker processes for the other cores start.
            order = sorted(missing, key=len, reverse=True)
            speaking = workers.SpeakingAhead(self._piper_job(), order, made_by_worker, self.workers)
            try:  # at once: a signal between the two would leave the threads speaking at exit
                if speaking.no_pool is not None:
                    self.serial_reason = (
                        f"speech worker processes cannot start here ({speaking.no_pool})"
                    )
                while not speaking.finished.wait(0.25):
                    pass
            finally:
                speaking.close()
            if speaking.fault is not None:
                raise speaking.fault
            return total
        for said, data in self._make_all([s for s in missing if s not in self._memory]):
            keep(said, data)
        return total

    def speak_ahead(self, texts: Iterable[str]) -> int:
        """Start speaking the phrases of `texts` the cache lacks in the background, in the
        order given, and return how many (0: nothing to speak, or not Piper, whose phrases
        `prepare` makes at once). `pcm` waits for a phrase still on its way; `known_ms` says
        which have arrived; `close` stops the rest."""
        if self.chosen.engine != PIPER or self.workers == 0 or self._ahead is not None:
            return 0
        missing = self._missing(texts)
        if not missing:
            return 0
        from coach.sound import workers

        def arrived(said: str, data: np.ndarray) -> None:
            with self._arrived:
                self._keep(said, missing[said], data)
                self.synthesized += 1
                self._arrived.notify_all()

        self._coming = dict(missing)
        self._ahead = workers.SpeakingAhead(self._piper_job(), list(missing), arrived, self.workers)
        if self._ahead.no_pool is not None:
            self.serial_reason = (
                f"speech worker processes cannot start here ({self._ahead.no_pool})"
            )
        return len(missing)

    def waiting_for(self) -> int:
        """How many phrases `speak_ahead` has still to deliver (raises its failure, if any)."""
        ahead = self._ahead
        if ahead is None:
            return 0
        if ahead.fault is not None:
            raise ahead.fault
        return sum(1 for said in self._coming if said not in self._memory)

    def wait_any(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the next phrase from `speak_ahead` (or its failure)."""
        with self._arrived:
            if self.waiting_for():
                self._arrived.wait(timeout_s)
        self.waiting_for()

    def _wait_for(self, said: str) -> np.ndarray:
        ahead = self._ahead
        assert ahead is not None  # only speak_ahead's phrases are coming
        if said not in self._memory:
            ahead.hurry(said)
        with self._arrived:
            while said not in self._memory:
                if ahead.fault is not None:
                    raise ahead.fault
                if ahead.finished.is_set():  # stopped by close
                    raise EnvironmentFault(
                        f"the phrase {said!r} was not spoken", "run the command again"
                    )
                self._arrived.wait(0.1)
            return self._memory[said]

    def close(self) -> None:
        """Stop speaking ahead (the phrases made so far stay in the cache)."""
        if self._ahead is not None:
            self._ahead.close()

    def _piper_job(self) -> PiperJob:
        from coach.sound import piper
        from coach.sound.workers import PiperJob

        model = self.chosen.model
        assert model is not None
        scale = piper.rate_to_length_scale(self.choice.rate_wpm)
        return PiperJob(model, scale, self.choice.volume, self.sample_rate)

    def _make_all(self, texts: list[str]) -> Iterator[tuple[str, np.ndarray]]:
        """(text, `_make(text)`) for each of `texts`, in no set order: espeak-ng's all asked
        for at once, each made ready here while the engine speaks the next (the same
        samples)."""
        if self.chosen.engine == PIPER:
            for text in texts:
                yield text, self._make(text)
            return
        from coach.sound.workers import make_phrase

        engine = self.engine
        for text, (raw, rate) in engine.synthesize_all(texts, self.voice_id, self.choice):
            self.synthesized += 1
            yield text, make_phrase(raw, rate, self.sample_rate)
        if engine.speaker_fault is not None:
            self.serial_reason = engine.speaker_fault

    def _make(self, text: str) -> np.ndarray:
        from coach.sound.workers import make_phrase

        raw, rate = self._synthesize(text)
        self.synthesized += 1
        return make_phrase(raw, rate, self.sample_rate)

    def _synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """`text` from the chosen engine, at that engine's own sample rate."""
        if self.chosen.engine == PIPER:
            from coach.sound import piper

            model = self.chosen.model
            assert model is not None
            scale = piper.rate_to_length_scale(self.choice.rate_wpm)
            return piper.synthesize(model, text, scale, self.choice.volume)
        engine = self.engine
        return engine.synthesize(text, self.voice_id, self.choice)
