"""Pacing precedence: command line > user config > routine > built-in defaults."""

from __future__ import annotations

import pytest

from coach.errors import RoutineError, UsageError
from coach.routine.parser import parse_routine
from coach.settings import (
    BUILTIN_HOLD_MS,
    BUILTIN_RATE_WPM,
    Pacing,
    Settings,
    from_options,
    load_config,
    resolve,
)
from coach.values import parse_pattern

ROUTINE = parse_routine(
    "title: T\nrate: 140\npace: 0.8\nvoice: en-gb\ndefaults: {hold: 20s, breath: box}\n"
    "steps:\n  - say: Hi.\n",
    "t.yaml",
)
BARE = parse_routine("title: T\nsteps:\n  - say: Hi.\n", "t.yaml")


def test_built_in_defaults_fill_what_nothing_else_sets():
    p = resolve(BARE, Settings())
    assert (p.pace, p.rate_wpm, p.voice) == (1.0, BUILTIN_RATE_WPM, None)
    assert p.default_hold_ms == BUILTIN_HOLD_MS and p.hold_ms is None


def test_the_routine_beats_the_defaults():
    p = resolve(ROUTINE, Settings())
    assert (p.pace, p.rate_wpm, p.voice) == (0.8, 140, "en-gb")
    assert p.default_hold_ms == 20_000 and p.default_breath.name == "box"


def test_the_config_beats_the_routine_and_the_command_line_beats_the_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("pace: 1.5\nrate: 200\nvoice: en-us\n")
    config = load_config(path)
    assert resolve(ROUTINE, config).pace == 1.5
    cli = from_options(pace=2.0, voice="de")
    p = resolve(ROUTINE, cli.over(config))
    assert (p.pace, p.rate_wpm, p.voice) == (2.0, 200, "de")


def test_config_keys_read_like_the_routine_format(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "pace: 1.25\nhold: 1m\nhold_scale: 1.5\nrest: 20s\nrest_scale: 0.5\n"
        "breath: 4-7-8\nrate: 180\nvoice: en\n"
    )
    assert load_config(path) == Settings(
        pace=1.25,
        hold_ms=60_000,
        hold_scale=1.5,
        rest_ms=20_000,
        rest_scale=0.5,
        breath=parse_pattern("4-7-8"),
        rate_wpm=180,
        voice="en",
    )


def test_a_missing_or_empty_config_is_an_empty_layer(tmp_path):
    assert load_config(tmp_path / "absent.yaml") == Settings()
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_config(tmp_path / "empty.yaml") == Settings()


def test_every_problem_of_a_config_file_is_reported_with_its_place(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("pace: 9\nhold_scale: lots\nspeed: 2\n")
    with pytest.raises(RoutineError) as e:
        load_config(path)
    assert e.value.lines() == [
        f"{path}:1:7: error: 'pace' must be between 0.25 and 4, found 9",
        f"{path}:2:13: error: 'hold_scale' must be a number, found text 'lots'",
        f"{path}:3:1: error: unknown key 'speed' in the config file; expected one of: breath, "
        "breath_cues, hold, hold_scale, pace, pitch, rate, rest, rest_scale, verbosity, voice",
    ]


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- pace: 1\n")
    with pytest.raises(RoutineError) as e:
        load_config(path)
    assert e.value.lines() == [
        f"{path}:1:1: error: the config file must be a mapping of keys to values, found a list; "
        "remove the '- ' in front of its keys"
    ]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"pace": 5.0}, "--pace"),
        ({"hold": "0s"}, "--hold"),
        ({"hold_scale": 11.0}, "--hold-scale"),
        ({"rest": "2h"}, "--rest"),
        ({"rest_scale": 0.0}, "--rest-scale"),
        ({"breath": "4"}, "--breath"),
        ({"rate": 20}, "--rate"),
    ],
)
def test_out_of_range_options_name_the_option(kwargs, option):
    with pytest.raises(UsageError) as e:
        from_options(**kwargs)
    assert e.value.option == option
    assert e.value.exit_code == 2


def test_pacing_round_trips_through_json():
    p = resolve(ROUTINE, from_options(hold="45s", breath="relax", rest_scale=2.0))
    assert Pacing.from_json(p.to_json()) == p


def test_a_mistyped_duration_option_gets_a_hint():
    with pytest.raises(UsageError) as e:
        from_options(hold="45 sec")
    assert str(e.value).endswith("found '45 sec'; did you mean '45s'?")


def test_every_setting_of_the_table_reaches_each_place_it_may_be_set(tmp_path):
    from dataclasses import fields

    from coach.settings import CONFIG_KEYS, SETTINGS, config_rows

    settings_fields = [f.name for f in fields(Settings)]
    pacing_fields = {f.name for f in fields(Pacing)}
    assert settings_fields == [s.field for s in SETTINGS]
    assert {s.field for s in SETTINGS} <= pacing_fields
    assert tuple(s.name for s in SETTINGS if s.config) == CONFIG_KEYS
    rows = config_rows(tmp_path / "absent.yaml")
    assert [key for key, _, _ in rows] == list(CONFIG_KEYS)
    assert all(source == "default" for _, _, source in rows)


def test_from_options_refuses_an_option_the_table_does_not_have():
    with pytest.raises(TypeError):
        from_options(speed=2.0)


def test_a_routine_may_set_the_pitch_and_the_person_overrides_it(tmp_path):
    routine = parse_routine("title: T\npitch: 40\nsteps:\n  - say: Hi.\n", "t.yaml")
    assert resolve(routine, Settings()).pitch == 40
    assert resolve(BARE, Settings()).pitch == 50
    path = tmp_path / "config.yaml"
    path.write_text("pitch: 60\n")
    assert resolve(routine, load_config(path)).pitch == 60
    assert resolve(routine, from_options(pitch=70).over(load_config(path))).pitch == 70
