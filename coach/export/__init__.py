"""Export: a rendered session as one audio file, with chapters, tags and captions.

Owns the output formats, their encoders (libsndfile, ffmpeg) and per-container tags. Must not
import play or history; nothing is ever half written (coach.atomic).
"""
