"""Every file of the YAML test suite (valid and invalid YAML) meets only a clean RoutineError.

None of them is a routine, so each must end in problems of the form PATH:LINE:COL: error: ...,
never another exception, whatever odd corner of YAML it exercises.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from coach.errors import RoutineError
from coach.routine.model import Routine
from coach.routine.parser import load_routine
from tests.support import ROOT

# Beside the repository, as on the project's machines; COACH_YAML_TEST_SUITE names it elsewhere
# (a clone in another folder).
BESIDE = ROOT.parent / "shared" / "corpora" / "yaml-test-suite"
SUITE = Path(os.environ.get("COACH_YAML_TEST_SUITE") or BESIDE)
FILES = sorted(p.name for p in SUITE.iterdir()) if SUITE.is_dir() else []
ABSENT = pytest.mark.skip(reason=f"the YAML test suite is not at {SUITE}")
pytestmark = pytest.mark.slow  # hundreds of files, each read and checked, then all through the CLI


@pytest.mark.parametrize("name", FILES or [pytest.param("absent", marks=ABSENT)])
def test_suite_file_is_a_routine_or_a_clean_error(name):
    try:
        routine = load_routine(SUITE / name, name)
    except RoutineError as e:
        lines = e.lines()
        assert lines
        line = re.compile(rf"^{re.escape(name)}:\d+:\d+: error: .+$")
        assert all(line.match(each) for each in lines), lines
    else:
        assert isinstance(routine, Routine)


@pytest.mark.skipif(not FILES, reason=f"the YAML test suite is not at {SUITE}")
def test_cli_validate_whole_suite_in_one_run(run_coach):
    result = run_coach("validate", *FILES, cwd=SUITE)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stderr
    line = re.compile(r"^[^:\n]+:\d+:\d+: error: .+$")
    assert all(line.match(each) for each in result.stderr.splitlines())
