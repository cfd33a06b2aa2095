"""Sound: speech engines behind one `Voice` protocol, the phrase cache, loudness processing,
tones, and rendering a cue script to PCM (mono float32 in [-1, 1]).

Must not import export, play or history: both outputs take their samples from here, so a file
and a session hold the same sound, sample for sample.
"""
