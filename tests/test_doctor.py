"""`coach doctor`'s checks: run for real on this machine, then with one part broken at a time."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from coach.doctor import Check, exit_code, format_checks, run_checks
from coach.errors import EnvironmentFault
from coach.sound.cache import cache_stats
from coach.sound.voice import find_voice, list_voices
from coach.state import state_dir

NAMES = [
    "TTS engine",
    "voice",
    "audio output",
    "ffmpeg",
    "phrase cache",
    "config",
    "state folder",
    "media keys",
]


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    # The person's own state folder must not decide (or be touched by) these tests.
    monkeypatch.setenv("COACH_STATE_DIR", str(tmp_path / "state"))


def by_name(checks, name: str) -> Check:
    return next(c for c in checks if c.name == name)


def a_file(tmp_path):
    """A regular file: nothing can be created under it, even by root (who ignores chmod)."""
    path = tmp_path / "plain-file"
    path.write_text("not a folder\n")
    return path


# -- this machine, for real ----------------------------------------------------------------


def test_every_check_runs_in_order_and_each_failure_has_a_fix():
    checks = run_checks()
    assert [c.name for c in checks] == NAMES
    assert all(c.status in ("ok", "warn", "fail") for c in checks)
    assert all(c.detail for c in checks)
    assert all(c.fix for c in checks if c.status == "fail")
    assert exit_code(checks) == (1 if any(c.status == "fail" for c in checks) else 0)


def test_the_speech_engine_speaks_a_phrase_without_touching_the_phrase_cache(phrase_cache):
    before = cache_stats(phrase_cache)
    tts = by_name(run_checks(), "TTS engine")
    assert tts.status == "ok", tts
    voices = int(re.search(r"(\d+) voices?", tts.detail)[1])
    assert voices == len(list_voices()) > 0
    assert re.match(r"espeak-ng \S+ through pyttsx3 \S+, ", tts.detail)
    seconds = float(re.search(r"gave (\d+\.\d) s of speech", tts.detail)[1])
    assert 0.5 < seconds < 8
    assert cache_stats(phrase_cache) == before


def test_with_no_voice_configured_the_default_is_named():
    voice = by_name(run_checks(), "voice")
    assert voice.status == "ok", voice
    assert voice.detail.startswith("none configured")
    assert "(English: " in voice.detail


def test_the_checks_take_well_under_the_time_of_a_coffee():
    import time

    run_checks()  # warm: the engine starts once per process
    start = time.monotonic()
    run_checks()
    assert time.monotonic() - start < 5  # ~0.3 s here; slack for a loaded machine


# -- the voice and the config file -----------------------------------------------------------


def test_a_configured_voice_that_exists_is_named_with_its_id():
    config = os.environ["COACH_CONFIG"]
    with open(config, "w", encoding="utf-8") as f:
        f.write("voice: en-gb\npace: 1.2\n")
    checks = run_checks()
    voice = by_name(checks, "voice")
    assert voice.status == "ok", voice
    match = find_voice(list_voices(), "en-gb")  # espeak-ng: gmw/en, English (Great Britain)
    assert voice.detail == f"'en-gb' from {config}: {match.id} ({match.name})"
    assert by_name(checks, "config") == Check("config", "ok", f"{config}: loads, sets pace, voice")


def test_a_configured_voice_that_is_not_installed_fails_with_a_fix():
    config = os.environ["COACH_CONFIG"]
    with open(config, "w", encoding="utf-8") as f:
        f.write("voice: en-gbb\n")
    voice = by_name(run_checks(), "voice")
    assert voice.status == "fail"
    assert voice.detail.startswith(f"'en-gbb', set in {config}, is not an installed voice")
    assert "did you mean" in voice.detail
    assert "coach voices" in voice.fix and config in voice.fix


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("hodl: 30s\n", "1:1", "unknown key 'hodl' in the config file; did you mean 'hold'?"),
        ("pace: [1,\n", "2:1", "invalid YAML: "),
    ],
    ids=["unknown key", "bad YAML"],
)
def test_a_broken_config_file_is_a_failing_check_that_points_at_the_line(text, where, message):
    config = os.environ["COACH_CONFIG"]
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)
    checks = run_checks()  # must not raise
    check = by_name(checks, "config")
    assert check.status == "fail"
    assert check.detail.startswith(f"{config}:{where}: error: {message}")
    assert check.fix.startswith(f"correct {config}; its keys: pace, hold,")
    # The voice cannot be known either, but the one problem is counted once.
    assert by_name(checks, "voice").status == "warn"
    assert exit_code(checks) == 1


def test_a_missing_config_file_is_fine_and_is_not_created():
    config = os.environ["COACH_CONFIG"]
    check = by_name(run_checks(), "config")
    assert check == Check("config", "ok", f"{config}: not created yet; the defaults apply")
    assert not os.path.exists(config)


def test_a_config_folder_that_cannot_be_made_is_a_warning(tmp_path, monkeypatch):
    config = a_file(tmp_path) / "coach" / "config.yaml"
    monkeypatch.setenv("COACH_CONFIG", str(config))
    check = by_name(run_checks(), "config")
    assert check.status == "warn"
    assert "is a file, not a folder" in check.detail
    assert "COACH_CONFIG" in check.fix


# -- folders: the phrase cache and the state folder -----------------------------------------


def _read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (folder / "probe").write_text("")
    except PermissionError:
        return folder
    (folder / "probe").unlink()
    folder.chmod(0o700)
    pytest.skip("chmod does not stop this user writing (root); 'under a file' covers it")


@pytest.mark.parametrize(
    "how", ["read-only folder", "under a file", "is a file", "under a dangling symlink"]
)
def test_a_phrase_cache_that_cannot_be_written_fails_with_a_fix(tmp_path, monkeypatch, how):
    if how == "read-only folder":
        folder = _read_only_folder(tmp_path)
    elif how == "under a file":
        folder = a_file(tmp_path) / "phrases"
    elif how == "is a file":
        folder = a_file(tmp_path)
    else:
        (tmp_path / "link").symlink_to(tmp_path / "gone")
        folder = tmp_path / "link" / "phrases"
    monkeypatch.setenv("COACH_CACHE_DIR", str(folder))
    try:
        checks = run_checks()
    finally:
        if how == "read-only folder":
            folder.chmod(0o700)  # so pytest can remove it
    cache = by_name(checks, "phrase cache")
    assert cache.status == "fail"
    expected = {
        "read-only folder": ": cannot write in it (Permission denied)",
        "under a file": f" cannot be created: {folder.parent} is a file, not a folder",
        "is a file": " is a file, not a folder",
        "under a dangling symlink": f": {folder.parent} is a symbolic link to nothing",
    }[how]
    assert cache.detail.startswith(str(folder) + expected)
    assert "COACH_CACHE_DIR" in cache.fix
    assert exit_code(checks) == 1
    # Speech itself does not depend on the cache: the test phrase has a cache of its own.
    assert by_name(checks, "TTS engine").status == "ok"


def test_the_phrase_cache_is_counted_and_a_missing_one_is_not_created(tmp_path, monkeypatch):
    folder = tmp_path / "phrases"
    monkeypatch.setenv("COACH_CACHE_DIR", str(folder))
    assert by_name(run_checks(), "phrase cache") == Check(
        "phrase cache", "ok", f"{folder}: not created yet (it will be on first use)"
    )
    assert not folder.exists()
    (folder / "ab").mkdir(parents=True)
    (folder / "ab" / "abcd.npy").write_bytes(b"\0" * 1_048_576)
    assert by_name(run_checks(), "phrase cache") == Check(
        "phrase cache", "ok", f"{folder}: 1 phrase, 1.0 MiB"
    )
    assert [p.name for p in folder.rglob("*")] == ["ab", "abcd.npy"]  # no probe file left


def test_the_state_folder_comes_from_coach_state_dir_else_the_platform(monkeypatch, tmp_path):
    import platformdirs

    assert state_dir() == tmp_path / "state"
    monkeypatch.delenv("COACH_STATE_DIR")
    assert state_dir() == platformdirs.user_state_path("coach", appauthor=False)


def test_the_state_folder_is_checked_like_the_cache(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    check = by_name(run_checks(), "state folder")
    assert check.status == "ok"
    assert check.detail.startswith(f"{folder} (not created yet)")
    assert not folder.exists()
    monkeypatch.setenv("COACH_STATE_DIR", str(a_file(tmp_path) / "state"))
    check = by_name(run_checks(), "state folder")
    assert check.status == "fail"
    assert "is a file, not a folder" in check.detail
    assert "COACH_STATE_DIR" in check.fix


# -- ffmpeg ---------------------------------------------------------------------------------


def test_ffmpeg_missing_is_a_warning_not_a_failure(monkeypatch):
    which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == "ffmpeg" else which(name, *a, **k)
    )
    check = by_name(run_checks(), "ffmpeg")
    assert check == Check(
        "ffmpeg",
        "warn",
        "not found on PATH; only m4a and m4b export needs it",
        "sudo apt-get install ffmpeg (brew install ffmpeg on macOS), "
        "or export to wav, flac, mp3, ogg, opus, which need no ffmpeg",
    )
    assert exit_code((check,)) == 0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_ffmpeg_found_gives_its_version():
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    version = first.split()[2]
    check = by_name(run_checks(), "ffmpeg")
    assert check.status == "ok"
    assert check.detail == f"ffmpeg {version} ({shutil.which('ffmpeg')}), for m4a and m4b export"


# -- audio output ---------------------------------------------------------------------------


@pytest.mark.audio  # without an audio server: skipped with the reason (fails when CI=true)
def test_with_an_audio_server_the_output_play_would_use_is_named():
    from coach.play.speaker import available_outputs

    check = by_name(run_checks(), "audio output")
    assert check.status == "ok", check
    used = re.match(r"coach play would use (\S+?)(;|$)", check.detail)[1]
    installed = available_outputs()
    assert used in installed
    others = [o for o in installed if o != used]
    if others:
        assert check.detail.endswith(f"; also installed: {', '.join(others)}")


def test_with_no_output_that_opens_the_fix_offers_export(monkeypatch):
    from coach.play import speaker

    def probe(output=None):
        raise EnvironmentFault(
            "no audio output could be opened (simpleaudio: Error opening PCM device; "
            "paplay: Connection failure: Connection refused; aplay: ALSA lib conf.c:5180: "
            "noise\nALSA lib pcm.c:2666: more noise\naplay: main:831: audio open error)",
            "check that a sound device or audio server is available (coach doctor will say more)",
        )

    monkeypatch.setattr(speaker, "probe", probe)
    checks = run_checks()
    check = by_name(checks, "audio output")
    assert check.status == "fail"
    assert check.detail == (
        "no audio output could be opened:\n"
        "  simpleaudio: Error opening PCM device\n"
        "  paplay: Connection failure: Connection refused\n"
        "  aplay: aplay: main:831: audio open error"
    )
    assert check.fix.startswith("start an audio server")
    assert check.fix.endswith("coach export ROUTINE")
    assert exit_code(checks) == 1

    monkeypatch.setattr(speaker, "available_outputs", lambda: [])
    check = by_name(run_checks(), "audio output")
    assert check.fix.startswith("install a player")


def test_probing_the_outputs_leaves_nothing_on_stderr(capfd):
    # Without a server, simpleaudio's ALSA writes "ALSA lib ..." straight to descriptor 2.
    by_name(run_checks(), "audio output")
    os.write(2, b"still here\n")  # and descriptor 2 is back where it was
    err = capfd.readouterr().err
    assert "ALSA lib" not in err
    assert err.endswith("still here\n")


# -- a check that breaks, and the report ----------------------------------------------------


def test_an_unexpected_error_in_one_check_fails_that_check_only(monkeypatch):
    from coach.play import speaker

    def broken():
        raise RuntimeError("the driver fell over")

    monkeypatch.setattr(speaker, "available_outputs", broken)
    checks = run_checks()
    assert [c.name for c in checks] == NAMES
    check = by_name(checks, "audio output")
    assert check.status == "fail"
    assert check.detail == "unexpected error: RuntimeError: the driver fell over"
    assert "coach export" in check.fix
    assert by_name(checks, "TTS engine").status == "ok"


def test_no_speech_engine_fails_with_the_engine_s_own_fix(monkeypatch):
    import coach.sound.voice

    def no_engine(language=None):
        raise EnvironmentFault(
            "no text-to-speech engine could be started (OSError: libespeak.so.1)",
            "install espeak-ng: sudo apt-get install espeak-ng",
        )

    monkeypatch.setattr(coach.sound.voice, "list_voices", no_engine)
    checks = run_checks()
    assert by_name(checks, "TTS engine") == Check(
        "TTS engine",
        "fail",
        "no text-to-speech engine could be started (OSError: libespeak.so.1)",
        "install espeak-ng: sudo apt-get install espeak-ng",
    )
    assert by_name(checks, "voice").status == "warn"


def test_the_report_aligns_each_check_and_sums_up():
    checks = (
        Check("TTS engine", "ok", "espeak-ng 1.51 through pyttsx3 2.99, 131 voices"),
        Check(
            "audio output",
            "fail",
            "no audio output could be opened:\n  paplay: Connection refused",
            "start an audio server",
        ),
        Check("ffmpeg", "warn", "not found on PATH", "sudo apt-get install ffmpeg"),
        Check("config", "ok", "/c.yaml: loads, sets nothing", "never shown when ok"),
    )
    assert format_checks(checks) == [
        "  ok    TTS engine      espeak-ng 1.51 through pyttsx3 2.99, 131 voices",
        "  fail  audio output    no audio output could be opened:",
        "                          paplay: Connection refused",
        "        fix: start an audio server",
        "  warn  ffmpeg          not found on PATH",
        "        fix: sudo apt-get install ffmpeg",
        "  ok    config          /c.yaml: loads, sets nothing",
        "1 problem, 1 warning",
    ]
    assert exit_code(checks) == 1


@pytest.mark.parametrize(
    ("statuses", "summary", "code"),
    [
        (["ok", "ok"], "all good", 0),
        (["ok", "warn"], "all good, 1 warning", 0),
        (["warn", "warn"], "all good, 2 warnings", 0),
        (["fail", "ok"], "1 problem", 1),
        (["fail", "fail", "warn"], "2 problems, 1 warning", 1),
    ],
)
def test_the_last_line_counts_problems_and_warnings(statuses, summary, code):
    checks = tuple(Check(f"check {i}", s, "detail", "fix") for i, s in enumerate(statuses))
    assert format_checks(checks)[-1] == summary
    assert exit_code(checks) == code


def test_the_real_report_has_a_line_per_check():
    checks = run_checks()
    lines = format_checks(checks)
    heads = [line for line in lines if re.match(r"  (ok|warn|fail) ", line)]
    assert [h[8:24].strip() for h in heads] == NAMES
    assert re.fullmatch(r"(all good|\d problems?)(, \d warnings?)?", lines[-1])


# -- media keys -------------------------------------------------------------------------------


def test_media_keys_without_a_session_bus_is_a_warning_that_says_how():
    check = by_name(run_checks(), "media keys")  # conftest removed the developer's bus
    assert check.status == "warn"
    assert check.detail.startswith("no session bus (DBUS_SESSION_BUS_ADDRESS is not set")
    assert "its keyboard keys still work" in check.detail
    assert "dbus-run-session -- coach play ROUTINE" in check.fix


def test_media_keys_with_a_session_bus_say_coach_is_reached(session_bus):
    check = by_name(run_checks(), "media keys")
    assert check.status == "ok", check
    assert check.detail.splitlines()[0] == (
        "coach play appears on the session bus (DBUS_SESSION_BUS_ADDRESS) as "
        "org.mpris.MediaPlayer2.coach: media keys and playerctl reach it"
    )
    assert "mpris-proxy is not running" in check.detail


def test_media_keys_with_a_bus_that_is_gone_is_a_warning(session_bus):
    session_bus.kill()
    check = by_name(run_checks(), "media keys")
    assert check.status == "warn"
    assert check.detail.startswith("the session bus (DBUS_SESSION_BUS_ADDRESS) does not answer")
