"""The README's Guarantees, tried on a real `coach` process: real signals, a real missing
library, a really hung speech engine, long routines and many exports in a row.

Each test checks what a person would find afterwards: the exit code, the message (never a
traceback), and what is left on disk (no output file, no temp file, a cache whose every entry
loads).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from coach.sound.espeak import FACTS_NOTE
from coach.sound.piper import LOADS_NOTE
from tests.memory import peak_mib

BOUNDED_MIB = 300  # peak memory of a two-hour export or play (a whole session would be 1+ GiB)


def wait_until(condition, what: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"coach ended before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {timeout_s:g} s")
        time.sleep(0.005)


def cache_is_sound(folder: Path) -> int:
    """Every entry loads as a phrase and no temp file is left; returns how many entries."""
    entries = list(folder.glob("*/*.npy"))
    for entry in entries:
        data = np.load(entry, allow_pickle=False)
        assert data.dtype == np.float32 and data.ndim == 1 and len(data), entry
    # Beside the entries: the notes of what the engines are (coach.sound.installed), whole.
    notes = {FACTS_NOTE: "noted", LOADS_NOTE: "noted"}
    for name, key in notes.items():
        if (folder / name).exists():
            assert key in json.loads((folder / name).read_text(encoding="utf-8")), name
    others = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".npy"]
    assert [p for p in others if p.name not in notes] == []  # no temp file, no half entry
    return len(entries)


def speakers(cache: Path) -> list[int]:
    """The espeak-ng speaker processes (coach.sound.espeak_forks) of a coach run with `cache`
    as its phrase cache, and their children, still running."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        speaker = b"from coach.sound.espeak_forks import serve" in command
        if speaker and f"COACH_CACHE_DIR={cache}".encode() in environ:
            found.append(int(proc.name))
    return found


def no_speakers_left(cache: Path) -> None:
    """The speaker goes with coach: at once when coach stops it, within a moment when coach
    has gone without a word (it reads the end of its input)."""
    deadline = time.monotonic() + 10
    while speakers(cache) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert speakers(cache) == []


def long_routine(folder: Path, minutes: int, unique: int = 0) -> Path:
    """At least `minutes` long, of one sentence said over and over (a warm cache after one
    `show`); or `unique` exercises with a sentence each to synthesize."""
    if unique:
        steps = "".join(
            f"  - exercise: Reach {i}\n    say: Exercise {i}, reach up high, then let the "
            "arms come down slowly.\n    hold: 5s\n"
            for i in range(unique)
        )
    else:  # a round is a minute's hold and the words around it: over a minute
        tens, ones = divmod(minutes, 10)
        inner = (
            "      - repeat: 10\n        steps:\n          - exercise: Reach\n"
            "            say: Reach up high, then let the arms come down slowly.\n"
            "            hold: 60s\n"
        )
        steps = f"  - repeat: {tens}\n    steps:\n{inner}" if tens else ""
        if ones:
            steps += (
                f"  - repeat: {ones}\n    steps:\n      - exercise: Reach\n"
                "        say: Reach up high, then let the arms come down slowly.\n"
                "        hold: 60s\n"
            )
    path = folder / "long.yaml"
    path.write_text(f"title: Long\nsteps:\n{steps}", encoding="utf-8")
    return path


# -- interrupting an export -----------------------------------------------------------------


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.slow  # a 30-minute routine encoded until the signal
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_while_encoding_leaves_no_file(tmp_path, sig, run_coach, start_coach):
    routine = long_routine(tmp_path, 30)
    assert run_coach("show", routine).returncode == 0  # its sentences cached: encoding is what runs
    out = tmp_path / "out"
    out.mkdir()
    proc = start_coach("export", routine, "-o", out / "long.mp3")
    wait_until(
        lambda: any(p.suffix == ".part" and p.stat().st_size > 100_000 for p in out.iterdir()),
        "temp file being written",
        proc,
    )
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 130
    err = proc.stderr.read()
    assert err == "coach: interrupted\n"
    assert list(out.iterdir()) == []


