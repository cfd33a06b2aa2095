"""One error hierarchy for the whole library; only `coach.cli` turns it into output and exit codes.

Library code raises these and never prints or exits. Bad input (a routine, a cue script, a
config file, a command-line value) is a `UserError` (exit 2); a fault of the machine it runs on
is an `EnvironmentFault` (exit 1) and always carries a hint that says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loc:
    """Where something is in a file: 1-based line and column, as editors count them."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, at a place when the input is a file."""

    message: str
    loc: Loc | None = None
    path: str | None = None  # for problems of a whole file (missing, a directory) with no line
    level: str = "error"  # or "warning": said, but the input is used as it is

    def __str__(self) -> str:
        if self.loc is not None:
            return f"{self.loc}: {self.level}: {self.message}"
        if self.path is not None:
            return f"{self.path}: {self.level}: {self.message}"
        return f"{self.level}: {self.message}"


class CoachError(Exception):
    """Base of every error coach raises on purpose."""

    exit_code = 1

    def lines(self) -> list[str]:
        """The lines to show a person, without the program name."""
        return [f"error: {self}"]


class UserError(CoachError):
    """Bad input: the person can fix it by changing what they gave coach."""

    exit_code = 2


class UsageError(UserError):
    """A command-line value that cannot be used, e.g. `--pace 0`."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


class RoutineError(UserError):
    """Every problem found in one or more input files, reported together."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class EnvironmentFault(CoachError):
    """The machine lacks something coach needs; `hint` says how to get it."""

    exit_code = 1

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint

    def lines(self) -> list[str]:
        return [f"error: {self}", f"  fix: {self.hint}"]
