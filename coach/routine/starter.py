"""`coach new NAME`: a commented starter routine that validates and plays as it is.

It shows one of each step kind with the keys people reach for first, and says in comments what
each does, so the file itself is the tutorial; docs/routine-format.md has the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

from coach.errors import UsageError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

TEMPLATE = """\
# yaml-language-server: $schema={schema}
#
# A coach routine: `coach validate {name}` checks it, `coach show {name}` shows its timeline,
# `coach play {name}` speaks it. Every key is described in docs/routine-format.md; an editor
# with the YAML language server completes and checks keys as you type.
title: {title}
description: What this routine is for, for whoever picks it (not spoken).

# Said after the title, before the first step. Keep it short: it is heard every time.
safety:
  - Move gently, and never force a stretch.
  - Stop at once if anything hurts.

# Values for the steps below that do not give their own.
defaults:
  hold: 20s        # how long a stretch is held: 45, 45s, 1m30s
  rest: 15s        # rest between sets
  transition: 5s   # time to get into position before the timer starts

steps:
  - say: Stand up, with your feet hip-width apart.

  # An exercise is held (hold), repeated (reps) or breathed (breaths).
  - exercise: Shoulder rolls
    say: Roll your shoulders slowly up, back and down.   # the full wording, said the first time
    brief: Roll your shoulders back.                      # the short one, for --verbosity brief
    reps: 8
    tempo: 3s       # one rep every 3 seconds
    count: true     # count the reps aloud instead of a soft tone per rep

  - exercise: Neck stretch
    say:
      - Sit or stand tall and let your shoulders drop.
      - Tilt your ear toward your shoulder until you feel a gentle stretch.
    brief: Ear toward your shoulder.
    caution: Keep the movement small and slow.   # said before the exercise is announced
    hold: 20s
    sides: both     # left, then a switch tone, then right
    cues: Keep the other shoulder down.          # reminders spread over the hold

  - rest: 10s
    say: Sit down on a chair.    # what to get ready during the rest

  # Several rounds of the same steps, with a rest between rounds.
  - repeat: 2
    rest: 5s
    steps:
      - exercise: Seated twist
        say: Sit tall and turn your upper body to one side, hands on the chair.
        brief: Turn gently.
        hold: 10s
        sides: both

  # A paced breathing block: a pattern name (box, relax, calm, coherent) or in-hold-out seconds.
  - breathe: calm
    cycles: 4
    say: Sit comfortably and let your eyes close.
"""


def starter_text(name: str, schema: Path) -> str:
    title = name.replace("-", " ").replace("_", " ").strip().capitalize()
    return TEMPLATE.format(name=name, title=title, schema=schema.as_uri())


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UsageError(
            "NAME",
            f"must be letters, digits, '-' and '_' (at most 64, starting with a letter or digit), "
            f"found '{name}'; it names the file and is what you type to play it",
        )
    return name
