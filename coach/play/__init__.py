"""Play: a hands-free session through the speaker, with controls that need no screen.

Owns the session loop, speaker outputs, terminal keys, the live view and saved positions. Must
not import export or history's internals; it renders through coach.sound like an export does.
"""
