"""`coach export`: a routine as one audio file with chapters, tags and captions.

The file holds exactly what `coach play` would say, sample for sample: both render the same
cue script with the same voice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import UserError
from coach.pipeline import Speaking, load_spoken
from coach.routine.library import find

if TYPE_CHECKING:
    from coach.export.tags import Tags
    from coach.script.cues import CueScript

DEFAULT_FOLDER = Path("audio")
DEFAULT_FORMAT = "mp3"


@dataclass(frozen=True, slots=True)
class Exported:
    path: Path
    captions: tuple[Path, ...]
    duration_ms: int
    sample_rate: int
    synthesized: int  # phrases the voice had to make (the rest came from the cache)
    voice: str = ""  # the voice that spoke it, with its engine: piper:en_US-joe-medium
    notes: tuple[str, ...] = ()  # a fallback or an unhonoured setting, for the CLI to say


def _tags(script: CueScript, voice: str) -> Tags:
    """The file's tags: the routine's title, and how it was made, in its language."""
    from coach.export.tags import Tags
    from coach.words import language_of, words_for

    p, words = script.settings, words_for(script.language)
    pace, holds, rests = (f"{x:g}" for x in (p.pace, p.hold_scale, p.rest_scale))
    comment = words.gettext(
        # TRANSLATORS: a file's comment tag, on how coach made it; {rate} is words a minute.
        "coach; pace {pace}; speech {rate} words/min; voice {voice}; holds x{holds}; "
        "rests x{rests}",
        pace=pace,
        rate=p.rate_wpm,
        voice=voice,
        holds=holds,
        rests=rests,
    )
    known = language_of(script.language)
    return Tags(
        title=script.title,
        artist="coach",
        album=script.title,
        comment=comment,
        language=script.language,
        # a routine in English says "en": its words are English whether coach's are or not
        language3=known.iso639_2 if known else None,
    )


def default_output(ref: str, fmt: str | None) -> Path:
    """audio/<routine>.<ext>: the built-in name or the routine file's name."""
    source = find(ref)
    return DEFAULT_FOLDER / f"{source.path.stem}.{fmt or DEFAULT_FORMAT}"


def export(
    ref: str,
    output: Path | None = None,
    fmt: str | None = None,
    captions: tuple[str, ...] = (),
    settings=None,
    stereo: bool = False,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    speaking: Speaking | None = None,
) -> Exported:
    """Render ROUTINE and write it (and its caption files) all at once or not at all."""
    from coach.export.encode import Blocks
    from coach.export.formats import format_for
    from coach.export.write import write_audio
    from coach.sound.render import Layout, Mixer

    if output is None:
        output = default_output(ref, fmt)
        output.parent.mkdir(exist_ok=True)
    fmt = format_for(output, fmt)
    caption_paths = tuple(output.with_suffix(f".{c}") for c in dict.fromkeys(captions))
    if not force:
        for path in (output, *caption_paths):
            if path.exists():
                raise UserError(f"{path} exists; use --force to replace it")
    spoken = load_spoken(ref, settings, speaking)
    script, voice = spoken.script, spoken.voice
    # Mixed block by block as the encoder takes it: memory stays flat however long the routine.
    layout = Layout(voice.sample_rate, 2 if stereo else 1)
    mixer = Mixer(script, voice, layout)
    pcm = Blocks(mixer.total, layout.channels, mixer.read, clipped=True)
    tags = _tags(script, voice.label)
    write_audio(
        output, pcm, voice.sample_rate, fmt, script.chapters, tags, force=force, progress=progress
    )
    if caption_paths:  # imported only then: most exports have none
        from coach.atomic import write_text_atomic
        from coach.script.captions import captions as caption_text

        for path, kind in zip(caption_paths, dict.fromkeys(captions)):
            write_text_atomic(path, caption_text(script, kind))
    return Exported(
        output,
        caption_paths,
        script.duration_ms,
        voice.sample_rate,
        voice.synthesized,
        voice.label,
        voice.notes(),
    )
