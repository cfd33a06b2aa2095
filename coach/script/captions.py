"""Captions from a cue script: SRT, WebVTT and LRC text, so a player shows what is being said.

One caption per speech cue. It appears when the cue starts and stays until the next speech cue
starts or the cue's chapter ends, whichever comes first (and never before the cue's own end), so
the current instruction stays on screen through a hold. Tones get no caption.

Pure text in, text out: the exporter writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.script.cues import CueScript
from coach.words import words_for

CAPTION_FORMATS = ("srt", "vtt", "lrc")


@dataclass(frozen=True, slots=True)
class Caption:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]  # the cue's text, one entry per non-blank line
    step: int


def caption_events(script: CueScript) -> tuple[Caption, ...]:
    """When each speech cue's caption is shown, by the rule in the module docstring."""
    speech = script.speech()
    out = []
    for i, cue in enumerate(speech):
        lines = _lines(cue.text or "")
        if not lines:  # nothing to show; the caption before it stays up instead
            continue
        if 0 <= cue.step < len(script.chapters):
            until = script.chapters[cue.step].end_ms
        else:
            until = script.duration_ms
        if i + 1 < len(speech):
            until = min(until, speech[i + 1].start_ms)
        out.append(Caption(cue.start_ms, max(cue.end_ms, until), lines, cue.step))
    return tuple(out)


def captions(script: CueScript, fmt: str, *, chapters: bool = True) -> str:
    """The captions of `script` as the text of an `fmt` file (one of CAPTION_FORMATS).

    With `chapters`, WebVTT gets a NOTE with each chapter's title before its first caption;
    SRT has no comments and LRC only a title header, so they leave chapter titles out.
    """
    if fmt not in CAPTION_FORMATS:
        raise ValueError(f"unknown caption format {fmt!r}; known: {', '.join(CAPTION_FORMATS)}")
    events = caption_events(script)
    if fmt == "srt":
        return _srt(events)
    if fmt == "vtt":
        return _vtt(script, events, chapters)
    return _lrc(script, events)


def _lines(text: str) -> tuple[str, ...]:
    # A blank line ends a caption in SRT and WebVTT, so only lines with words are kept.
    return tuple(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clock(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


# -- SRT ----------------------------------------------------------------------------------

# SRT has no escapes, and players read `<...>` in it as markup (ffmpeg drops `<speak>`), so
# angle brackets become look-alike quotation marks that show as written.
_SRT_TEXT = str.maketrans({"<": "‹", ">": "›"})


def _srt(events: tuple[Caption, ...]) -> str:
    blocks = []
    for n, ev in enumerate(events, 1):
        text = "\n".join(line.translate(_SRT_TEXT) for line in ev.lines)
        blocks.append(f"{n}\n{_clock(ev.start_ms, ',')} --> {_clock(ev.end_ms, ',')}\n{text}\n")
    return "\n".join(blocks)


# -- WebVTT -------------------------------------------------------------------------------


def _vtt_escape(text: str) -> str:
    # Escaping `>` also keeps "-->" out of cue text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt(script: CueScript, events: tuple[Caption, ...], chapters: bool) -> str:
    blocks = ["WEBVTT\n"]
    words = words_for(script.language)
    noted = -1
    for ev in events:
        if chapters:
            while noted < min(ev.step, len(script.chapters) - 1):
                noted += 1
                ch = script.chapters[noted]
                # A comment may hold anything but "-->" and blank lines.
                title = _one_line(ch.title).replace("-->", "->")
                # TRANSLATORS: a comment in a WebVTT caption file, before a chapter's captions.
                note = words.gettext("Chapter {n}: {title}", n=noted + 1, title=title)
                blocks.append(f"NOTE {note} ({_clock(ch.start_ms, '.')})\n")
        text = "\n".join(_vtt_escape(line) for line in ev.lines)
        blocks.append(f"{_clock(ev.start_ms, '.')} --> {_clock(ev.end_ms, '.')}\n{text}\n")
    return "\n".join(blocks)


# -- LRC ----------------------------------------------------------------------------------


def _lrc_time(ms: int) -> str:
    cs = ms // 10  # LRC counts hundredths; never show a line late
    m, cs = divmod(cs, 6000)
    return f"[{m:02d}:{cs // 100:02d}.{cs % 100:02d}]"


def _lrc(script: CueScript, events: tuple[Caption, ...]) -> str:
    m, s = divmod(round(script.duration_ms / 1000), 60)
    lines = [f"[ti:{_one_line(script.title)}]", "[ar:coach]", f"[length:{m:02d}:{s:02d}]"]
    for i, ev in enumerate(events):
        lines.append(_lrc_time(ev.start_ms) + " / ".join(ev.lines))
        # LRC lines have no end: an empty line clears the text where the caption ends early.
        nxt = events[i + 1].start_ms if i + 1 < len(events) else script.duration_ms
        if ev.end_ms // 10 < nxt // 10:
            lines.append(_lrc_time(ev.end_ms))
    return "\n".join(lines) + "\n"
