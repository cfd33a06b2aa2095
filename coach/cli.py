"""The `coach` command line: each command parses, calls one library function, and formats.

Only this module imports typer, and only `_Coach.invoke` turns errors into messages and exit
codes:
0 ok, 1 environment or runtime failure, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import textwrap
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import MarkupMode, TyperCommand, TyperGroup

from coach.errors import CoachError, Problem, RoutineError
from coach.settings import CONFIG_KEYS, SETTINGS, from_options, load_config

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _PlainHelp:
    """`--help` as plain text, not drawn by rich: importing rich's help renderer (with
    markdown-it) cost `coach --help` twice what importing typer does. Errors keep their look."""

    rich_markup_mode: MarkupMode

    def format_help(self, ctx, formatter) -> None:
        mode, self.rich_markup_mode = self.rich_markup_mode, None
        try:
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            self.rich_markup_mode = mode


class _Command(_PlainHelp, TyperCommand):
    def format_options(self, ctx, formatter) -> None:
        # One section per help panel, as rich shows them: Options, then Pacing.
        arguments: list[tuple[str, str]] = []
        panels: dict[str, list[tuple[str, str]]] = {"Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                panels.setdefault(panel, []).append(record)
        for title, records in [("Arguments", arguments), *panels.items()]:
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


class _Coach(_PlainHelp, TyperGroup):
    """The one place where errors become messages and exit codes."""

    def format_commands(self, ctx, formatter) -> None:
        # Each command's whole first sentence, wrapped, as rich showed it (click cuts it short).
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CoachError as e:
            if _state["debug"]:
                raise
            prefix = "" if isinstance(e, RoutineError) else "coach: "
            for line in e.lines():
                typer.echo(prefix + line, err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
                typer.echo("coach: interrupted", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=_Coach,
    name="coach",
    help="A voice-guided audio coach: routines written in YAML, spoken with tones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from coach import __version__

        typer.echo(f"coach {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback for errors (for bug reports).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    _state["debug"] = debug


# -- pacing options, shared by every command that times a routine --------------------------

_PACING = "Pacing (command line > config file > routine > defaults)"
# One option per row of the settings table, in its order (a few are listed last); the table
# gives each its name, type and help, and `from_options` checks the values.
_PACING_PARAMS = [
    inspect.Parameter(
        s.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[s.cli_type | None, typer.Option(help=s.help, rich_help_panel=_PACING)],
    )
    for s in sorted((s for s in SETTINGS if s.cli), key=lambda s: s.help_last)
]


def _with_pacing(command):
    """Add the pacing options to a command; it receives them folded into `settings`."""
    # eval_str: this module's annotations are strings (postponed evaluation), and typer reads
    # the Annotated[...] metadata from the signature we hand it.
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "settings"]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        cli = from_options(**{p.name: kwargs.pop(p.name) for p in _PACING_PARAMS})
        return command(*args, settings=cli.over(load_config()), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + _PACING_PARAMS)
    wrapper.__annotations__ = {
        p.name: p.annotation for p in wrapper.__signature__.parameters.values()
    }
    return wrapper


RoutineArg = Annotated[
    str,
    typer.Argument(
        metavar="ROUTINE",
        help="A routine file (.yaml), a compiled cue script (.json) or a built-in routine name.",
        show_default=False,
    ),
]


# -- commands -----------------------------------------------------------------------------


@app.command(cls=_Command)
def validate(
    paths: Annotated[
        list[str], typer.Argument(metavar="PATH...", help="Routine files or built-in names.")
    ],
) -> None:
    """Check routine files and report every problem as PATH:LINE:COL: error: MESSAGE.

    Exits 2 if any file has a problem. A routine in a language coach has no words of its
    own in gets a warning (PATH:LINE:COL: warning: ...) and is still ok.

    Example: coach validate my-routine.yaml
    """
    from coach.pipeline import check

    problems: list[Problem] = []
    for ref in paths:
        try:
            checked = check(ref)
        except RoutineError as e:
            problems.extend(e.problems)
        else:
            from coach.values import format_clock

            for warning in checked.warnings:  # said, and the routine is still fine
                typer.echo(str(warning), err=True)
            script = checked.script
            steps = len(script.chapters) - 1  # the introduction is not a step
            length = format_clock(script.duration_ms, tenths=False)
            typer.echo(f"{ref}: ok, {steps} {'step' if steps == 1 else 'steps'}, {length}")
    if problems:
        raise RoutineError(problems)


@app.command("compile", cls=_Command)
@_with_pacing
def compile_(
    routine: RoutineArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the cue script as JSON.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write the cue script (JSON) to this file.", dir_okay=False
        ),
    ] = None,
    settings=None,
) -> None:
    """Compile a routine into its timed cue script and print the timeline.

    Example: coach compile upper-back-release --pace 1.25 --json
    """
    from coach.pipeline import load_spoken
    from coach.script import cues

    with _speaking() as speaking:
        script = load_spoken(routine, settings, speaking).script
    if output is not None:
        from coach.atomic import write_text_atomic

        write_text_atomic(output, cues.dumps(script))
        typer.echo(f"wrote {output}", err=True)
    elif as_json:
        typer.echo(cues.dumps(script), nl=False)
    else:
        typer.echo("\n".join(cues.timeline(script)))


@app.command("list", cls=_Command)
def list_(
    language: Annotated[
        str | None,
        typer.Option(
            "--language", "-l", help="Only routines in this language (de also lists de-AT)."
        ),
    ] = None,
) -> None:
    """List the built-in routines and your own, with their length, language and title.

    Your own are the routines in your routines folder (coach new puts them there;
    COACH_ROUTINES_DIR names another folder). One with the name of a built-in routine is
    played instead of it. Built-in routines in another language end in its code:
    upper-back-quick-de is upper-back-quick in German.

    Example: coach list --language de
    """
    from coach.errors import CoachError
    from coach.pipeline import listed
    from coach.routine.library import builtin_names, user_dir, user_routines
    from coach.values import format_clock
    from coach.words import same_language

    mine = user_routines()
    rows = []
    for name, path in [(n, None) for n in builtin_names()] + list(mine.items()):
        ref = name if path is None else str(path)
        where = "built-in" if path is None else "yours"
        if path is None and name in mine:
            where = "built-in (yours is played)"
        try:
            shown = listed(ref)
        except CoachError as e:  # one broken routine of one's own must not hide the others
            if language is None:
                first = e.lines()[0] if e.lines() else str(e)
                rows.append((name, "?", "?", f"does not load: {first}", where))
            continue
        if language is not None and not same_language(shown.language, language):
            continue
        length = format_clock(shown.duration_ms, tenths=False)
        length = length if shown.measured else f"~{length}"
        rows.append((name, length, shown.language, shown.title, where))
    if not rows and language is not None:
        typer.echo(f"no routines in '{language}'; run `coach list` to see them all", err=True)
    width = max((len(r[0]) for r in rows), default=0)
    langs = max((len(r[2]) for r in rows), default=0)
    for name, length, lang, title, where in rows:
        typer.echo(f"{name:<{width}}  {length:>6}  {lang:<{langs}}  {title}  [{where}]")
    if any(row[1].startswith("~") for row in rows):
        typer.echo(
            "\n~ estimated from the speech rate: the voice has not spoken these yet "
            "(coach show NAME does, once)"
        )
    typer.echo(f"\nyour routines folder: {user_dir()}")


@app.command(cls=_Command)
def new(
    name: Annotated[str, typer.Argument(help="The routine's name: letters, digits, - and _.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write it here instead of your routines folder."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starter routine that validates and plays as it is.

    It goes into your routines folder, so `coach play NAME` finds it from anywhere (and
    `coach list` shows it); --output writes it anywhere else.

    Example: coach new morning-stretch
    """
    from coach.atomic import write_text_atomic
    from coach.errors import UserError
    from coach.routine.library import schema_path, user_dir
    from coach.routine.starter import check_name, starter_text

    check_name(name)
    path = output if output is not None else user_dir() / f"{name}.yaml"
    if path.exists() and not force:
        raise UserError(f"{path} exists; use --force to replace it")
    if output is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from coach.atomic import write_fault

            raise write_fault(path, path.parent, e) from None
    write_text_atomic(path, starter_text(name, schema_path()))
    typer.echo(f"wrote {path}")
    shown = name if output is None else str(path)
    typer.echo(f"next: edit it, then coach validate {shown} and coach play {shown}")


