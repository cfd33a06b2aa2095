"""The cue script contract as data: kinds, roles, chapter kinds and tones declared once, and the
views of a script (hold windows, chapter lookup) derived once."""

from __future__ import annotations

import bisect
import json

import pytest

from coach.routine.library import find
from coach.routine.parser import load_routine
from coach.script import cues
from coach.script.compiler import compile
from coach.script.cues import ROLES, ChapterKind, CueKind, CueRole, RoleUse, role_use
from coach.script.tones import TONE_MS, TONES, Tone


@pytest.fixture(scope="module")
def script():
    return compile(load_routine(find("upper-back-release").path))


def test_names_are_their_strings_everywhere():
    for member in (CueKind.SPEECH, ChapterKind.INTRO, CueRole.HOLD_START, Tone.BREATH_IN):
        assert member == member.value and hash(member) == hash(member.value)
        assert str(member) == f"{member}" == f"{member:<1}" == member.value
        assert json.dumps({"k": member}, indent=1) == json.dumps({"k": member.value}, indent=1)
    assert ", ".join(CueKind) == "speech, tone"
    assert TONE_MS["countdown"] == TONES[Tone.COUNTDOWN].length_ms


def test_every_tone_is_a_role_and_every_role_has_a_meaning():
    assert {CueRole(t) for t in Tone} <= set(CueRole)
    assert set(ROLES) == set(CueRole)
    assert all(use.said_again for use in ROLES.values() if use.how_to)
    assert role_use("no such role") == RoleUse()


def test_the_compiler_and_the_loader_give_members(script):
    loaded = cues.loads(cues.dumps(script))
    for s in (script, loaded):
        for c in s.cues:
            assert type(c.kind) is CueKind and type(c.role) is CueRole
            assert c.tone is None or type(c.tone) is Tone
        assert all(type(ch.kind) is ChapterKind for ch in s.chapters)


def test_an_unknown_role_still_loads_as_written(script):
    data = json.loads(cues.dumps(script))
    data["cues"][1]["role"] = "whistle"
    loaded = cues.loads(json.dumps(data))
    assert loaded.cues[1].role == "whistle" and not role_use(loaded.cues[1].role).said_again


def test_hold_windows_pair_each_start_tone_with_its_end_tone(script):
    starts = [c for c in script.cues if c.role == CueRole.HOLD_START]
    ends = [c for c in script.cues if c.role == CueRole.HOLD_END]
    windows = script.hold_windows()
    assert len(windows) == len(starts) == len(ends) > 0
    for w, s, e in zip(windows, starts, ends, strict=True):
        assert (w.step, w.start_ms, w.end_ms) == (s.step, s.start_ms, e.start_ms)
        assert w.length_ms == e.start_ms - s.start_ms


def test_chapter_at(script):
    starts = [ch.start_ms for ch in script.chapters]
    for ms in [
        0,
        1,
        script.duration_ms,
        *starts,
        *(s - 1 for s in starts),
        *(s + 1 for s in starts),
    ]:
        assert script.chapter_at(ms) == max(0, bisect.bisect_right(starts, ms) - 1)
    empty = cues.CueScript("t", "en", 0, script.settings, (), ())
    assert empty.chapter_at(5) == 0