@pytest.mark.slow  # synthesizes hundreds of phrases
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_while_synthesizing_leaves_a_sound_cache_and_no_file(
    tmp_path, sig, run_coach, start_coach
):
    routine = long_routine(tmp_path, 10, unique=400)
    cache = tmp_path / "cache"
    env = {**os.environ, "COACH_CACHE_DIR": str(cache)}
    out = tmp_path / "out"
    out.mkdir()
    proc = start_coach("export", routine, "-o", out / "long.flac", env=env)
    wait_until(lambda: len(list(cache.glob("*/*.npy"))) >= 20, "phrases cached", proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 130
    assert _after_speaking(proc.stderr.read(), "espeak:gmw/en") == "coach: interrupted\n"
    assert list(out.iterdir()) == []
    no_speakers_left(cache)
    kept = cache_is_sound(cache)
    assert 20 <= kept < 400 * 2  # stopped part way (each exercise has a sentence or two)
    # What was kept is used, and the rest is made: the next run finishes.
    done = run_coach("export", routine, "-o", out / "long.flac", "-q", env=env)
    assert done.returncode == 0, done.stderr
    assert cache_is_sound(cache) > kept


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes in /proc")
def test_coach_killed_while_synthesizing_leaves_no_speaker_behind(tmp_path, start_coach):
    # SIGKILL: coach cannot stop its speaker process, which must notice on its own.
    routine = long_routine(tmp_path, 10, unique=200)
    cache = tmp_path / "cache"
    env = {**os.environ, "COACH_CACHE_DIR": str(cache)}
    proc = start_coach("export", routine, "-o", tmp_path / "long.flac", env=env)
    wait_until(lambda: len(list(cache.glob("*/*.npy"))) >= 10, "phrases cached", proc)
    assert speakers(cache)
    proc.kill()
    proc.wait(timeout=30)
    no_speakers_left(cache)
    # Killed mid-write, coach may leave a temp file in the cache; every entry is whole.
    for entry in cache.glob("*/*.npy"):
        assert np.load(entry, allow_pickle=False).dtype == np.float32, entry


# -- the environment failing for real ---------------------------------------------------------


def _espeak_library() -> Path | None:
    import ctypes.util

    name = ctypes.util.find_library("espeak-ng")
    if not name:
        return None
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        found = Path(folder) / name
        if found.exists():
            return found.resolve()
    return None


def test_a_missing_speech_library_is_an_environment_fault_with_the_fix(tmp_path, coach_command):
    library = _espeak_library()
    if library is None:
        pytest.skip("libespeak-ng is not installed where this test can hide it")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding the library needs root and unshare (util-linux)")
    # A private mount namespace where the real library file is an empty one.
    out = tmp_path / "x.wav"
    script = f'mount --bind /dev/null "{library}" && exec "$@"'
    proc = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            *coach_command,
            "export",
            "upper-back-quick",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COACH_CACHE_DIR": str(tmp_path / "empty-cache")},
    )
    if "mount" in proc.stderr and "permission denied" in proc.stderr.lower():
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("coach: error: no text-to-speech engine could be started")
    assert lines[1] == (
        "coach:   fix: install espeak-ng: sudo apt-get install espeak-ng "
        "(scripts/coach installs it when run as root)"
    )
    assert len(lines) == 2
    assert not out.exists()


def _after_speaking(stderr: str, voice: str) -> str:
    """stderr after the line that says new phrases are being spoken (the cache was empty)."""
    first, _, rest = stderr.partition("\n")
    assert re.fullmatch(
        rf"coach: speaking \d+ new phrases with {re.escape(voice)} "
        r"\(once; they are kept in the phrase cache\)",
        first,
    ), stderr
    return rest


