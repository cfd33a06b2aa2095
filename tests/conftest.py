"""Shared test set-up, as fixtures: every test runs with its own (absent) user config and
state, the real `coach` executable is one fixture away (`run_coach`, `start_coach`), and an
audio server is there for the tests marked `audio`.

Plain values shared by test modules (ROOT, fake_durations) are in tests/support.py; nothing
imports this file.

Markers (pyproject.toml, `--strict-markers`):
  audio  needs the audio server. Without one such a test is skipped with the reason, or fails
         when CI=true (audio tests must run in CI).
  slow   takes real time (playback in real time, long exports, big corpora); `scripts/test
         --fast` leaves these out.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, is_ci

# -- the person's own folders -----------------------------------------------------------------


@pytest.fixture(scope="session")
def phrase_cache(tmp_path_factory) -> Path:
    """One phrase cache for the whole run: each phrase is synthesized once, as for a user."""
    return tmp_path_factory.mktemp("phrases")


@pytest.fixture(autouse=True)
def coach_home(tmp_path_factory, monkeypatch, phrase_cache) -> Path:
    """A temp home for each test: its config, state and routines folders (none exists yet),
    in the environment both for coach in this process and for `coach` run by the tests."""
    # A developer's own ~/.config/coach/config.yaml, cache or settings must not change results.
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("COACH_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("COACH_CACHE_DIR", str(phrase_cache))
    monkeypatch.setenv("COACH_STATE_DIR", str(home / "state"))  # saved play positions
    monkeypatch.setenv("COACH_ROUTINES_DIR", str(home / "routines"))  # the person's own
    monkeypatch.delenv("COACH_TTS_TIMEOUT_S", raising=False)
    # The suite's default voice is espeak-ng: Piper is some fifty times slower and the suite
    # exports many routines. tests/test_piper.py goes through the real Piper on purpose.
    monkeypatch.setenv("COACH_VOICE", "espeak")
    monkeypatch.setenv("COACH_VOICES_DIR", str(home / "voices"))  # the person's own Piper voices
    # Media keys: never the developer's desktop bus (coach play would appear in its player
    # list); the tests that want a bus start their own (`session_bus`).
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return home


# -- the installed executable -----------------------------------------------------------------


@pytest.fixture(scope="session")
def coach_command() -> list[str]:
    """The installed `coach` executable when there is one, else `python -m coach`."""
    exe = Path(sys.executable).parent / "coach"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("coach")
    return [found] if found else [sys.executable, "-m", "coach"]


def _coach_env(env: dict[str, str] | None) -> dict[str, str]:
    """The test's environment (its temp home, the audio server), `env` over it."""
    out = {**os.environ, **(env or {})}
    out.setdefault("PYTHONUTF8", "1")
    # `python -m coach` (when coach is not installed) must find the package from any cwd.
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    return out


@pytest.fixture
def run_coach(coach_command) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_coach(*args, cwd=None, env=None, timeout=300)`: the real `coach ARGS` run to its
    end, as text; `env` holds variables to set over the test's environment."""

    def run(
        *args: object, cwd: Path | str | None = None, env: dict[str, str] | None = None, **kw
    ) -> subprocess.CompletedProcess[str]:
        kw.setdefault("timeout", 300)
        return subprocess.run(
            [*coach_command, *map(str, args)],
            cwd=cwd,
            env=_coach_env(env),
            capture_output=True,
            text=True,
            **kw,
        )

    return run


_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _with_ctrl_c(command: list[str]) -> list[str]:
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return command
    return [sys.executable, "-c", _DEFAULT_SIGINT, *command]


@pytest.fixture(scope="session")
def with_ctrl_c() -> Callable[[list[str]], list[str]]:
    """`with_ctrl_c(command)`: `command` started with SIGINT at its default, as a terminal's
    Ctrl-C finds it. A shell starts background jobs (say, this test run) with SIGINT ignored,
    and coach, like any program, keeps it ignored then. (An exec wrapper, not preexec_fn: the
    tests run threads.)"""
    return _with_ctrl_c


@pytest.fixture
def start_coach(coach_command, with_ctrl_c) -> Iterator[Callable[..., subprocess.Popen]]:
    """`start_coach(*args, env=None, **popen)`: the real `coach ARGS` started (Ctrl-C works,
    stdin empty, stdout and stderr piped as text unless `popen` says otherwise); killed after
    the test if still running."""
    started: list[subprocess.Popen] = []

    def start(*args: object, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
        options = {
            "stdin": subprocess.DEVNULL,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "text": True,
            **popen,
        }
        proc = subprocess.Popen(
            with_ctrl_c([*coach_command, *map(str, args)]), env=_coach_env(env), **options
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# -- the audio server -------------------------------------------------------------------------

_PULSE_VARS = ("PULSE_SERVER", "XDG_RUNTIME_DIR", "PULSE_CLIENTCONFIG", "PULSE_COOKIE")


def _pulse(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` after sourcing scripts/_pulse.sh: the one start-up and stop logic."""
    return subprocess.run(
        ["bash", "-c", f"source scripts/_pulse.sh\n{script}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


_START = """\
if start_pulse; then
  for v in PULSE_DIR PULSE_PID PULSE_SERVER XDG_RUNTIME_DIR PULSE_CLIENTCONFIG PULSE_COOKIE \\
      COACH_TEST_SINK; do
    printf '%s=%s\\n' "$v" "${!v}"
  done
