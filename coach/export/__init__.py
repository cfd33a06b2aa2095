"""Export: a rendered session as one audio file, with chapters, tags and captions.

Owns the output formats (formats: one table), their encoders (encode: wav itself, the others
through libsndfile; ffmpeg: m4a/m4b) and per-container tags (tags); write puts them together,
all or nothing; session is `coach export`. Must not import play or history; nothing is ever
half written (coach.atomic).
"""