@app.command(cls=_Command)
@_with_pacing
def show(routine: RoutineArg, settings=None) -> None:
    """Show a routine's steps, when each starts and how long it lasts, at the chosen pacing.

    Then what the routine gives to read rather than hear: its source, tips, alternatives and
    questions and answers.

    Example: coach show upper-back-release --hold-scale 1.5
    """
    from coach.pipeline import load_spoken
    from coach.script.summary import notes_lines, summary_lines

    with _speaking() as speaking:
        spoken = load_spoken(routine, settings, speaking)
    lines = summary_lines(spoken.script)
    if spoken.routine is not None:
        lines += notes_lines(spoken.routine)
    typer.echo("\n".join(lines))


@app.command(cls=_Command)
def schema() -> None:
    """Print the JSON Schema of the routine format, for editors (yaml-language-server).

    Example: coach schema > routine.schema.json
    """
    from coach.routine.library import schema_path

    typer.echo(schema_path().read_text(encoding="utf-8"), nl=False)


def config() -> None:
    # The docstring (its --help) is written below, from the settings table.
    from coach.settings import config_path, config_rows

    path = config_path()
    rows = config_rows(path)  # a bad config file is reported before anything is printed
    state = "exists" if path.exists() else "not created yet"
    typer.echo(f"config file: {path} ({state})")
    for key, value, source in rows:
        typer.echo(f"  {key:<12} {value}  [{source}]")


