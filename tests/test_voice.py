"""The real voice (pyttsx3 over espeak-ng) and its phrase cache."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coach.errors import EnvironmentFault
from coach.sound.cache import cache_stats, clear_cache
from coach.sound.dsp import SPEECH_PEAK_DB
from coach.sound.voice import SpeechVoice, VoiceChoice, find_voice, list_voices


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "cache"


def test_a_phrase_is_speech_at_the_voice_rate_trimmed_and_normalized(folder):
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    pcm = voice.pcm("Breathe in slowly.")
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    seconds = len(pcm) / voice.sample_rate
    assert 0.6 < seconds < 2.5
    peak_db = 20 * np.log10(np.max(np.abs(pcm)))
    assert peak_db <= SPEECH_PEAK_DB + 0.01
    assert abs(pcm[0]) < 1e-3 and abs(pcm[-1]) < 1e-3  # faded ends: no click
    assert voice.duration_ms("Breathe in slowly.") == round(seconds * 1000)


def test_each_phrase_is_synthesized_once_then_read_from_the_cache(folder):
    first = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    a = first.pcm("Keep your shoulders relaxed.")
    first.pcm("Keep your shoulders relaxed.")
    assert first.synthesized == 1
    second = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    b = second.pcm("Keep your shoulders relaxed.")
    assert second.synthesized == 0
    assert np.array_equal(a, b)
    assert cache_stats(folder)[0] == 1


def test_a_phrase_sounds_the_same_whatever_was_spoken_before_it(tmp_path):
    # espeak-ng carries its waveform generator's state from phrase to phrase; spoken in the
    # same process after other phrases, a phrase used to come out a few samples different.
    text = "Hold it there, and breathe."
    first = SpeechVoice(VoiceChoice(None, "en", 165), tmp_path / "a")
    alone = first.pcm(text)
    other = SpeechVoice(VoiceChoice(None, "en", 165), tmp_path / "b")
    other.pcm("Twist your upper body to the right.")
    SpeechVoice(VoiceChoice(None, "en", 200), tmp_path / "c").pcm("Switch sides.")
    after = other.pcm(text)
    assert other.synthesized == 2
    assert np.array_equal(alone, after)


def test_a_faster_rate_is_another_phrase_and_shorter(folder):
    slow = SpeechVoice(VoiceChoice(None, "en", 120), folder)
    fast = SpeechVoice(VoiceChoice(None, "en", 260), folder)
    text = "Twist your upper body to the right and hold."
    assert len(fast.pcm(text)) < 0.75 * len(slow.pcm(text))
    assert cache_stats(folder)[0] == 2


def test_a_corrupt_cache_entry_is_made_again(folder):
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    good = voice.pcm("Rest.")
    (entry,) = folder.glob("*/*.npy")
    entry.write_bytes(b"not a numpy file")
    again = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    remade = again.pcm("Rest.")
    assert again.synthesized == 1
    # espeak-ng's library keeps a little state between phrases (its pitch flutter), so a phrase
    # made again can differ by a few samples; the cache is what makes renders repeatable.
    assert abs(len(remade) - len(good)) < 0.05 * len(good)
    third = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    assert np.array_equal(third.pcm("Rest."), remade) and third.synthesized == 0


def test_an_entry_that_is_not_finite_is_made_again(folder):
    # The mixer relies on every phrase being finite (it clips, and NaN survives clipping).
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    good = voice.pcm("Rest.")
    (entry,) = folder.glob("*/*.npy")
    bad = good.copy()
    bad[len(bad) // 2] = np.nan
    np.save(entry, bad)
    again = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    assert np.array_equal(again.pcm("Rest."), good) and again.synthesized == 1


def test_clear_empties_the_cache(folder):
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    voice.pcm("One.")
    voice.pcm("Two.")
    assert clear_cache(folder) == 2
    assert cache_stats(folder) == (0, 0)


def test_the_engine_prints_nothing_on_stdout(folder, tmp_path):
    script = (
        "from pathlib import Path\nfrom coach.sound.voice import SpeechVoice, VoiceChoice\n"
        f"SpeechVoice(VoiceChoice(None, 'en', 165), Path({str(folder)!r})).pcm('Hello there.')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_concurrent_runs_share_the_cache_without_corrupting_it(folder):
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from coach.sound.voice import SpeechVoice, VoiceChoice\n"
        "v = SpeechVoice(VoiceChoice(None, 'en', 165), Path(sys.argv[1]))\n"
        "for i in range(15): v.pcm(f'Phrase number {i}.')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(folder)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert cache_stats(folder)[0] == 15
    reader = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    for i in range(15):
        reader.pcm(f"Phrase number {i}.")
    assert reader.synthesized == 0
    assert not list(folder.glob("*/.*"))  # no temp files left


def test_voices_are_listed_and_found_by_id_name_or_language():
    voices = list_voices()
    assert len(voices) > 20
    english = list_voices("en")
    assert english and all(any(x.startswith("en") for x in v.languages) for v in english)
    assert find_voice(voices, "en-gb") is not None
    assert find_voice(voices, "English (Great Britain)").id == find_voice(voices, "gmw/en").id


def test_an_unknown_voice_is_an_environment_error_with_a_fix(folder):
    voice = SpeechVoice(VoiceChoice("klingon-opera", "en", 165), folder)
    with pytest.raises(EnvironmentFault) as e:
        voice.pcm("Hello.")
    assert "no installed voice matches 'klingon-opera'" in str(e.value)
    assert "coach voices" in e.value.hint
    assert e.value.exit_code == 1


def test_markup_is_read_as_text_not_interpreted(folder):
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    plain = voice.pcm("Hold")
    marked = voice.pcm("<speak>Hold</speak> & relax")
    assert len(marked) > 2 * len(plain)  # the tags and the ampersand are spoken, not swallowed


@pytest.mark.parametrize(
    "name",
    ["upper-back-quick", pytest.param("upper-back-full", marks=pytest.mark.slow)],  # 800 phrases
)
def test_preparing_phrases_first_gives_the_script_of_measuring_one_by_one(
    name, tmp_path, monkeypatch
):
    # load_spoken learns the phrases from a compile with estimates and makes them all at
    # once; the script must be the one that measuring each phrase as it is met gives.
    from coach.pipeline import find, load_spoken
    from coach.routine.library import shown_path
    from coach.routine.parser import load_routine
    from coach.script import cues
    from coach.script.compiler import compile
    from coach.settings import Settings, resolve

    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "a"))
    seen: list[int] = []
    prepared = load_spoken(name, None, lambda done, total, voice: seen.append(total))
    assert seen and prepared.voice.synthesized >= seen[0]  # spoken here, the cache was empty
    source = find(name)
    routine = load_routine(source.path, shown_path(source))
    pacing = resolve(routine, Settings())
    choice = VoiceChoice(pacing.voice, routine.language, pacing.rate_wpm, pitch=pacing.pitch)
    voice = SpeechVoice(choice, tmp_path / "b", routine.pronounce)
    assert cues.dumps(prepared.script) == cues.dumps(compile(routine, None, voice.duration_ms))


def test_a_cached_routine_is_compiled_from_the_lengths_in_the_cache_reading_no_audio(
    tmp_path, monkeypatch
):
    from coach.pipeline import load_spoken
    from coach.script import cues
    from coach.sound import cache

    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "cache"))
    measured = load_spoken("upper-back-quick")  # spoken here: lengths from the samples
    assert measured.voice.synthesized > 0

    def no_audio(path):
        raise AssertionError(f"read the audio of {path}")

    monkeypatch.setattr(cache, "load", no_audio)
    cached = load_spoken("upper-back-quick")
    assert cached.voice.synthesized == 0
    assert cues.dumps(cached.script) == cues.dumps(measured.script)


def test_an_entry_whose_header_is_not_read_is_measured_from_its_audio(folder):
    from coach.sound import cache

    text = "Roll your shoulders back."
    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    pcm = voice.pcm(text)
    (entry,) = folder.glob("*/*.npy")
    with entry.open("wb") as f:  # the .npy format's version 2.0: a header `samples` leaves alone
        np.lib.format.write_array(f, pcm, version=(2, 0))
    assert cache.samples(entry) is None
    again = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    assert again.prepare([text]) == 0  # found in the cache, by its audio
    assert again.duration_ms(text) == voice.duration_ms(text)
    assert again.synthesized == 0


def test_an_entry_cut_short_has_no_length_and_is_made_again(folder):
    from coach.sound import cache

    voice = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    pcm = voice.pcm("Relax your jaw.")
    (entry,) = folder.glob("*/*.npy")
    assert cache.samples(entry) == len(pcm)
    entry.write_bytes(entry.read_bytes()[:-4])
    assert cache.samples(entry) is None
    again = SpeechVoice(VoiceChoice(None, "en", 165), folder)
    assert again.prepare(["Relax your jaw."]) == 1
    assert again.duration_ms("Relax your jaw.") == voice.duration_ms("Relax your jaw.")
    assert again.synthesized == 1


@pytest.mark.parametrize(
    ("dist", "module"),
    [("pyttsx3", None), ("piper-tts", "piper"), ("onnxruntime", None), ("numpy", None)],
)
def test_the_engines_versions_are_read_as_importlib_metadata_reads_them(dist, module):
    # They are in every phrase's cache key: read another way, each must be the same text.
    from importlib.metadata import version

    from coach.sound import installed

    assert installed.version(dist, module) == version(dist)
    assert installed.version("no-such-distribution") == "?"


def test_phrases_spoken_together_are_the_samples_of_each_spoken_alone(tmp_path):
    # `prepare` has espeak-ng speak a batch of phrases, a few at once; `pcm` one at a time.
    texts = [
        "Breathe in.",
        "Hold it there, and breathe.",
        "Switch sides. Now the left side.",
        "Rest.",
        "Three.",
        "Twist your upper body to the right and hold.",
    ]
    together = SpeechVoice(VoiceChoice(None, "en", 165), tmp_path / "a")
    assert together.prepare(texts) == len(texts) == together.synthesized
    alone = SpeechVoice(VoiceChoice(None, "en", 165), tmp_path / "b")
    for text in texts:
        assert np.array_equal(together.pcm(text), alone.pcm(text)), text
    assert alone.synthesized == len(texts)


def test_an_entry_reads_back_as_numpy_reads_it(tmp_path):
    # cache.load reads the layout `store` writes straight from its bytes; any other layout
    # goes through np.load.
    from coach.sound import cache

    pcm = np.random.default_rng(2).uniform(-1, 1, 12_345).astype(np.float32)
    entry = tmp_path / "ab" / "entry.npy"
    cache.store(entry, pcm)
    found = cache.load(entry)
    assert found is not None and found.dtype == np.float32 and not found.flags.writeable
    assert np.array_equal(found, np.load(entry)) and np.array_equal(found, pcm)
    with entry.open("wb") as f:
        np.lib.format.write_array(f, pcm, version=(2, 0))
    found = cache.load(entry)
    assert found is not None and np.array_equal(found, pcm)
    assert cache.load(tmp_path / "none.npy") is None


# -- each phrase as if it were the first spoken -----------------------------------------------

# Speaks the phrases of a JSON request {voice, rate_wpm, volume, pitch, texts, out} through
# espeak-ng in this fresh process, started and set exactly as coach starts and sets it, one
# after another with nothing between them, and saves each one's int16 samples in `out` (an
# .npz). One phrase per process is the definition of a phrase spoken first.
_SPEAK_IN_A_ROW = """
import ctypes, json, sys
import numpy as np
from pyttsx3.drivers import _espeak
from coach.sound.espeak import Engine
from coach.sound.voice import VoiceChoice

