"""Shared test set-up: every test runs with its own (absent) user config and cache."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def phrase_cache(tmp_path_factory) -> Path:
    """One phrase cache for the whole run: each phrase is synthesized once, as for a user."""
    return tmp_path_factory.mktemp("phrases")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch, phrase_cache):
    # A developer's own ~/.config/coach/config.yaml and cache must not change test results.
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("COACH_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("COACH_CACHE_DIR", str(phrase_cache))
    monkeypatch.setenv("COACH_STATE_DIR", str(home / "state"))  # saved play positions
    monkeypatch.setenv("COACH_ROUTINES_DIR", str(home / "routines"))  # the person's own


def coach_command() -> list[str]:
    """The installed `coach` executable when there is one, else `python -m coach`."""
    exe = Path(sys.executable).parent / "coach"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("coach")
    return [found] if found else [sys.executable, "-m", "coach"]


_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def with_ctrl_c(command: list[str]) -> list[str]:
    """`command` started with SIGINT at its default, as a terminal's Ctrl-C finds it. A shell
    starts background jobs (say, this test run) with SIGINT ignored, and coach, like any
    program, keeps it ignored then. (An exec wrapper, not preexec_fn: the tests run threads.)"""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return command
    return [sys.executable, "-c", _DEFAULT_SIGINT, *command]


def fake_durations(text: str) -> int:
    """A stand-in voice: 60 ms per character, so tests do not depend on the estimate."""
    return 60 * len(text) + 100