_KEYS = (
    f"Its keys are the pacing options ({', '.join(CONFIG_KEYS)}); command-line options "
    "override it, and it overrides a routine's own values."
)
config.__doc__ = f"""Show where your config file is and the settings it gives.

{textwrap.fill(_KEYS, 90)}

Example: coach config
"""
app.command(cls=_Command)(config)


class _Caption(str, Enum):
    srt = "srt"
    vtt = "vtt"
    lrc = "lrc"


@app.command(cls=_Command)
@_with_pacing
def export(
    routine: RoutineArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Audio file to write (default: audio/ROUTINE.mp3).",
            dir_okay=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="wav, flac, mp3, ogg, opus, m4a or m4b (default: from the file name)."
        ),
    ] = None,
    captions: Annotated[
        list[_Caption] | None,
        typer.Option("--captions", help="Also write captions beside the audio (repeatable)."),
    ] = None,
    stereo: Annotated[
        bool, typer.Option("--stereo", help="Pan cues of a sided exercise toward that ear.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    settings=None,
) -> None:
    """Export a routine as one audio file with chapters, tags and optional captions.

    Example: coach export upper-back-release -o back.mp3 --captions srt
    """
    from coach.export.session import export as run_export
    from coach.values import format_clock

    with _speaking(quiet) as speaking, _progress(quiet) as progress:
        done = run_export(
            routine,
            output,
            fmt,
            tuple(c.value for c in captions or ()),
            settings,
            stereo=stereo,
            force=force,
            progress=progress,
            speaking=speaking,
        )
    for line in done.notes:  # a fallback or a setting the voice cannot honour: never silent
        typer.echo(f"coach: {line}", err=True)
    if not quiet:
        extra = "".join(f", {p}" for p in done.captions)
        length = format_clock(done.duration_ms, tenths=False)
        typer.echo(f"wrote {done.path}{extra} ({length}, voice {done.voice})", err=True)


class _progress:
    """A progress bar on a terminal for exports that take more than a moment."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar: Progress | None = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import Progress

        self.bar = bar = Progress(transient=True, console=None)
        bar.start()
        task = bar.add_task("writing", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


class _speaking:
    """Progress of phrases spoken for the first time (the phrase cache lacked them): a bar on
    a terminal, else one line; nothing at all when every phrase was cached."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.told = False

    def __enter__(self):
        return None if self.quiet else self.update

    def update(self, done: int, total: int, voice: str) -> None:
        if not self.told:
            self.told = True
            if sys.stderr.isatty():
                from rich.console import Console
                from rich.progress import Progress

                self.bar = Progress(transient=True, console=Console(stderr=True))
                self.bar.start()
                self.task = self.bar.add_task(f"speaking new phrases ({voice})", total=total)
            else:
                noun = "phrase" if total == 1 else "phrases"
                typer.echo(
                    f"coach: speaking {total} new {noun} with {voice} "
                    "(once; they are kept in the phrase cache)",
                    err=True,
                )
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@app.command(cls=_Command)
@_with_pacing
def play(
    routine: RoutineArg,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help="paplay, pw-play, aplay, simpleaudio or afplay (default: the first that works).",
        ),
    ] = None,
    stereo: Annotated[
        bool, typer.Option("--stereo", help="Pan cues of a sided exercise toward that ear.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Go on from the step that was playing when it stopped."),
    ] = False,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="STEP",
            help="Start at this step: its number in `coach show`, or its name.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live view on the terminal.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also say whether media keys and playerctl can reach coach, and until when the "
            "first words waited for Piper.",
        ),
    ] = False,
    settings=None,
) -> None:
    """Play a routine through the speakers, hands-free, from start to finish.

    Keys while playing (no Enter needed): space pause/resume, n or right arrow next step,
    p or left arrow back to the start of the step, r repeat the last instruction, + and -
    faster and slower, q quit. Each is answered by voice. q, Ctrl-C (exit code 130) and
    SIGTERM stop the sound at once and save the position for --resume. Media keys, headset
    buttons and playerctl work too (MPRIS, on the session bus). Each session is recorded in
    the history (coach history).

    Example: coach play upper-back-release --pace 0.9
    """
    import contextlib

    from coach.play.keys import HELP, terminal_keys
    from coach.play.session import play_routine
    from coach.play.view import LiveView

    view = None if quiet else LiveView(sys.stdout, sys.stdout.isatty())
    keys = terminal_keys()

    def note(text: str) -> None:
        if view is not None and view.terminal:
            view.note(text)
        else:
            typer.echo(text, err=True)

    if view is not None and view.terminal and keys is not None:
        view.note(HELP)
    try:
        with keys if keys is not None else contextlib.nullcontext(), _speaking(quiet) as speaking:
            outcome = play_routine(
                routine,
                settings,
                output,
                stereo,
                resume=resume,
                from_step=from_step,
                keys=keys,
                view=view,
                note=note,
                speaking=speaking,
                verbose=verbose,
            )
    finally:
        if view is not None:
            view.close()
    if not outcome.finished:
        raise typer.Exit(0)


