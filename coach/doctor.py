"""`coach doctor`: check the machine coach runs on, and say how to fix what is missing.

Each check stands alone and never raises for a fault of the machine: a check that meets an
error, even one nobody foresaw, becomes a failing `Check` with the error's text, so one broken
part never hides the report on the others. Nothing here prints; `format_checks` gives the lines
and `exit_code` the status, for `coach.cli` to show.

The checks leave the person's files alone: the test phrase goes to a temporary phrase cache,
and a folder that does not exist yet is not created, only shown to be creatable (a folder is
made and removed in its nearest existing parent).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coach.errors import EnvironmentFault, RoutineError

OK, WARN, FAIL = "ok", "warn", "fail"
TEST_PHRASE = "Breathe in slowly, and relax your shoulders."
FFMPEG_TIMEOUT_S = 10.0

_SPEECH_FIX = "sudo apt-get install espeak-ng (scripts/coach installs it when run as root)"
_EXPORT_INSTEAD = "or make a file to play elsewhere: coach export ROUTINE"
_ALSA_NOISE = re.compile(r"ALSA lib [^\n]*")


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check; `fix` says what to do when it is not ok."""

    name: str
    status: str  # "ok" | "warn" (coach works, with less) | "fail" (something it needs is broken)
    detail: str
    fix: str = ""


def run_checks() -> tuple[Check, ...]:
    """Run every check, in the order they are shown; never raises for a fault of the machine.
    The engines are started for real: what earlier commands noted of them in the cache folder
    is neither used nor added to (coach.sound.installed.looking)."""
    from coach.sound import installed

    with installed.looking():
        return tuple(_guarded(name, fix, check) for name, fix, check in _CHECKS)


def format_checks(checks: Sequence[Check]) -> list[str]:
    """One aligned line per check (more for a long detail), a fix under each that is not ok,
    and a last line that sums up."""
    width = max(16, max((len(c.name) for c in checks), default=0) + 2)
    indent = " " * (2 + 6 + width)  # continuation lines of a detail line up under its first
    lines = []
    for c in checks:
        first, *rest = c.detail.splitlines() or [""]
        lines.append(f"  {c.status:<6}{c.name:<{width}}{first}".rstrip())
        lines.extend(indent + line for line in rest)
        if c.fix and c.status != OK:
            lines.append(f"        fix: {c.fix}")
    lines.append(_summary(checks))
    return lines


def exit_code(checks: Sequence[Check]) -> int:
    """1 when any check failed (an environment fault, as elsewhere in coach), else 0."""
    return 1 if any(c.status == FAIL for c in checks) else 0


def _summary(checks: Sequence[Check]) -> str:
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    head = "all good" if not failed else _count(failed, "problem")
    return f"{head}, {_count(warned, 'warning')}" if warned else head


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_Result = tuple[str, str, str]  # status, detail, fix


def _guarded(name: str, fix: str, check: Callable[[], _Result]) -> Check:
    try:
        status, detail, own_fix = check()
    except EnvironmentFault as e:
        return Check(name, FAIL, str(e), e.hint)
    except Exception as e:  # a check must not take the whole report down with it
        return Check(name, FAIL, f"unexpected error: {type(e).__name__}: {e}", fix)
    return Check(name, status, detail, own_fix)


# -- the checks -----------------------------------------------------------------------------