asked = json.loads(sys.argv[1])
engine = Engine.get()
choice = VoiceChoice(None, "", asked["rate_wpm"], asked["volume"], asked["pitch"])
engine._apply(asked["voice"], choice)
chunks = []

def keep(wav, count, _events):
    if wav and count > 0:
        chunks.append(ctypes.string_at(wav, count * 2))
    return 0

_espeak.SetSynthCallback(keep)
spoken = {}
for i, text in enumerate(asked["texts"]):
    chunks.clear()
    assert _espeak.Synth(text, flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8) == _espeak.EE_OK
    spoken[f"p{i}"] = np.frombuffer(b"".join(chunks), dtype="<i2")
np.savez(asked["out"], **spoken)
"""


def _speak_in_processes(folder, voice_id: str, choice, batches: list[list[str]]) -> list[dict]:
    """{text: int16 bytes} for each batch, each batch spoken in a row by a fresh process (two at
    a time), as `_SPEAK_IN_A_ROW` does."""
    out, procs = [], []
    for n, texts in enumerate(batches):
        asked = {
            "voice": voice_id,
            "rate_wpm": choice.rate_wpm,
            "volume": choice.volume,
            "pitch": choice.pitch,
            "texts": texts,
            "out": str(folder / f"batch-{n}.npz"),
        }
        if len(procs) >= 2:
            assert procs.pop(0).wait(120) == 0
        procs.append(subprocess.Popen([sys.executable, "-c", _SPEAK_IN_A_ROW, json.dumps(asked)]))
        out.append((texts, asked["out"]))
    for proc in procs:
        assert proc.wait(120) == 0
    spoken = []
    for texts, path in out:
        with np.load(path) as saved:
            spoken.append({t: saved[f"p{i}"].tobytes() for i, t in enumerate(texts)})
    return spoken


def _builtin_phrases(name: str, count: int) -> list[str]:
    """`count` of the built-in routine's phrases: the shortest, the longest, and some between."""
    from coach.routine.library import builtin_dir
    from coach.routine.parser import load_routine
    from coach.script.compiler import compile
    from tests.support import fake_durations

    script = compile(load_routine(builtin_dir() / f"{name}.yaml"), None, fake_durations)
    texts = sorted({c.text for c in script.cues if c.text}, key=lambda t: (len(t), t))
    between = random.Random(name).sample(texts[1:-1], count - 2)
    return [texts[0], *between, texts[-1]]