@app.command(cls=_Command)
def history(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the sessions and the summary as JSON.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Only sessions from this day on: YYYY-MM-DD, today, or a number of days "
            "back (7d).",
        ),
    ] = None,
    last: Annotated[
        int, typer.Option("--last", "-n", min=1, help="How many sessions the table shows.")
    ] = 10,
    clear: Annotated[
        bool, typer.Option("--clear", help="Forget every session (asks first, unless --yes).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Clear without asking.")] = False,
) -> None:
    """Show the sessions you played: the last ones, this week, and your streak of days.

    Each `coach play` is recorded when it ends (finished or not), in history.sqlite3 in the
    state folder (COACH_STATE_DIR moves it).

    Example: coach history --since 7d
    """
    from datetime import date

    from coach.history.store import History, summarize
    from coach.history.text import parse_since, session_rows, summary_lines

    store = History()
    if clear:
        if not yes:
            if not sys.stdin.isatty():
                from coach.errors import UsageError

                raise UsageError("--clear", "add --yes to clear the history without being asked")
            typer.confirm(f"Forget every session in {store.path}?", abort=True)
        n = store.clear()
        typer.echo(f"forgot {n} {'session' if n == 1 else 'sessions'} ({store.path})")
        return
    start = parse_since(since, date.today()) if since is not None else None
    records = store.sessions()
    for line in store.notes:
        typer.echo(f"coach: {line}", err=True)
    summary = summarize(records, date.today())
    shown = tuple(r for r in records if start is None or r.day >= start)
    if as_json:
        import json

        typer.echo(
            json.dumps(
                {
                    "sessions": [r.to_json() for r in shown],
                    "week": {
                        "start": summary.week_start.isoformat(),
                        "days_active": summary.days_active,
                        "played_ms": summary.played_ms,
                        "sessions": summary.sessions,
                    },
                    "streak_days": summary.streak_days,
                    "file": str(store.path),
                },
                indent=2,
            )
        )
        return
    for line in session_rows(shown[-last:] if since is None else shown):
        typer.echo(line)
    if not shown:
        typer.echo("no sessions yet" if not records else "no sessions since then")
    typer.echo("")
    for line in summary_lines(summary):
        typer.echo(line)


