"""History: the record of every `coach play` session, in one SQLite file in the state folder.

Owns the database (its schema, built by migrations from the first version), writing one
session's record, and reading them back: the last sessions, this week, the streak of days.
Writing never costs a session: every fault of the file becomes one line of text for the caller
to show, and a damaged file is kept aside, never deleted. Must not import play, export,
pipeline or sound: it records plain values handed to it, and knows nothing of audio.
"""