def _int16(pcm: np.ndarray) -> bytes:
    # The engine's int16 samples, as they were before they became float32 (exactly: n / 32768).
    return np.round(pcm * 32768).astype("<i2").tobytes()


# The built-in routines' phrases in every language, at the slowest, the usual and the fastest
# speech rate, and both ends of the pitch.
SPOKEN_FIRST = [
    ("upper-back-full", "en", 165, 50),
    ("upper-back-desk-de", "de", 80, 50),
    ("upper-back-desk-es", "es", 450, 0),
    ("upper-back-desk-fr", "fr", 165, 99),
]


@pytest.mark.parametrize(("routine", "language", "rate_wpm", "pitch"), SPOKEN_FIRST)
def test_a_batch_in_any_order_gives_each_phrase_as_the_first_spoken_in_a_process(
    tmp_path, routine, language, rate_wpm, pitch
):
    from coach.sound.espeak import Engine

    texts = _builtin_phrases(routine, 5)
    engine = Engine.get()
    voice_id = engine.facts.resolve(VoiceChoice(None, language))
    choice = VoiceChoice(voice_id, language, rate_wpm, pitch=pitch)
    *alone, in_a_row = _speak_in_processes(
        tmp_path, voice_id, choice, [*([t] for t in texts), texts]
    )
    first = {t: spoken[t] for spoken in alone for t in spoken}
    # What is spoken before a phrase in the same process changes its samples (so this test
    # could fail): espeak-ng keeps state from one phrase to the next.
    assert [t for t in texts[1:] if in_a_row[t] != first[t]], "no phrase changed by the one before"
    order = list(texts)
    for seed in range(3):  # batches in shuffled orders, through the speaker process
        random.Random(seed).shuffle(order)
        spoken = dict(engine.synthesize_all(order, voice_id, choice))
        assert engine.speaker_fault is None
        assert sorted(spoken) == sorted(texts)
        for text in texts:
            pcm, rate = spoken[text]
            assert rate == engine.sample_rate
            assert _int16(pcm) == first[text], (seed, text)