@app.command(cls=_Command)
def doctor() -> None:
    """Check what coach needs: the voice, the audio output, ffmpeg and coach's folders.

    Each check says what it found, and how to fix it where it fails. Exit code 1 when
    something coach needs is missing.

    Example: coach doctor
    """
    from coach.doctor import exit_code, format_checks, run_checks

    checks = run_checks()
    for line in format_checks(checks):
        typer.echo(line)
    raise typer.Exit(exit_code(checks))


@app.command(cls=_Command)
def voices(
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Only voices for this language.")
    ] = None,
) -> None:
    """List the installed voices of both engines: name, engine, language, sample rate and
    where each came from (a bundled package, your voices folder, espeak-ng).

    Any Piper voice you add (its .onnx with its .onnx.json, into the voices folder shown at
    the end, or named by path with --voice) is listed too. Exit code 1 when a voice file in
    that folder cannot be used.

    Example: coach voices --language en
    """
    from coach.sound.piper import voices_dir
    from coach.sound.voice import list_voices, piper_voices

    found = list_voices(language)
    width = max((len(v.qualified) for v in found), default=0)
    langs = max((len(", ".join(v.languages)) for v in found), default=0)
    for v in found:
        typer.echo(
            f"{v.qualified:<{width}}  {v.engine:<6}  {', '.join(v.languages):<{langs}}  "
            f"{v.sample_rate:>5} Hz  {v.source}  {v.name}"
        )
        if v.provenance:
            typer.echo(f"{'':<{width}}  model card: {v.provenance}")
    if not found:
        typer.echo(f"no voices for '{language}'; run `coach voices` to see them all", err=True)
    typer.echo(f"\nyour Piper voices folder: {voices_dir()}")
    faults = piper_voices()[1]
    for fault in faults:
        for line in fault.lines():
            typer.echo(f"coach: {line}", err=True)
    if faults:
        raise typer.Exit(1)


@app.command(cls=_Command)
def cache(
    clear: Annotated[bool, typer.Option("--clear", help="Delete every cached phrase.")] = False,
) -> None:
    """Show the phrase cache's folder and size, or clear it.

    Each phrase is synthesized once and kept; COACH_CACHE_DIR moves the cache.

    Example: coach cache --clear
    """
    from coach.sound.cache import cache_dir, cache_stats, clear_cache

    folder = cache_dir()
    if clear:
        typer.echo(f"removed {clear_cache(folder)} phrases from {folder}")
        return
    count, size = cache_stats(folder)
    typer.echo(f"{folder}: {count} phrases, {size / 1_048_576:.1f} MiB")


def main() -> None:
    """Entry point of the `coach` console script and `python -m coach`."""
    from coach.interrupts import stop_on_signals

    with stop_on_signals():  # SIGTERM, SIGHUP: the same clean-up as Ctrl-C
        app(prog_name="coach")
