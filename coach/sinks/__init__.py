"""Where rendered PCM goes: audio files (`coach.sinks.files`) and, elsewhere, the speaker.

Sinks are the only place float32 audio is converted to what an encoder or a sound card takes.
Nothing heavy is imported here, so importing the package stays cheap.
"""
