"""coach: a voice-guided audio coach.

A routine written in YAML is loaded (`coach.routine`), compiled into a timed cue script
(`coach.compiler`, `coach.cues`), and later spoken, rendered and played. See DESIGN.md.
"""

__version__ = "0.1.0"
