"""The output formats, declared once: one row per format with its file extensions, the encoder
that writes it, the sample rates it takes, how it carries tags and chapters.

Everything else (`AUDIO_FORMATS`, `format_for`, the checks in `write_audio`, `coach doctor`)
is derived from `FORMATS`. Chapters per format:

- mp3: ID3v2.4 CTOC (top level, ordered) + one CHAP per chapter with a TIT2 title.
- flac, ogg, opus: Vorbis comments CHAPTER001=HH:MM:SS.mmm and CHAPTER001NAME=title.
- wav: a `cue ` chunk (one cue point per chapter start, in samples) and a LIST/adtl chunk with
  a `labl` (title) and an `ltxt` region (length in samples) per cue point.
- m4a, m4b: ffmpeg's chapters from an ffmetadata file (a QuickTime chapter track and `chpl`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coach.errors import UsageError, UserError

_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# libopus takes only these; other rates are resampled to the next one up.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MAX_VORBIS_CHAPTERS = 999  # ffmpeg reads exactly three digits: CHAPTER001..CHAPTER999


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One output format and everything that differs between formats."""

    name: str
    extensions: tuple[str, ...]  # lower case, with the dot; the first is the usual one
    encoder: str  # "coach" (written by coach.export.encode), "libsndfile" (soundfile) or "ffmpeg"
    soundfile: tuple[str, str] | None  # libsndfile's (major format, subtype)
    int16: bool  # the samples are converted to int16 here; the lossy encoders take float
    sample_rates: tuple[int, ...] | None  # the rates the codec takes; None: any
    resamples: bool  # another rate is resampled to the next one up (else it is refused)
    tags: str  # "riff-info", "id3", "vorbis" or "ffmetadata"
    chapters: str  # "riff-cue", "id3-chap", "vorbis-comment" or "ffmetadata"
    max_chapters: int | None  # None: no limit of the container's own


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(
            "wav",
            extensions=(".wav", ".wave"),
            encoder="coach",
            soundfile=None,
            int16=True,
            sample_rates=None,
            resamples=False,
            tags="riff-info",
            chapters="riff-cue",
            max_chapters=None,
        ),
        OutputFormat(
            "flac",
            extensions=(".flac",),
            encoder="libsndfile",
            soundfile=("FLAC", "PCM_16"),
            int16=True,
            sample_rates=None,
            resamples=False,
            tags="vorbis",
            chapters="vorbis-comment",
            max_chapters=_MAX_VORBIS_CHAPTERS,
        ),
        OutputFormat(
            "mp3",
            extensions=(".mp3",),
            encoder="libsndfile",
            soundfile=("MP3", "MPEG_LAYER_III"),
            int16=False,
            sample_rates=_MP3_RATES,
            resamples=False,
            tags="id3",
            chapters="id3-chap",
            max_chapters=None,
        ),
        OutputFormat(
            "ogg",
            extensions=(".ogg", ".oga"),
            encoder="libsndfile",
            soundfile=("OGG", "VORBIS"),
            int16=False,
            sample_rates=None,
            resamples=False,
            tags="vorbis",
            chapters="vorbis-comment",
            max_chapters=_MAX_VORBIS_CHAPTERS,
        ),
        OutputFormat(
            "opus",
            extensions=(".opus",),
            encoder="libsndfile",
            soundfile=("OGG", "OPUS"),
            int16=False,
            sample_rates=_OPUS_RATES,
            resamples=True,
            tags="vorbis",
            chapters="vorbis-comment",
            max_chapters=_MAX_VORBIS_CHAPTERS,
        ),
        OutputFormat(
            "m4a",
            extensions=(".m4a",),
            encoder="ffmpeg",
            soundfile=None,
            int16=False,
            sample_rates=None,
            resamples=False,
            tags="ffmetadata",
            chapters="ffmetadata",
            max_chapters=None,
        ),
        OutputFormat(
            "m4b",
            extensions=(".m4b",),
            encoder="ffmpeg",
            soundfile=None,
            int16=False,
            sample_rates=None,
            resamples=False,
            tags="ffmetadata",
            chapters="ffmetadata",
            max_chapters=None,
        ),
    )
}

AUDIO_FORMATS = tuple(FORMATS)
# format -> (libsndfile major format, subtype), for the formats soundfile writes itself
SOUNDFILE = {f.name: f.soundfile for f in FORMATS.values() if f.soundfile is not None}
_EXTENSIONS = {ext: f.name for f in FORMATS.values() for ext in f.extensions}


def format_for(path: Path | str, explicit: str | None = None) -> str:
    """The audio format to write: `explicit` (from --format) if given, else the extension's."""
    known = ", ".join(AUDIO_FORMATS)
    if explicit is not None:
        fmt = explicit.strip().lower().lstrip(".")
        if fmt not in AUDIO_FORMATS:
            raise UsageError("--format", f"unknown audio format '{explicit}'; known: {known}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    found = f"the extension '{suffix}'" if suffix else "no extension"
    raise UserError(
        f"{path}: cannot tell the audio format from {found}; "
        f"name the file .{', .'.join(AUDIO_FORMATS)} or pass --format ({known})"
    )


def encoder_rate(fmt: OutputFormat, sample_rate: int) -> int:
    """The rate the file is encoded at: `sample_rate`, or for a codec that takes only some
    rates and resamples the rest, the next one up (the highest it takes, above them all)."""
    if not fmt.resamples or fmt.sample_rates is None or sample_rate in fmt.sample_rates:
        return sample_rate
    return next((r for r in fmt.sample_rates if r >= sample_rate), fmt.sample_rates[-1])
