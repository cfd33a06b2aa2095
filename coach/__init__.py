"""coach: a voice-guided audio coach.

The pipeline, one way, one subpackage per stage (docs/architecture.md):

    routine/  YAML -> Routine            script/  Routine + settings -> CueScript
    sound/    CueScript -> PCM            export/  PCM -> audio file     play/  PCM -> speaker

`settings` is the one table of settings, `pipeline` runs the front of it for a ROUTINE argument,
`cli` is the only module that imports typer.
"""

__version__ = "0.1.0"