def _check_speech() -> _Result:
    import numpy as np

    from coach.sound.dsp import SILENCE_DB
    from coach.sound.voice import ESPEAK, SpeechVoice, VoiceChoice, list_voices

    voices = list_voices()  # EnvironmentFault with the fix when there is no engine
    if not voices:
        return FAIL, "the speech engine has no voices installed", _SPEECH_FIX
    # A phrase really spoken, into a cache of its own: proves speech works end to end without
    # adding to (or being answered from) the person's cache.
    with tempfile.TemporaryDirectory(prefix="coach-doctor-") as folder:
        voice = SpeechVoice(VoiceChoice(None, "en"), Path(folder))
        pcm = voice.pcm(TEST_PHRASE)
        ident = voice.identity()
    if voice.chosen.engine == ESPEAK:
        backend, _, driver = ident["backend"].partition("/")
        engine = f"espeak-ng {ident['engine']}" if driver == "espeak" else ident["engine"]
        wrapper = backend.replace("pyttsx3-", "pyttsx3 ")
        fix = "check that espeak-ng works: espeak-ng 'hello' --stdout > /dev/null"
    else:
        engine, wrapper = (" ".join(p.rsplit("-", 1)) for p in ident["backend"].split("/"))
        engine = f"{engine}, voice {voice.label}"
        model = voice.chosen.model
        fix = f"check the voice file {model.model_path if model else '?'}, or see coach voices"
    if float(np.max(np.abs(pcm))) < 10 ** (SILENCE_DB / 20):
        return FAIL, f"{engine} through {wrapper} spoke a test phrase as silence", fix
    seconds = len(pcm) / voice.sample_rate
    return (
        OK,
        f"{engine} through {wrapper}, {_count(len(voices), 'voice')}; "
        f"a test phrase gave {seconds:.1f} s of speech",
        "",
    )


def _check_voice() -> _Result:
    from coach.settings import BUILTIN_PITCH, config_path, load_config
    from coach.sound.voice import PIPER, VoiceChoice, choose, find_voice, list_voices

    path = config_path()
    try:
        config = load_config(path)
    except RoutineError:
        # The config check reports the file's problems, once.
        return WARN, "not checked: the config file does not load (see config)", ""
    wanted = config.voice
    try:
        voices = list_voices()
    except EnvironmentFault as e:
        return WARN, "not checked: there is no speech engine (see TTS engine)", e.hint
    if wanted is None:
        # Says which voice the default is and why: a fallback to espeak-ng is never silent.
        default = choose(VoiceChoice(None, "en"))
        shown = f" (English: {default.info.qualified}, {default.reason})"
        detail = f"none configured: a routine's own, else the best for its language{shown}"
        if default.engine == PIPER and default.info.provenance:
            detail += f"\nits model card: {default.info.provenance}"
        return OK, detail, ""
    try:
        chosen = choose(VoiceChoice(wanted, "en"))
    except EnvironmentFault as e:
        if find_voice(voices, wanted) is not None or "no installed voice" not in str(e):
            return FAIL, f"'{wanted}', set in {path}: {e}", e.hint
        return (
            FAIL,
            f"'{wanted}', set in {path}, is not an installed voice{_did_you_mean(voices, wanted)}",
            f"pick one from `coach voices` and set it as 'voice' in {path}",
        )
    match = chosen.info
    shown = match.id.removeprefix("piper:") if match.engine == PIPER else match.id
    detail = f"'{wanted}' from {path}: {shown} ({match.name})"
    pitch = config.pitch
    if match.engine == PIPER and pitch is not None and pitch != BUILTIN_PITCH:
        return (
            WARN,
            f"{detail}; pitch {pitch} is not applied: Piper voices have no pitch setting",
            f"remove 'pitch' from {path}, or choose an espeak-ng voice (coach voices)",
        )
    return OK, detail, ""


def _did_you_mean(voices, wanted: str) -> str:
    import difflib

    names: dict[str, str] = {}
    for v in voices:
        for name in (v.id.rsplit("/", 1)[-1], v.name):
            names.setdefault(name.lower(), name)
    close = difflib.get_close_matches(wanted.strip().lower(), list(names), n=1)
    return f"; did you mean '{names[close[0]]}'?" if close else ""


def _check_audio() -> _Result:
    from coach.play import speaker

    installed = speaker.available_outputs()
    try:
        with speaker.quiet_stderr():
            used = speaker.probe()
    except EnvironmentFault as e:
        if not installed:
            fix = (
                "install a player (sudo apt-get install pulseaudio-utils for paplay, or "
                f"alsa-utils for aplay), {_EXPORT_INSTEAD}"
            )
        else:
            # The speaker module's own hint sends the person here; this one says what to do.
            fix = (
                "start an audio server (PulseAudio or PipeWire) or check that a sound device "
                f"is connected and not muted, {_EXPORT_INSTEAD}"
            )
        return FAIL, _per_output(str(e)), fix
    others = [o for o in installed if o != used]
    also = f"; also installed: {', '.join(others)}" if others else ""
    return OK, f"coach play would use {used}{also}", ""