@pytest.mark.parametrize("broken", ["no interpreter", "an interpreter that exits"])
def test_without_the_speaker_process_coach_speaks_the_same_samples_itself(
    tmp_path, monkeypatch, broken
):
    # The speaker process cannot start: each phrase is spoken by a fork of coach instead.
    from coach.sound import espeak
    from coach.sound.espeak import Engine

    texts = _builtin_phrases("upper-back-quick", 3)
    engine = Engine.get()
    voice_id = engine.facts.resolve(VoiceChoice(None, "en"))
    choice = VoiceChoice(voice_id, "en", 165)
    first = {
        t: s[t]
        for s in _speak_in_processes(tmp_path, voice_id, choice, [[t] for t in texts])
        for t in s
    }
    monkeypatch.setattr(engine, "_speaker", None)
    monkeypatch.setattr(engine, "speaker_fault", None)
    monkeypatch.setattr(espeak, "HELD", 2)  # in two batches
    python = str(tmp_path / "missing" / "python") if broken == "no interpreter" else "/bin/false"
    monkeypatch.setattr(sys, "executable", python)
    spoken = dict(engine.synthesize_all(texts, voice_id, choice))
    assert engine._speaker is None
    if broken == "no interpreter":
        assert engine.speaker_fault.startswith("the speaker process cannot start (")
    else:
        assert engine.speaker_fault == (
            "the speaker process did not start (the speaker process stopped with status 1)"
        )
    assert {t: _int16(spoken[t][0]) for t in texts} == first


