"""Cue scripts: Routine + settings + phrase lengths -> a timed `CueScript`, and views of it.

Owns the cue script contract (`cues`: cue and tone kinds, chapters, the JSON form), the tone
table (`tones`: names and lengths, no audio), the compiler (`compiler`), captions (`captions`)
and the step-by-step summary (`summary`).

Pure values in, values out: no audio, no speech engine, no files written. Must not import
sound, export, play or history.
"""
