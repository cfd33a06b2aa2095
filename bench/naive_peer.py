"""The naive peer: the script people write first, to compare coach's timing with.

It speaks with pyttsx3's `say()` + `runAndWait()` (the engine plays it itself) and waits with
`time.sleep()`: after each sentence, it sleeps for the silence the plan has until the next one.
It follows the same cue script coach plays (its sentences and its silences), so its onsets can
be compared with the same plan. What it does not do is what coach does: place each sound at a
sample offset of one stream, so whatever a sentence takes beyond its planned length (the
engine's start-up, a slower voice) pushes everything after it later.

Usage: python naive_peer.py CUE_SCRIPT.json  (prints nothing; exits when done)
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str) -> None:
    import pyttsx3

    with open(path, encoding="utf-8") as f:
        script = json.load(f)
    speech = [c for c in script["cues"] if c["kind"] == "speech"]
    engine = pyttsx3.init()
    engine.setProperty("rate", script["settings"]["rate_wpm"])
    time.sleep(speech[0]["start_ms"] / 1000 if speech else 0)
    for cue, after in zip(speech, [*speech[1:], None]):
        engine.say(cue["text"])
        engine.runAndWait()
        if after is not None:
            time.sleep(max(0, after["start_ms"] - cue["end_ms"]) / 1000)


if __name__ == "__main__":
    main(sys.argv[1])