else
  stop_pulse
  printf '%s\\n' "$PULSE_FAIL"
  exit 1
fi
"""


@dataclass(frozen=True)
class AudioServer:
    """The server the tests play to: its null sink (record `SINK.monitor`), or why none."""

    sink: str | None
    reason: str = ""


@pytest.fixture(scope="session", autouse=True)
def audio_server() -> Iterator[AudioServer]:
    """The audio server for the whole run, in the environment of every test and of the
    `coach` they start. One already given (PULSE_SERVER and COACH_TEST_SINK set, e.g. by
    scripts/bench) is used; otherwise a private PulseAudio with a null sink is started (the
    one scripts/_pulse.sh starts) and stopped at the end."""
    given = os.environ.get("COACH_TEST_SINK")
    if os.environ.get("PULSE_SERVER") and given:
        yield AudioServer(given)
        return
    if shutil.which("pulseaudio") is None or shutil.which("bash") is None:
        yield AudioServer(None, "pulseaudio is not installed (sudo apt-get install pulseaudio)")
        return
    try:
        started = _pulse(_START)
    except subprocess.TimeoutExpired:
        yield AudioServer(None, "pulseaudio did not start within 60 s")
        return
    if started.returncode != 0:
        why = (started.stdout.strip() or started.stderr.strip()).splitlines()
        yield AudioServer(None, why[-1] if why else "pulseaudio did not start")
        return
    found = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    mp = pytest.MonkeyPatch()
    for name in (*_PULSE_VARS, "COACH_TEST_SINK"):
        mp.setenv(name, found[name])
    mp.delenv("COACH_NO_AUDIO_SERVER_REASON", raising=False)
    try:
        yield AudioServer(found["COACH_TEST_SINK"])
    finally:
        mp.undo()
        folder, pid = shlex.quote(found["PULSE_DIR"]), shlex.quote(found["PULSE_PID"])
        _pulse(f"PULSE_DIR={folder} PULSE_PID={pid}\nstop_pulse")


@pytest.fixture(scope="session")
def audio_sink(audio_server: AudioServer) -> str:
    """The test sink's name; without a server the test is skipped, or fails under CI=true."""
    if audio_server.sink:
        return audio_server.sink
    reason = f"no audio server for tests: {audio_server.reason}"
    if is_ci():
        pytest.fail(f"{reason}; CI=true requires one (audio tests must run in CI)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _audio_marker(request) -> None:
    # A test marked `audio` gets the server or its skip (fail in CI) before anything else.
    if request.node.get_closest_marker("audio"):
        request.getfixturevalue("audio_sink")


# -- the session bus --------------------------------------------------------------------------


@dataclass
class SessionBus:
    """A private D-Bus session bus (`dbus-daemon --session`) for one test."""

    address: str
    proc: subprocess.Popen

    def kill(self) -> None:
        """The bus goes away, as when a desktop session's bus dies."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def playerctl(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["playerctl", *args],
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _no_bus(reason: str) -> None:
    reason = f"no private session bus for tests: {reason}"
    if is_ci():
        pytest.fail(f"{reason}; CI=true requires one (the media-key tests must run in CI)")
    pytest.skip(reason)


@pytest.fixture
def session_bus(tmp_path_factory, monkeypatch) -> Iterator[SessionBus]:
    """A private session bus, in the environment of the test and of the `coach` it starts,
    stopped after the test; playerctl is there to send commands. Without dbus-daemon or
    playerctl the test is skipped with the reason, or fails under CI=true."""
    for tool, package in (("dbus-daemon", "dbus-daemon"), ("playerctl", "playerctl")):
        if shutil.which(tool) is None:
            _no_bus(f"{tool} is not installed (sudo apt-get install {package})")
    folder = tmp_path_factory.mktemp("bus")
    proc = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--nopidfile",
            "--print-address=1",
            f"--address=unix:path={folder / 'bus'}",
        ],
        stdout=subprocess.PIPE,
        # "Failed to set fd limit" (not root-owned limits in a container) is harmless.
        stderr=subprocess.DEVNULL,
        text=True,
    )
    address = proc.stdout.readline().strip() if proc.stdout else ""
    if not address:
        proc.kill()
        proc.wait(timeout=10)
        _no_bus("dbus-daemon --session printed no address")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    bus = SessionBus(address, proc)
    try:
        yield bus
    finally:
        if proc.poll() is None:
            bus.kill()


# -- small real file systems: full, read-only -------------------------------------------------


def _mount_tmpfs(folder: Path, options: str) -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KiB file system: a few seconds of any format fill it."""
    folder = tmp_path / "tiny"
    _mount_tmpfs(folder, "size=64k")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def read_only_disk(tmp_path):
    folder = tmp_path / "ro"
    _mount_tmpfs(folder, "ro,size=64k")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)