def test_a_hung_speech_engine_times_out_with_a_clear_error(tmp_path, run_coach):
    # espeak-ng reads a voice's dictionary when the voice is chosen; here the German one is a
    # named pipe with no writer, so the real engine blocks for good on opening it.
    data = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")
    if not (data / "de_dict").exists():
        pytest.skip(f"espeak-ng's data is not at {data}")
    fake = tmp_path / "espeak" / "espeak-ng-data"
    fake.mkdir(parents=True)
    for item in data.iterdir():
        if item.name != "de_dict":
            (fake / item.name).symlink_to(item)
    os.mkfifo(fake / "de_dict")
    out = tmp_path / "x.wav"
    env = {
        **os.environ,
        "ESPEAK_DATA_PATH": str(fake.parent),
        "COACH_TTS_TIMEOUT_S": "2",
        "COACH_CACHE_DIR": str(tmp_path / "cache"),
    }
    started = time.monotonic()
    proc = run_coach("export", "upper-back-quick", "--voice", "de", "-o", out, env=env, timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    assert _after_speaking(proc.stderr, "espeak:gmw/de") == (
        "coach: error: the speech engine did not finish a phrase within 2 s\n"
        "coach:   fix: check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null\n"
    )
    assert not out.exists()
    no_speakers_left(tmp_path / "cache")  # the hung one is killed


def test_a_bad_timeout_setting_is_bad_input(tmp_path, run_coach):
    env = {**os.environ, "COACH_TTS_TIMEOUT_S": "soon", "COACH_CACHE_DIR": str(tmp_path)}
    proc = run_coach("export", "upper-back-quick", "-o", tmp_path / "x.wav", env=env)
    assert proc.returncode == 2
    assert _after_speaking(proc.stderr, "espeak:gmw/en") == (
        "coach: error: COACH_TTS_TIMEOUT_S: must be a number of seconds above 0, found 'soon'\n"
    )


def test_an_unwritable_cache_still_exports(tmp_path, run_coach):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    env = {**os.environ, "COACH_CACHE_DIR": str(blocked / "phrases")}
    proc = run_coach("export", "upper-back-quick", "-o", tmp_path / "x.wav", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.wav").exists()


# -- long runs --------------------------------------------------------------------------------


def _peak_mib(
    start_coach, args, env=None, stop_after_s: float | None = None
) -> tuple[int, float, str]:
    """Run coach; (exit code, peak memory in MiB, stderr). SIGINT after `stop_after_s`."""
    with tempfile.TemporaryFile("w+") as err:
        proc = start_coach(*args, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak = peak_mib(proc, stop_after_s)
        err.seek(0)
        return proc.returncode, peak, err.read()


@pytest.mark.slow  # a two-hour export
def test_a_two_hour_routine_exports_in_bounded_memory_to_its_full_length(
    tmp_path, run_coach, start_coach
):
    routine = long_routine(tmp_path, 120)
    assert run_coach("show", routine).returncode == 0
    out = tmp_path / "long.flac"
    code, peak_mib, err = _peak_mib(start_coach, ["export", routine, "-o", out])
    assert code == 0, err
    assert 20 < peak_mib < BOUNDED_MIB, f"peak memory {peak_mib:.0f} MiB"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = float(probe.stdout)
    assert seconds > 115 * 60
    from coach.pipeline import load_spoken

    assert abs(seconds * 1000 - load_spoken(str(routine)).script.duration_ms) < 50


@pytest.mark.slow  # plays twice for 5 s in real time
@pytest.mark.audio
def test_playing_a_two_hour_routine_takes_no_more_memory_than_a_short_one(
    tmp_path, run_coach, start_coach
):
    routine = long_routine(tmp_path, 120)
    assert run_coach("show", routine).returncode == 0
    code, long_mib, err = _peak_mib(start_coach, ["play", routine, "--quiet"], stop_after_s=5)
    assert code == 130, err
    short = tmp_path / "short"
    short.mkdir()
    code, short_mib, err = _peak_mib(
        start_coach, ["play", long_routine(short, 2), "--quiet"], stop_after_s=5
    )
    assert code == 130, err
    assert short_mib > 20 and long_mib < BOUNDED_MIB and long_mib < short_mib + 40, (
        long_mib,
        short_mib,
    )


@pytest.mark.slow  # a hundred exports
def test_a_hundred_exports_in_a_row_leave_no_temp_files_or_open_files(tmp_path):
    from coach.export.session import export

    routine = tmp_path / "tiny.yaml"
    routine.write_text("title: Tiny\nsteps:\n  - exercise: Reach\n    hold: 3s\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    formats = ["wav", "flac", "mp3", "ogg", "opus"] + (["m4a"] if shutil.which("ffmpeg") else [])
    export(str(routine), out / "warm.wav")  # imports, the engine and the cache warmed up

    def open_files() -> list[str]:
        return sorted(
            os.readlink(f"/proc/self/fd/{fd}")
            for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")
        )

    def temp_files() -> set[str]:
        return set(os.listdir(tempfile.gettempdir()))

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting open files needs /proc")
    files_before, temp_before = open_files(), temp_files()
    for i in range(100):
        fmt = formats[i % len(formats)]
        export(str(routine), out / f"r.{fmt}", force=True)
    assert open_files() == files_before
    assert temp_files() - temp_before == set()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["warm.wav", *(f"r.{f}" for f in formats)]
    )


# -- text is text -----------------------------------------------------------------------------


def test_markup_in_a_routine_is_spoken_as_text_through_the_cli(tmp_path, run_coach):
    routine = tmp_path / "markup.yaml"
    routine.write_text(
        'title: "<speak>Markup</speak> & co"\nsteps:\n'
        "  - exercise: 'Reach <break time=\"3s\"/> up'\n"
        "    say: 'Say \"this\" & <emphasis>that</emphasis>.'\n    hold: 3s\n",
        encoding="utf-8",
    )
    shown = run_coach("compile", routine)
    assert shown.returncode == 0, shown.stderr
    assert 'Say "this" & <emphasis>that</emphasis>.' in shown.stdout
    out = tmp_path / "m.mp3"
    proc = run_coach("export", routine, "-o", out, "--captions", "vtt", "-q")
    assert proc.returncode == 0, proc.stderr
    captions = out.with_suffix(".vtt").read_text(encoding="utf-8")
    # WebVTT escapes what would otherwise be read as its own markup.
    assert 'Say "this" &amp; &lt;emphasis&gt;that&lt;/emphasis&gt;.' in captions


if sys.platform != "linux":  # pragma: no cover - faults staged and memory read the Linux way
    pytestmark = pytest.mark.skip(reason="these faults are staged with Linux tools")
