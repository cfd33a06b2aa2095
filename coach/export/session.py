"""`coach export`: a routine as one audio file with chapters, tags and captions.

The file holds exactly what `coach play` would say, sample for sample: both render the same
cue script with the same voice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coach.errors import UserError
from coach.pipeline import Speaking, load_spoken
from coach.routine.library import find

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
    from coach.atomic import write_text_atomic
    from coach.export.encode import Blocks
    from coach.export.formats import format_for
    from coach.export.tags import Tags
    from coach.export.write import write_audio
    from coach.script.captions import captions as caption_text
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
    p = script.settings
    comment = (
        f"coach; pace {p.pace:g}; speech {p.rate_wpm} words/min; voice {voice.label}"
        f"; holds x{p.hold_scale:g}; rests x{p.rest_scale:g}"
    )
    tags = Tags(title=script.title, artist="coach", album=script.title, comment=comment)
    write_audio(
        output, pcm, voice.sample_rate, fmt, script.chapters, tags, force=force, progress=progress
    )
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