def _one_line(text: str) -> str:
    # aplay passes on ALSA's configuration chatter ("ALSA lib confmisc.c:855:...") before the
    # error that matters, and sometimes mid-line after its own "aplay: " prefix.
    return " ".join(_ALSA_NOISE.sub(" ", text).split())


def _per_output(message: str) -> str:
    """speaker's "no audio output could be opened (a: why; b: why)", one output per line."""
    text = _one_line(message)
    head, sep, inner = text.partition(" (")
    if not sep or not inner.endswith(")"):
        return text
    return "\n".join([f"{head}:", *(f"  {part}" for part in inner[:-1].split("; "))])


def _check_ffmpeg() -> _Result:
    from coach.export.formats import AUDIO_FORMATS, FORMATS

    # coach and soundfile write the other formats themselves; only these go through ffmpeg.
    needs = [f for f in AUDIO_FORMATS if FORMATS[f].encoder == "ffmpeg"]
    without = [f for f in AUDIO_FORMATS if FORMATS[f].encoder != "ffmpeg"]
    fix = (
        "sudo apt-get install ffmpeg (brew install ffmpeg on macOS), "
        f"or export to {', '.join(without)}, which need no ffmpeg"
    )
    purpose = f"only {' and '.join(needs)} export needs it"
    found = shutil.which("ffmpeg")
    if found is None:
        return WARN, f"not found on PATH; {purpose}", fix
    try:
        run = subprocess.run(
            [found, "-version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=FFMPEG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return WARN, f"{found} does not run ({e}); {purpose}", fix
    first = run.stdout.splitlines()[0] if run.stdout.strip() else ""
    words = first.split()
    if run.returncode != 0 or words[:2] != ["ffmpeg", "version"] or len(words) < 3:
        err = _one_line(run.stderr) or f"exit {run.returncode}"
        return WARN, f"{found} -version failed ({err}); {purpose}", fix
    return OK, f"ffmpeg {words[2]} ({found}), for {' and '.join(needs)} export", ""


def _check_cache() -> _Result:
    from coach.sound.cache import cache_dir, cache_stats

    folder = cache_dir()
    problem = _unwritable(folder)
    if problem is not None:
        return (
            FAIL,
            f"{problem}; every phrase would be synthesized again on every run",
            f"make {folder} writable, or set COACH_CACHE_DIR to a folder you can write",
        )
    if not folder.exists():
        return OK, f"{folder}: not created yet (it will be on first use)", ""
    count, size = cache_stats(folder)
    return OK, f"{folder}: {_count(count, 'phrase')}, {size / 1_048_576:.1f} MiB", ""


def _check_config() -> _Result:
    from coach.settings import CONFIG_KEYS, config_path, config_rows

    path = config_path()
    folder_problem = _unwritable(path.parent)
    folder_fix = f"make {path.parent} writable, or set COACH_CONFIG to a file you can write"
    if not _exists(path):
        detail = f"{path}: not created yet; the defaults apply"
        if folder_problem is not None:
            return WARN, f"{detail}, and it cannot be made: {folder_problem}", folder_fix
        return OK, detail, ""
    try:
        rows = config_rows(path)
    except RoutineError as e:
        return FAIL, "\n".join(e.lines()), f"correct {path}; its keys: {', '.join(CONFIG_KEYS)}"
    chosen = [key for key, _, source in rows if source == "config"]
    detail = f"{path}: loads, sets {', '.join(chosen) if chosen else 'nothing'}"
    if folder_problem is not None:
        return WARN, f"{detail}; but {folder_problem}", folder_fix
    return OK, detail, ""


def _check_state() -> _Result:
    from coach.state import state_dir

    folder = state_dir()
    problem = _unwritable(folder)
    if problem is not None:
        return (
            FAIL,
            f"{problem}; play positions and the history could not be saved",
            f"make {folder} writable, or set COACH_STATE_DIR to a folder you can write",
        )
    state = "exists" if folder.is_dir() else "not created yet"
    return OK, f"{folder} ({state}): saved play positions and the history live here", ""


def _check_media_keys() -> _Result:
    from coach.play.remote import BUS_NAME, session_bus_address

    fix = (
        "run coach inside your desktop session (its session bus carries media keys), or "
        "start one for it: dbus-run-session -- coach play ROUTINE"
    )
    address, where = session_bus_address()
    if address is None:
        return (
            WARN,
            f"no session bus ({where}): media keys, headset buttons and playerctl cannot reach "
            "coach play; its keyboard keys still work",
            fix,
        )
    from coach.play.mpris import probe

    answered, why, players = probe(address)
    if not answered:
        return WARN, f"the session bus ({where}) does not answer: {why}", fix
    others = [p.removeprefix("org.mpris.MediaPlayer2.") for p in players]
    detail = (
        f"coach play appears on the session bus ({where}) as {BUS_NAME}: media keys and "
        "playerctl reach it"
    )
    if others:
        detail += f"\nother players there now: {', '.join(others)} (the desktop picks one)"
    helper = "running" if _running("mpris-proxy") else "not running"
    detail += f"\nheadset buttons (Bluetooth): BlueZ's mpris-proxy is {helper}"
    return OK, detail, ""


def _running(command: str) -> bool:
    """Whether a process of that name runs (by /proc, as pgrep would)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for pid in entries:
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                    if f.read().strip() == command:
                        return True
            except OSError:
                continue
    return False


def _exists(path: Path) -> bool:
    # Path.exists raises PermissionError for a path inside a folder we may not search.
    try:
        return path.exists()
    except OSError:
        return True  # it may well exist; reading it will say what is wrong


def _unwritable(folder: Path) -> str | None:
    """Why coach could not create `folder` or write in it, or None when it could.

    A folder that does not exist yet is left uncreated (coach makes it, parents and all, when
    it first needs it): making and removing a folder in its nearest existing parent proves
    that it could be made.
    """
    target = folder
    try:
        # A dangling symlink counts as there: coach's mkdir would stop at it too.
        while not (target.exists() or target.is_symlink()) and target.parent != target:
            target = target.parent
    except OSError as e:
        return f"{folder}: cannot look at {target} ({e.strerror or e})"
    if target.is_symlink() and not target.exists():
        return f"{folder}: {target} is a symbolic link to nothing"
    if not target.is_dir():
        if target == folder:
            return f"{folder} is a file, not a folder"
        return f"{folder} cannot be created: {target} is a file, not a folder"
    try:
        if target == folder:
            fd, name = tempfile.mkstemp(prefix=".coach-doctor-", dir=folder)
            os.close(fd)
            os.unlink(name)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".coach-doctor-", dir=target))
    except OSError as e:
        where = "write in it" if target == folder else f"create folders in {target}"
        return f"{folder}: cannot {where} ({e.strerror or e})"
    return None


_CHECKS: tuple[tuple[str, str, Callable[[], _Result]], ...] = (
    # name, the fix shown when the check itself breaks, the check
    ("TTS engine", _SPEECH_FIX, _check_speech),
    ("voice", "list the voices with `coach voices`", _check_voice),
    ("audio output", f"check the sound device or audio server, {_EXPORT_INSTEAD}", _check_audio),
    ("ffmpeg", "sudo apt-get install ffmpeg (only m4a and m4b export need it)", _check_ffmpeg),
    ("phrase cache", "set COACH_CACHE_DIR to a folder you can write", _check_cache),
    ("config", "check the file with `coach config`", _check_config),
    ("state folder", "set COACH_STATE_DIR to a folder you can write", _check_state),
    ("media keys", "see the README's section on media keys", _check_media_keys),
)
