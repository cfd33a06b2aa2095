"""Plain values the test modules share (fixtures live in conftest.py; import this module)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fake_durations(text: str) -> int:
    """A stand-in voice: 60 ms per character, so tests do not depend on the estimate."""
    return 60 * len(text) + 100


def is_ci() -> bool:
    """Whether CI=true (as scripts/test reads it): tests that need a tool fail without it."""
    return re.fullmatch(r"[Tt]rue|TRUE|1|yes", os.environ.get("CI", "")) is not None
