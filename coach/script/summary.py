"""`coach show`: a cue script summarised step by step, for people who look at a screen."""

from __future__ import annotations

from coach.routine.model import Routine
from coach.script.cues import CueScript
from coach.values import format_clock, format_duration


def _clock(ms: int) -> str:
    return format_clock(ms, tenths=False)


def summary_lines(script: CueScript) -> list[str]:
    p = script.settings
    lines = [script.title, ""]
    lines.append(f"  {'#':>3}  {'start':>6}  {'length':>6}  step")
    windows: dict[int, list[int]] = {}  # each step's timed windows (holds, reps, breathing)
    for w in script.hold_windows():
        windows.setdefault(w.step, []).append(w.length_ms)
    for i, ch in enumerate(script.chapters):
        detail = _describe(windows.get(i, []))
        lines.append(
            f"  {i:>3}  {_clock(ch.start_ms):>6}  {_clock(ch.end_ms - ch.start_ms):>6}  "
            f"{ch.title}{'  (' + detail + ')' if detail else ''}"
        )
    lines.append("")
    pacing = [f"pace {p.pace:g}", f"speech {p.rate_wpm} words/min"]
    if p.hold_ms is not None:
        pacing.append(f"holds {format_duration(p.hold_ms)}")
    if p.hold_scale != 1:
        pacing.append(f"holds x{p.hold_scale:g}")
    if p.rest_ms is not None:
        pacing.append(f"rests {format_duration(p.rest_ms)}")
    if p.rest_scale != 1:
        pacing.append(f"rests x{p.rest_scale:g}")
    if p.breath is not None:
        pacing.append(f"breath {p.breath.name}")
    lines.append(f"Total {_clock(script.duration_ms)} ({', '.join(pacing)})")
    return lines


def _describe(lengths: list[int]) -> str:
    """'30s' or '2 x 30s' (or each length, when they differ)."""
    if not lengths:
        return ""
    if len(set(lengths)) == 1:
        one = format_duration(round(lengths[0], -2))
        return one if len(lengths) == 1 else f"{len(lengths)} x {one}"
    return ", ".join(format_duration(round(n, -2)) for n in lengths)


def notes_lines(routine: Routine) -> list[str]:
    """What a routine gives to read, not to hear: description, source, tips, alternatives, FAQ."""
    import textwrap

    def wrapped(text: str, first: str, rest: str) -> list[str]:
        return textwrap.wrap(
            " ".join(text.split()), 92, initial_indent=first, subsequent_indent=rest
        )

    lines: list[str] = []
    if routine.description:
        lines += ["", *wrapped(routine.description, "", "")]
    if routine.source:
        lines += ["", *wrapped(routine.source, "Source: ", "  ")]
    for heading, items in (("Tips", routine.tips), ("Alternatives", routine.alternatives)):
        if items:
            lines += ["", heading]
            for item in items:
                lines += wrapped(item, "  - ", "    ")
    if routine.faq:
        lines += ["", "Questions"]
        for entry in routine.faq:
            lines += wrapped(entry.question, "  ", "  ")
            lines += wrapped(entry.answer, "    ", "    ")
    return lines
