"""`coach play`: a hands-free session, with controls that need no screen.

The sound is the session `coach export` writes, streamed in segments (see coach/play/speaker.py):
one segment from wherever the session (re)starts to its end, written a second ahead of the
ear. A control stops the segment and starts the next one with a short spoken answer in front,
so every control is confirmed by ear; within a segment every cue sounds at its sample offset.

Everything here runs on one thread: a loop that writes the next samples, waits up to 50 ms for
a key and redraws the live view. No locks, and Ctrl-C lands in that loop.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from coach.errors import UsageError
from coach.interrupts import stop_on_signals
from coach.script.cues import CueKind, CueRole, CueScript, role_use
from coach.words import N_, words_for

if TYPE_CHECKING:
    import threading

    from coach.pipeline import Again
    from coach.play.hooks import Hook
    from coach.sound.render import Mixer

LEAD_S = 1.0  # how far ahead of the ear samples are written
TICK_S = 0.05  # how often the loop wakes to write, read keys and redraw
ANSWER_GAP_MS = 250  # silence between a control's answer and the session going on
# While Piper still speaks phrases, a segment starts only with this much of the session final
# after its start, so it never runs dry. The very start is the exception: the start tone sounds
# at once, and the silence after it lasts until this much after the first words' start is
# final (see _first_words_wait); the cue script is compiled with the first words there, so
# every cue still lands on its sample. (Betting instead that the voice says the first words
# within the tone and the pause after it, 1.25 s, failed on a busy machine: they came late, and
# everything after them too.)
START_AHEAD_MS = 2000
_FIRST_WORDS = CueRole.START  # the introduction's words (the start tone has this role too)
BACK_GRACE_MS = 3000  # "back" this soon into a step goes to the step before
PACE_STEP = 0.1

# What each control says back, in English; said in the routine's language (`answers`). A word
# and not a tone: the same tone for "paused" and "resuming" would not say which one happened.
ANSWERS = {
    "pause": N_("Paused."),
    "resume": N_("Resuming."),
    "next": N_("Next step."),
    "back": N_("Going back."),
    "faster": N_("Faster."),
    "slower": N_("Slower."),
    "last": N_("This is the last step."),
    "fastest": N_("That is the fastest pace."),
    "slowest": N_("That is the slowest pace."),
    "fixed": N_("The pace of a compiled cue script is fixed."),
}


# The keys a person may well press as soon as the routine starts (to skip the introduction, or
# to stop and think): their answers are spoken first (coach.pipeline.load_playing). The other
# answers come right after them; one asked for before it is spoken is spoken next.
FIRST_KEYS = ("pause", "resume", "next", "back")


def answers(language: str) -> dict[str, str]:
    """What each control says back, in `language` (coach's words in it, else English)."""
    words = words_for(language)
    return {key: words.gettext(said) for key, said in ANSWERS.items()}


class Quit(Exception):
    """The person pressed q."""


@dataclass(frozen=True, slots=True)
class Status:
    """What the live view shows; times in ms of the session."""

    step: int  # chapter index, as numbered by `coach show`
    steps: int
    title: str
    side: str | None
    next_title: str | None
    hold_left_ms: int | None  # inside a hold (or reps, or breathing): time to its end
    left_ms: int  # to the end of the routine
    paused: bool
    pace: float
    routine: str = ""
    at_ms: int = 0  # where the ear is in the session
    step_start_ms: int = 0
    step_end_ms: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    output: str | None
    duration_ms: int
    finished: bool  # played to the end (False: stopped by q)
    step: int  # the step playing when it ended or stopped
    first_words_ms: int | None = None  # the first words waited for the voice until then


class Keys:
    """No keyboard (stdin is not a terminal): just wait."""

    def read(self, timeout_s: float) -> str | None:
        time.sleep(timeout_s)
        return None

    def suspend(self) -> None:
        pass


class Session:
    """One `coach play`: the cue script, where the ear is in it, and the controls."""

    def __init__(
        self,
        script: CueScript,
        voice,
        speaker,
        *,
        layout=None,
        recompile: Callable[[float], CueScript] | None = None,
        keys: Keys | None = None,
        view: Callable[[Status], None] | None = None,
        lead_s: float = LEAD_S,
        again: Again | None = None,
        final_ms: int | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        from coach.sound.render import Layout

        self.voice = voice
        self.speaker = speaker
        self.layout = layout or Layout(voice.sample_rate)
        self.recompile = recompile
        self.keys = keys or Keys()
        self.view = view
        self.hooks = tuple(hooks)  # media keys, the history's clock (coach.play.hooks)
        self.lead_frames = int(lead_s * self.layout.sample_rate)
        self.paused = False
        self.finished = False
        # While Piper speaks phrases in the background, the script is final only up to
        # `final_ms`: samples are written no further, and the script is compiled again as
        # phrases arrive (`again`, coach.pipeline.load_playing).
        self.again = again
        self._arrived = voice.synthesized if again is not None else 0
        # Where the introduction's words start, when they waited for the voice (None: right
        # after the start tone, as compiled): kept through every compile (_first_words_wait).
        self.first_words_ms: int | None = None
        self._use(script, final_ms)
        self.answers = answers(script.language)
        self._answers_ready = again is None  # see _answers_spoken
        self._segment = None
        self._mixer: Mixer | None = None
        self._session_left = 0
        self._pending_step: int | None = None
        self._paused_at = 0
        self.stopped_ms = 0
        self._warming: threading.Thread | None = None

    # -- the script and positions in it --------------------------------------------------

    def _use(self, script: CueScript, final_ms: int | None = None) -> None:
        from coach.sound.render import total_samples

        self.script = script
        self.final_ms = final_ms
        self.total = total_samples(script, self.layout.sample_rate)
        self._cue_starts = [c.start_ms for c in script.cues]
        self._holds = sorted((w.start_ms, w.end_ms) for w in script.hold_windows())

    def _refresh(self) -> None:
        """Compile the script again when phrases being spoken in the background arrived,
        and go on with it (the part already written is the same in both)."""
        if self.again is None or self.final_ms is None:
            return
        self.voice.waiting_for()  # raises the background's failure, if it failed
        if self.voice.synthesized == self._arrived:
            return
        self._arrived = self.voice.synthesized
        self._compile_again()

    def _compile_again(self) -> None:
        """Go on with the script compiled again (`again`), as far as the lengths are known now
        and with the first words where they wait to."""
        assert self.again is not None  # only while phrases are being spoken ahead
        ahead = self.again(self.script.settings.pace, self.first_words_ms)
        self._use(ahead.script, ahead.final_ms)
        if self._mixer is not None:
            self._mixer.follow(ahead.script)
            if self._session_left > 0:
                self._session_left = self.total - self._mixer.position

    def _settle(self, ms: int) -> None:
        """Wait until the script is final at `ms` (the phrases before it have arrived)."""
        while self.final_ms is not None and self.final_ms <= ms:
            self.voice.wait_any(0.25)
            self._refresh()

    def _ready_from(self, ms: int) -> None:
        """Wait until a segment can start at `ms` and never run dry (see START_AHEAD_MS); at
        once before the first words, whose silence waits instead (_first_words_wait)."""
        while self.final_ms is not None and self.final_ms <= ms + START_AHEAD_MS:
            if self._first_words_wait(ms) is not None:
                return
            self.voice.wait_any(0.05)
            self._refresh()

    def _first_words_wait(self, ms: int) -> int | None:
        """Where the introduction's words start, if the session at `ms` is still before them
        and they wait for the voice: the script is not final START_AHEAD_MS after their start
        yet, or the answers to the keys a person may press at the start (FIRST_KEYS) are not
        spoken yet, so that from the first words on they are answered at once. Until then,
        the silence after the start tone goes on (_write_until)."""
        if self.again is None or self.final_ms is None:
            return None
        first = next(
            (c.start_ms for c in self.script.cues if c.role == _FIRST_WORDS and c.text), None
        )
        if first is None or ms > first:
            return None
        if self.final_ms > first + START_AHEAD_MS and self._answers_spoken():
            return None
        return first

    def _answers_spoken(self) -> bool:
        if not self._answers_ready:
            known = self.voice.known_ms
            first = (self.answers[key] for key in FIRST_KEYS)
            self._answers_ready = all(known(said) is not None for said in first)
        return self._answers_ready

    def _write_until(self, frames: int) -> int:
        """How far the session can be written now, with up to `frames` more wanted: as far as
        the script is final, or, while the first words wait for the voice, up to them, moving
        them (and all after) later when the silence before them must go on."""
        assert self._mixer is not None
        position = self._mixer.position
        first = self._first_words_wait(self._ms(position))
        if first is None:
            return self._final_frame()
        if self._frame(first) <= position:
            sr = self.layout.sample_rate
            later = -(-(position + frames) * 1000 // sr)  # in ms, rounded up: not before
            self.first_words_ms = later
            self._compile_again()
            first = later
        return min(self._final_frame(), self._frame(first))

    def _final_frame(self) -> int:
        return self.total if self.final_ms is None else min(self.total, self._frame(self.final_ms))

    def _ms(self, frame: int) -> int:
        return frame * 1000 // self.layout.sample_rate

    def _frame(self, ms: int) -> int:
        from coach.sound.render import samples_at

        return samples_at(ms, self.layout.sample_rate)

    def chapter_at(self, ms: int) -> int:
        return self.script.chapter_at(ms)

    def _snap(self, ms: int) -> int:
        """Never start in the middle of a cue: back to the start of any cue sounding at `ms`."""
        i = bisect.bisect_right(self._cue_starts, ms)
        start = ms
        for cue in self.script.cues[max(0, i - 8) : i]:  # only the last few can still sound
            if cue.start_ms <= ms < cue.end_ms:
                start = min(start, cue.start_ms)
        return start

    def position_ms(self) -> int:
        """Where the ear is in the session now."""
        if self._segment is None or self.paused:
            return self._ms(self._paused_at)
        heard = self._segment.heard_frames(self.layout.sample_rate)
        if heard < self._answer_frames:
            return self._ms(self._from)
        return self._ms(min(self.total, self._from + heard - self._answer_frames))

    def status(self) -> Status:
        ms = self.position_ms()
        chapters = self.script.chapters
        step = self.chapter_at(ms)
        i = bisect.bisect_right(self._cue_starts, ms)
        since = chapters[step].start_ms if chapters else 0
        side = None
        for cue in reversed(self.script.cues[max(0, i - 30) : i]):
            if cue.start_ms < since:
                break
            if cue.side:
                side = cue.side
                break
        j = bisect.bisect_right(self._holds, (ms, 1 << 62)) - 1
        hold_left = None
        if j >= 0 and self._holds[j][0] <= ms < self._holds[j][1]:
            hold_left = self._holds[j][1] - ms
        return Status(
            step=step,
            steps=len(chapters),
            title=chapters[step].title if chapters else self.script.title,
            side=side,
            next_title=chapters[step + 1].title if step + 1 < len(chapters) else None,
            hold_left_ms=hold_left,
            left_ms=max(0, self.script.duration_ms - ms),
            paused=self.paused,
            pace=self.script.settings.pace,
            routine=self.script.title,
            at_ms=ms,
            step_start_ms=chapters[step].start_ms if chapters else 0,
            step_end_ms=chapters[step].end_ms if chapters else self.script.duration_ms,
        )

    # -- sound ----------------------------------------------------------------------------

    def _answer(self, key: str | None = None, text: str | None = None):
        import numpy as np

        if text is None:
            assert key is not None  # an answer is either a key's or given in words
            text = self.answers[key]
        pcm = self.voice.pcm(text)
        gap = np.zeros(self._frame(ANSWER_GAP_MS), dtype=np.float32)
        joined = np.concatenate([pcm, gap])
        if self.layout.channels == 2:
            joined = np.repeat(joined[:, None], 2, axis=1)
        return joined

    def _start(
        self, from_ms: int, answer=None, play_session: bool = True, step: int | None = None
    ) -> None:
        """A new segment: the answer (if any), then the session from `from_ms` to its end.

        `step`: `from_ms` is that step's start. While Piper is still speaking the way there,
        its place is not final yet: the answer is said at once all the same, and the session
        follows once the step's place is final (silence is written meanwhile, counted with
        the answer, so the ear's place stays exact)."""
        from coach.sound.render import Mixer

        self._stop_segment()
        self._pending_step = None
        if play_session and step is not None and answer is not None and not self._at_step(step):
            self._pending_step = step
        elif play_session:
            self._ready_from(from_ms)
        self._from = min(self._frame(from_ms), self.total)
        self._paused_at = self._from
        self._answer_pcm = answer
        self._answer_frames = 0 if answer is None else len(answer)
        session = self.total - self._from if play_session and self._pending_step is None else 0
        self._mixer = Mixer(self.script, self.voice, self.layout, self._from) if session else None
        self._session_left = session
        self._written = 0
        self._finished_writing = False
        frames = self._answer_frames + session
        if frames == 0:
            return
        first = self._next_block(min(frames, self.lead_frames))
        self._segment = self.speaker.open(frames, first)
        self._fill()

    def _at_step(self, step: int) -> bool:
        """Whether a segment can start at step `step`, its place final (see _ready_from)."""
        at = self.script.chapters[step].start_ms
        return self.final_ms is None or self.final_ms > at + START_AHEAD_MS

    def _pending(self, frames: int) -> bool:
        """A step to go on with once its place is final (see _start): True when the session
        part is ready now; else up to `frames` of silence are added to the answer, written
        only as the ear nears the end of what was written."""
        import numpy as np

        step = self._pending_step
        assert step is not None
        if self._at_step(step):
            from coach.sound.render import Mixer

            self._pending_step = None
            self._from = min(self._frame(self.script.chapters[step].start_ms), self.total)
            self._mixer = Mixer(self.script, self.voice, self.layout, self._from)
            self._session_left = self.total - self._from
            return True
        seg = self._segment
        sr = self.layout.sample_rate
        if seg is None or self._written - seg.heard_frames(sr) > sr // 10:
            return False
        shape = (min(frames, sr // 20),) + ((2,) if self.layout.channels == 2 else ())
        self._answer_pcm = np.concatenate([self._answer_pcm, np.zeros(shape, np.float32)])
        self._answer_frames += shape[0]
        return False

    def _next_block(self, frames: int):
        """The next samples of this segment (the answer first, then the session), counted as
        written: they go to the segment at once."""
        import numpy as np

        parts = []
        while frames > 0:
            if self._written < self._answer_frames:
                block = self._answer_pcm[self._written : self._written + frames]
            elif self._pending_step is not None:
                if self._pending(frames) or self._written < self._answer_frames:
                    continue  # the session part is ready, or silence was added to the answer
                break
            elif self._session_left > 0:
                assert self._mixer is not None  # made with the segment
                room = self._write_until(frames) - self._mixer.position
                if room <= 0:  # the rest is still being spoken: written when it is final
                    break
                block = self._mixer.read(min(frames, self._session_left, room))
                self._session_left -= len(block)
            else:
                break
            parts.append(block)
            self._written += len(block)
            frames -= len(block)
        if len(parts) == 1:
            return parts[0]
        if not parts:
            shape = (0,) if self.layout.channels == 1 else (0, 2)
            return np.zeros(shape, dtype=np.float32)
        return np.concatenate(parts)

    def _fill(self) -> None:
        seg = self._segment
        if seg is None or self._finished_writing:
            return
        self._refresh()
        sr = self.layout.sample_rate
        target = seg.heard_frames(sr) + self.lead_frames if seg.streaming else 1 << 62
        while self._written < target:
            block = self._next_block(sr // 4)
            if len(block) == 0:
                if self._session_left > 0 or self._pending_step is not None:
                    return  # not the end: waiting for phrases to arrive
                seg.finish()
                self._finished_writing = True
                return
            seg.write(block)

    def _stop_segment(self) -> None:
        if self._segment is not None:
            self._paused_at = self._frame(self.position_ms())  # where the ear stopped
            self._segment.stop()
            self._segment = None

    def _done(self) -> bool:
        if self.paused:
            return False
        if self._segment is None:
            return not self.paused and self._from >= self.total
        return self._finished_writing and not self._segment.playing()

    # -- controls -------------------------------------------------------------------------

    def control(self, key: str) -> None:
        """React to one control: pause, next, back, repeat, faster, slower or quit."""
        ms = self.position_ms()
        if key == "quit":
            self._stop_segment()  # notes where the ear stopped
            raise Quit
        if self._warming is not None:  # one speech engine, one caller at a time
            self._warming.join()
            self._warming = None
        if key == "suspend":  # Ctrl-Z: silence, stop the process; paused on return
            if not self.paused:
                self._start(self._snap(ms), None, play_session=False)
                self.paused = True
            self.keys.suspend()
            return
        if key == "pause":
            if self.paused:
                self.paused = False
                self._start(self._ms(self._paused_at), self._answer("resume"))
            else:
                at = self._snap(ms)
                self._start(at, self._answer("pause"), play_session=False)
                self.paused = True
            return
        self.paused = False
        chapters = self.script.chapters
        step = self.chapter_at(ms)
        if key == "next":
            if step + 1 < len(chapters):
                at = chapters[step + 1].start_ms
                self._start(at, self._answer("next"), step=step + 1)
            else:
                self._start(self._snap(ms), self._answer("last"))
        elif key == "back":
            target = step - 1 if ms - chapters[step].start_ms < BACK_GRACE_MS and step else step
            self._start(chapters[target].start_ms, self._answer("back"), step=target)
        elif key == "repeat":
            said = self._last_instruction(ms, step)
            answer = self._answer(text=said) if said else None
            self._start(self._snap(ms), answer)
        elif key in ("faster", "slower"):
            self._change_pace(ms, faster=key == "faster")

    def _last_instruction(self, ms: int, step: int) -> str | None:
        earlier = [
            c
            for c in self.script.cues[: bisect.bisect_right(self._cue_starts, ms)]
            if c.kind == CueKind.SPEECH and role_use(c.role).said_again
        ]
        how_to = [c for c in earlier if c.step == step and role_use(c.role).how_to]
        chosen = how_to or earlier
        return chosen[-1].text if chosen else None

    def _change_pace(self, ms: int, faster: bool) -> None:
        from coach.routine.model import PACE

        if self.recompile is None:
            self._start(self._snap(ms), self._answer("fixed"))
            return
        old = self.script.settings.pace
        pace = round(old + (PACE_STEP if faster else -PACE_STEP), 2)
        if not PACE[0] <= pace <= PACE[1]:
            self._start(self._snap(ms), self._answer("fastest" if faster else "slowest"))
            return
        # The same step, as far into it as it was (in proportion), in the new timing.
        step = self.chapter_at(ms)
        old_ch = self.script.chapters[step]
        into = (ms - old_ch.start_ms) / max(1, old_ch.end_ms - old_ch.start_ms)
        if self.again is not None and (self.final_ms is not None or self.first_words_ms):
            ahead = self.again(pace, self.first_words_ms)
            self._use(ahead.script, ahead.final_ms)
        else:
            self._use(self.recompile(pace))
        new_ch = self.script.chapters[min(step, len(self.script.chapters) - 1)]
        at = new_ch.start_ms + round(into * (new_ch.end_ms - new_ch.start_ms))
        self._start(self._snap(at), self._answer("faster" if faster else "slower"))

    # -- the loop -------------------------------------------------------------------------

    def _warm(self) -> None:
        import contextlib

        from coach.errors import CoachError

        for text in self.answers.values():
            with contextlib.suppress(CoachError):  # it will say so again when it is needed
                self.voice.pcm(text)

    def _obey_hooks(self) -> None:
        """Controls from elsewhere (media keys), done as their keys are; then each hook is
        shown what plays now."""
        if not self.hooks:
            return
        for hook in self.hooks:
            while (key := hook.next_key(self.paused)) is not None:
                self.control(key)
        status = self.status()
        for hook in self.hooks:
            hook.show(status)

    def run(self, start_ms: int = 0) -> Outcome:
        """Play from `start_ms` (snapped back to a cue's start) to the end, or until q."""
        import threading

        self._start(self._snap(start_ms))
        # The answers are spoken only after a key, and the first time they need the speech
        # engine (half a second or more): make them now, beside the loop, so a key is
        # answered at once. ctypes lets go of Python's lock while espeak-ng works. (While Piper
        # speaks ahead, the answers are among its first phrases: coach.pipeline.load_playing.)
        if self.again is None:
            self._warming = threading.Thread(target=self._warm, name="coach-warm", daemon=True)
            self._warming.start()
        finished = False
        last_view = 0.0
        try:
            while not self._done():
                self._fill()
                key = self.keys.read(TICK_S)
                if key is not None:
                    self.control(key)
                self._obey_hooks()
                now = time.monotonic()
                if self.view is not None and now - last_view >= 0.2:
                    self.view(self.status())
                    last_view = now
            finished = True
        except Quit:
            pass
        finally:
            self.finished = finished
            self.stopped_ms = self.position_ms()
            self._stop_segment()
            self.speaker.close()
            if self._warming is not None:  # an engine torn down mid-phrase at exit can crash
                self._warming.join(timeout=5)
        step = self.chapter_at(self.stopped_ms)
        if finished and self.view is not None:
            self.view(replace(self.status(), left_ms=0, hold_left_ms=None))
        return Outcome(
            self.speaker.output, self.script.duration_ms, finished, step, self.first_words_ms
        )


def start_ms(script: CueScript, step: str) -> int:
    """Where `--from STEP` starts: a step number as `coach show` numbers them, or a title."""
    import difflib

    chapters = script.chapters
    if step.strip().isdigit():
        n = int(step)
        if n < len(chapters):
            return chapters[n].start_ms
        raise UsageError(
            "--from",
            f"there is no step {n}; steps are numbered 0 to "
            f"{len(chapters) - 1} (coach show lists them)",
        )
    wanted = step.strip().casefold()
    titles = [c.title.casefold() for c in chapters]
    for match in (lambda t: t == wanted, lambda t: t.startswith(wanted), lambda t: wanted in t):
        for ch, title in zip(chapters, titles, strict=True):
            if wanted and match(title):
                return ch.start_ms
    close = difflib.get_close_matches(wanted, titles, n=1, cutoff=0.5)
    hint = (
        f"did you mean '{chapters[titles.index(close[0])].title}'?"
        if close
        else ("coach show lists the steps")
    )
    raise UsageError("--from", f"no step is called '{step}'; {hint}")


def play_routine(
    ref: str,
    settings=None,
    output: str | None = None,
    stereo: bool = False,
    *,
    resume: bool = False,
    from_step: str | None = None,
    keys: Keys | None = None,
    view: Callable[[Status], None] | None = None,
    note: Callable[[str], None] | None = None,
    speaking: Callable[[int, int, str], None] | None = None,
    verbose: bool = False,
) -> Outcome:
    """Speak ROUTINE through the speakers; returns when it is over or the person quits.

    On q, Ctrl-C, SIGTERM or SIGHUP the sound stops and the position is saved for `resume`.
    Media keys reach the session while it plays, and the history records it when it ends
    (coach.play.hooks); `verbose` notes whether the media keys could be set up.
    """
    from coach.pipeline import load_playing

    if resume and from_step is not None:
        raise UsageError("--resume", "cannot be used with --from; choose one")
    # The answers to keys go last into what Piper speaks ahead, so none waits for the engine.
    with stop_on_signals():  # SIGTERM and SIGHUP while Piper starts: stopped as by Ctrl-C
        playing = load_playing(ref, settings, lambda lang: answers(lang).values(), speaking)
        try:
            return _play(
                playing,
                ref,
                settings,
                output=output,
                stereo=stereo,
                resume=resume,
                from_step=from_step,
                keys=keys,
                view=view,
                note=note,
                verbose=verbose,
            )
        finally:
            playing.spoken.voice.close()  # stops the phrases still being spoken, if any


def _play(
    playing, ref, settings, *, output, stereo, resume, from_step, keys, view, note, verbose
) -> Outcome:
    """play_routine, once the script is ready to start (see there)."""
    from coach.play.positions import Positions
    from coach.play.speaker import Speaker, streams_as_written
    from coach.settings import Settings
    from coach.sound.render import Layout

    spoken, voice = playing.spoken, playing.spoken.voice
    script, final_ms, again = spoken.script, playing.final_ms, playing.again
    # Starting part-way needs the steps' final places, and an output that is handed the whole
    # session (simpleaudio, afplay) its final length: then every phrase is waited for.
    wait = again is not None and (from_step is not None or resume or not streams_as_written(output))
    if note:
        for line in voice.notes():  # a fallback to espeak-ng, a setting Piper cannot honour
            note(line)
        if playing.speaking:
            noun = "phrase" if playing.speaking == 1 else "phrases"
            when = "before playing" if wait else "while playing"
            note(
                f"speaking {playing.speaking} new {noun} with {voice.label} {when} "
                "(once; they are kept in the phrase cache)"
            )
    if wait and again is not None:
        while voice.waiting_for():
            voice.wait_any(0.25)
        ahead = again(None)
        script, final_ms = ahead.script, ahead.final_ms
    positions = Positions.for_routine(ref, settings or Settings())
    start = 0
    if from_step is not None:
        start = start_ms(script, from_step)
    elif resume:
        saved = positions.load(script)
        if saved is None:
            if note:
                note(
                    "no saved position for this routine with these settings; "
                    "starting from the beginning"
                )
        else:
            start = script.chapters[saved].start_ms
    layout = Layout(voice.sample_rate, 2 if stereo else 1)
    recompile = None
    if spoken.routine is not None:
        from coach.script.compiler import compile

        routine = spoken.routine

        def recompile(pace: float) -> CueScript:
            changed = replace(settings or Settings(), pace=pace)
            return compile(routine, changed, voice.duration_ms, voice.intro_durations)

    from coach.play.hooks import SessionHooks

    extras = SessionHooks(ref, note, verbose=note if verbose else None, live=view is not None)
    session = Session(
        script,
        voice,
        Speaker(voice.sample_rate, layout.channels, output),
        layout=layout,
        recompile=recompile,
        keys=keys,
        view=view,
        again=again,
        final_ms=final_ms,
        hooks=extras.hooks,
    )
    outcome = None
    extras.start()
    try:
        with stop_on_signals(), extras.ending():
            outcome = session.run(start)
    finally:
        if verbose and note and session.first_words_ms is not None:
            note(
                f"the first words waited for {voice.label} until {session.first_words_ms} ms "
                "(the start tone sounded at once)"
            )
        # Saved on every way out: q, Ctrl-C, SIGTERM, a closed terminal, an error.
        if outcome is not None and outcome.finished:
            positions.clear()
        else:
            step = session.chapter_at(session.stopped_ms)
            positions.save(session.script, step)
            if note and session.script.chapters:
                given = settings is not None and settings.given()
                how = f"coach play {ref} --resume" + (" (with the same options)" * given)
                note(
                    f"stopped at step {step} ({session.script.chapters[step].title}); "
                    f"to go on from there: {how}"
                )
        extras.close(session)
    return outcome