_FACTS_PROBE = (
    "import json, sys\n"
    "from coach.sound.voice import SpeechVoice, VoiceChoice\n"
    "voice = SpeechVoice(VoiceChoice('espeak', 'en'))\n"
    "print(json.dumps([voice.identity(), voice.label, 'pyttsx3' in sys.modules]))\n"
)


def test_espeak_ngs_facts_are_noted_and_used_till_its_install_changes(tmp_path):
    """A cached compile or warm export builds the cache key without starting espeak-ng
    (50-90 ms): its versions and voices are noted in the cache folder with the files they
    came from, and give the same key and voice as the started engine."""
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "COACH_CACHE_DIR": str(cache)}

    def probe(extra: dict[str, str] | None = None) -> tuple[dict, str, bool]:
        done = subprocess.run(
            [sys.executable, "-c", _FACTS_PROBE],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        identity, label, started = json.loads(done.stdout.strip().splitlines()[-1])
        return identity, label, started

    first = probe()
    assert first[2]  # nothing noted yet: espeak-ng was started to learn them
    from coach.sound.espeak import FACTS_NOTE

    assert (cache / FACTS_NOTE).is_file()
    again = probe()
    assert again == (first[0], first[1], False)  # the same key and voice, not started
    # Its data named by ESPEAK_DATA_PATH (the same files here) may be another install:
    # espeak-ng is started again to learn it.
    data = next(Path(p) for p in _DATA_HOMES if (Path(p) / "espeak-ng-data").is_dir())
    moved = probe({"ESPEAK_DATA_PATH": str(data)})
    assert moved == (first[0], first[1], True)
    assert probe({"ESPEAK_DATA_PATH": str(data)})[2] is False  # and that is noted too


# Where Debian and others keep espeak-ng's data (the folder holding espeak-ng-data).
_DATA_HOMES = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/share")


def test_a_cached_routine_is_compiled_once_to_the_script_its_voice_gives(tmp_path, monkeypatch):
    """A compile of a routine whose phrases are all cached takes every length from the cache
    at once: one compile, and the very script a compile asking the voice phrase by phrase
    gives (from an empty cache, the phrases are spoken first and the routine compiled
    again)."""
    from coach.pipeline import load_spoken
    from coach.script import compiler

    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = compiler.compile

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler, "compile", counted)
    cold = load_spoken("upper-back-quick")
    assert len(calls) == 2  # lengths estimated, phrases spoken, compiled again
    calls.clear()
    warm = load_spoken("upper-back-quick")
    assert len(calls) == 1
    assert warm.voice.synthesized == 0
    assert warm.script == cold.script
    voice = SpeechVoice(warm.voice.choice, pronounce=warm.routine.pronounce)
    by_phrase = real(warm.routine, None, voice.duration_ms, voice.intro_durations)
    assert warm.script == by_phrase
