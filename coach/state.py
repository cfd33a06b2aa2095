"""Where coach keeps what it remembers between runs, such as saved play positions.

Unlike the phrase cache, this folder holds the person's own progress: deleting it loses where
they stopped, so it lives in the platform's state folder, not its cache folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """The state folder: $COACH_STATE_DIR, else the platform's state folder for coach."""
    override = os.environ.get("COACH_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_state_path("coach", appauthor=False)
