"""Routine + pacing + phrase lengths -> CueScript: where every cue starts and ends.

No I/O here. The compiler only needs to know how long each phrase takes to say
(`durations`, text -> ms): an estimate from the speech rate until a voice measures them.

The rules it keeps (tests check each one):
- speech never overlaps speech; cues never go back in time;
- a hold is announced, then a tone marks its start, and its timer starts at that tone;
- a countdown ("3", "2", "1") ends exactly at the hold's end, then an end tone;
- `sides: both` runs left, a switch cue, then right;
- reps are paced by tempo (counted aloud when `count` is set, else a soft tone per rep);
- breath cues follow the pattern in breath-paced holds and breathing blocks;
- rests announce what comes next; safety comes first; start and finish cues bracket it all;
- every timed part (hold, rest, transition, tempo, breath phase) scales by 1/pace.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from coach.errors import Loc, Problem, RoutineError
from coach.routine.model import Breathe, Exercise, Repeat, Rest, Routine, Say, Step
from coach.script.cues import Chapter, ChapterKind, Cue, CueKind, CueRole, CueScript, make_cue
from coach.script.tones import TONE_MS, Tone
from coach.settings import Pacing, Settings, resolve
from coach.values import BreathPattern
from coach.words import N_, Words, words_for

Durations = Callable[[str], int]
# A cue's fields, in Cue's order: start_ms, end_ms, kind, role, step, text, tone, side.
_CueFields = tuple[int, int, CueKind, CueRole, int, "str | None", "Tone | None", "str | None"]
# What a timed window holds, relative to its start: its words (start, end, role, text) and its
# tones (start, end, role, tone), each in the order placed.
_Shape = tuple[tuple[tuple[int, int, CueRole, str], ...], tuple[tuple[int, int, str, Tone], ...]]
# A timed window's contents as placed: (start_ms, step, side, shape).
_Window = tuple[int, int, "str | None", _Shape]

GAP_MS = 350  # between two spoken sentences
SLOT_GAP_MS = 150  # between cues inside a timed window, where breath words come quickly
STEP_GAP_MS = 1000  # after a step's end tone, before the next step is announced
BREATHE_SETTLE_MS = 2000  # from a breathing block's instructions to its first breath
COUNTDOWN_MIN_HOLD_MS = 5000  # shorter holds get no spoken countdown
HALFWAY_MIN_HOLD_MS = 30_000
NEXT_UP_LEAD_MS = 1000  # "next up" ends this long before a rest is over
TAIL_MS = 500  # silence after the finish tone
MAX_DURATION_MS = 12 * 3600 * 1000
# coach's phrases are marked N_ here and translated where they are said (coach.words).
_COUNT_WORDS = {3: N_("Three."), 2: N_("Two."), 1: N_("One.")}
# Each phase's words, longest first: the first that fits in the phase is said.
_BREATH_WORDS = {
    "in": ((N_("Breathe in."), N_("In.")), CueRole.BREATH_IN),
    # TRANSLATORS: the pause with the breath held, between breathing in and out.
    "hold": ((N_("Hold."),), CueRole.BREATH_HOLD),
    "out": ((N_("Breathe out."), N_("Out.")), CueRole.BREATH_OUT),
}
# A named breath pattern's title (coach.values.NAMED_PATTERNS; a test keeps both in step).
_BREATHING_NAMES = {
    "box": N_("Box breathing"),
    "relax": N_("Relax breathing"),
    "calm": N_("Calm breathing"),
    "coherent": N_("Coherent breathing"),
}
_SIDES = {"left": N_("Left side."), "right": N_("Right side.")}
_SWITCH = {
    "left": N_("Switch sides. Now the left side."),
    "right": N_("Switch sides. Now the right side."),
}
_BREATH_TONES = {"in": Tone.BREATH_IN, "out": Tone.BREATH_OUT}
# A tone cue's role is its tone's name: looked up once here, not by calling the enum per cue.
_TONE_ROLES = {tone: CueRole(tone) for tone in Tone}
_SPEECH, _TONE = CueKind.SPEECH, CueKind.TONE  # looked up once: every cue names its kind
_START_MS = attrgetter("start_ms")


def estimated_durations(rate_wpm: int) -> Durations:
    """How long a phrase takes at `rate_wpm`, from its word count (until a voice measures it)."""
    ms_per_word = 60_000 / rate_wpm

    def duration_ms(text: str) -> int:
        return round(max(1, len(text.split())) * ms_per_word) + 200

    return duration_ms


def compile(
    routine: Routine,
    settings: Settings | None = None,
    durations: Durations | None = None,
    intro_durations: Durations | None = None,
) -> CueScript:
    """Time every cue of `routine` at the given settings (command line over config).

    `intro_durations` are the lengths the introduction's "About N minutes." is reckoned with
    (default: `durations`). A voice that takes a while to speak every phrase (Piper) passes an
    estimate, so the introduction can be said before the rest is measured (`compile_ahead`)
    and says the same with an empty or a full phrase cache."""
    return compile_ahead(routine, settings, durations, intro_durations).script


@dataclass(frozen=True, slots=True)
class Ahead:
    """A cue script as far as the phrase lengths are known: every cue that starts before
    `final_ms` is where the complete script has it; after that, unknown lengths are estimated.
    `final_ms` is None when every length was known (the script is the complete one)."""

    script: CueScript
    final_ms: int | None


def compile_ahead(
    routine: Routine,
    settings: Settings | None = None,
    durations: Durations | None = None,
    intro_durations: Durations | None = None,
    known: Callable[[str], int | None] | None = None,
    first_words_ms: int | None = None,
) -> Ahead:
    """`compile`, with `known(text)` giving a phrase's length or None while its voice is still
    speaking it; a None length is estimated by `durations`. `coach play` starts on this while
    Piper speaks the rest: the compiler asks for lengths in time order, and nothing it places
    after asking starts before where it was then, so that place is where the script stops
    being final.

    `first_words_ms`: the introduction's words start there, if that is later than right after
    the start tone. `coach play` sounds the start tone at once and lets the silence after it
    last until the voice has spoken the first words (coach.play.session); everything after
    moves with them. The introduction's "About N minutes." is reckoned without that wait."""
    with _collector_paused():
        return _compile_ahead(routine, settings, durations, intro_durations, known, first_words_ms)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # A compile makes tens of thousands of objects (some 13,000 cues for 1,000 steps), and all
    # of them live on in the script. Each few hundred made, Python's cycle collector walks
    # the young ones, and every so often all, only to find no garbage: about a tenth of a
    # large compile's work. It is paused for the compile (unless someone else paused it)
    # and its cycles, if any, are found after.
    pause = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause:
            gc.enable()


def _compile_ahead(
    routine: Routine,
    settings: Settings | None,
    durations: Durations | None,
    intro_durations: Durations | None,
    known: Callable[[str], int | None] | None,
    first_words_ms: int | None,
) -> Ahead:
    pacing = resolve(routine, settings or Settings())
    estimate = durations or estimated_durations(pacing.rate_wpm)
    if known is None and intro_durations is None and first_words_ms is None:
        return Ahead(_Compiler(routine, pacing, estimate).run(None), None)  # one pass settles it
    intro = _intro_text(routine, pacing, intro_durations or estimate)
    compiler = _Compiler(routine, pacing, estimate, first_words_ms)
    if known is not None:
        compiler.durations = _memo(_known_or_estimated(compiler, known, estimate))
    script = compiler.run(intro)
    return Ahead(script, compiler.final_ms)


def _intro_text(routine: Routine, pacing: Pacing, durations: Durations) -> str:
    """What the introduction says: the title and the routine's length in minutes, as long as
    the routine lasts with these lengths (the introduction's own length included)."""
    script = _Compiler(routine, pacing, durations).run(None)
    return next(c.text or "" for c in script.speech() if c.role == CueRole.START)


def _known_or_estimated(
    compiler: _Compiler, known: Callable[[str], int | None], estimate: Durations
) -> Durations:
    def duration_ms(text: str) -> int:
        ms = known(text)
        if ms is None:
            if compiler.final_ms is None:
                compiler.final_ms = compiler.t
            ms = estimate(text)
        return ms

    return duration_ms


class _Measured(dict[str, int]):
    """Phrase lengths measured so far; a phrase not measured yet is asked of `durations`."""

    __slots__ = ("durations",)

    def __init__(self, durations: Durations) -> None:
        super().__init__()
        self.durations = durations

    def __missing__(self, text: str) -> int:
        ms = self[text] = self.durations(text)
        return ms


def _memo(durations: Durations) -> Durations:
    # A routine says the same few phrases many times ("Breathe in.", "Three."); measure once.
    # A dict's own lookup, not a Python function: the compiler asks about 25 times per step.
    return _Measured(durations).__getitem__


def _window_cues(
    window: _Window, by: int, last: int, add_word: Callable, add_tone: Callable
) -> None:
    """A timed window's cues, made from its shape at its start moved by `by` (see _finish)."""
    start, step, side, (said, sounded) = window
    start += by
    step = step if step < last else last
    for at, end, role, text in said:
        add_word(make_cue(start + at, start + end, _SPEECH, role, step, text, None, side))
    for at, end, tone_role, tone in sounded:
        add_tone(make_cue(start + at, start + end, _TONE, tone_role, step, None, tone, side))


# -- flattening: repeats become rounds, so each step knows what comes after it --------------


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str  # exercise, breathe, rest, say, round
    step: Step | None
    loc: Loc
    suffix: str = ""  # " (round 2 of 3)" for steps inside a repeat
    texts: tuple[str, ...] = ()
    rest_ms: int = 0


def _flatten(steps: tuple[Step, ...], w: Words, suffix: str = "") -> list[_Item]:
    items: list[_Item] = []
    for step in steps:
        if isinstance(step, Exercise):
            items.append(_Item("exercise", step, step.loc, suffix))
        elif isinstance(step, Breathe):
            items.append(_Item("breathe", step, step.loc, suffix))
        elif isinstance(step, Rest):
            items.append(_Item("rest", step, step.loc, suffix, step.say, step.duration_ms))
        elif isinstance(step, Say):
            items.append(_Item("say", step, step.loc, texts=step.say))
        elif isinstance(step, Repeat):
            for k in range(1, step.times + 1):
                label, said = suffix, ""
                if step.times > 1:
                    # TRANSLATORS: after a step's title in its chapter: "Neck tilts (round 2
                    # of 3)", with a space before it.
                    label += w.gettext(" (round {k} of {n})", k=k, n=step.times)
                    said = w.gettext("Round {k} of {n}.", k=k, n=step.times)
                if k > 1 and step.rest_ms:
                    items.append(_Item("rest", None, step.loc, suffix, (), step.rest_ms))
                texts = ((said,) if said else ()) + (step.say if k == 1 else ())
                if texts:
                    items.append(_Item("round", step, step.loc, texts=texts))
                items.extend(_flatten(step.steps, w, label))
    return items


def _title(item: _Item, breath: BreathPattern | None, w: Words) -> str:
    """A step's chapter title; `breath` is a pattern chosen over the routine's (--breath)."""
    step = item.step
    if isinstance(step, Exercise):
        return step.name + item.suffix
    if isinstance(step, Breathe):
        return _breathing_name(breath or step.pattern, w) + item.suffix
    return w.pgettext("chapter", "Rest")


def _next_titles(items: list[_Item], breath: BreathPattern | None, w: Words) -> list[str | None]:
    """For each item, the title of the exercise or breathing block after it (for "next up")."""
    out: list[str | None] = []
    following = None
    for item in reversed(items):
        out.append(following)
        if item.kind in ("exercise", "breathe"):
            following = _title(item, breath, w)
    return out[::-1]


def _breathing_name(pattern: BreathPattern | None, w: Words) -> str:
    if pattern is None or pattern.name not in _BREATHING_NAMES:
        return w.gettext("Breathing")
    return w.gettext(_BREATHING_NAMES[pattern.name])


# -- the timeline ---------------------------------------------------------------------------


class _Compiler:
    def __init__(
        self,
        routine: Routine,
        pacing: Pacing,
        durations: Durations,
        first_words_ms: int | None = None,
    ):
        self.routine = routine
        self.first_words_ms = first_words_ms  # see compile_ahead
        self.p = pacing
        self.w = words_for(routine.language)  # coach's own words, in the routine's language
        self.durations = _memo(durations)
        self.t = 0
        self.final_ms: int | None = None  # see compile_ahead
        # Shifted by the introduction's length once the whole timeline is known (see _script);
        # kept as Cue's fields in order, made into cues once, at the end (_finish).
        # A window's contents are kept as one _Window item.
        self.cues: list[_CueFields | _Window] = []
        self.chapters: list[Chapter] = []  # each ends where the next starts: set in _script
        self.pending_start: int | None = None  # an announcement opened the next chapter
        # Verbosity: full explains an exercise the first time it comes (by name) and says its
        # short wording after that; brief always says the short wording; minimal says names
        # and lets tones do the rest. Safety, cautions and sides are said at every level.
        self.verbosity = pacing.verbosity
        self.words = pacing.verbosity != "minimal"
        self.breath_cues = "tones" if pacing.verbosity == "minimal" else pacing.breath_cues
        self.explained: set[str] = set()
        self._countdown: tuple[dict[int, str], bool] | None = None  # see countdown()
        self._shapes: dict[tuple, _Shape] = {}  # see _window

    # -- scaling ------------------------------------------------------------------------

    def paced(self, ms: float) -> int:
        return round(ms / self.p.pace)

    def hold_ms(self, ex: Exercise) -> int:
        base = self.p.hold_ms if self.p.hold_ms is not None else ex.hold_ms
        base = base if base is not None else self.p.default_hold_ms
        return self.paced(base * self.p.hold_scale)

    def rest_ms(self, own: int | None) -> int:
        base = self.p.rest_ms if self.p.rest_ms is not None else own
        base = base if base is not None else self.p.default_rest_ms
        return self.paced(base * self.p.rest_scale)

    def pattern(self, own: BreathPattern | None) -> BreathPattern:
        chosen = self.p.breath or own or self.p.default_breath
        return chosen.scaled(1 / self.p.pace)

    # -- emitting -----------------------------------------------------------------------

    @property
    def step(self) -> int:
        return len(self.chapters) if self.pending_start is not None else len(self.chapters) - 1

    def speech_at(self, at_ms: int, text: str, role: CueRole, side: str | None = None) -> int:
        """Place words at `at_ms`; returns when they end."""
        end = at_ms + max(1, self.durations(text))
        self.cues.append((at_ms, end, _SPEECH, role, self.step, text, None, side))
        return end

    def speak(self, text: str, role: CueRole, side: str | None = None) -> None:
        self.t = self.speech_at(self.t, text, role, side) + GAP_MS

    def tone_at(self, at_ms: int, tone: Tone, side: str | None = None) -> None:
        # A tone cue's role is its tone's name (docs/cue-script.md).
        end = at_ms + TONE_MS[tone]
        self.cues.append((at_ms, end, _TONE, _TONE_ROLES[tone], self.step, None, tone, side))

    def announce_chapter(self) -> None:
        if self.pending_start is None:
            self.pending_start = self.t

    def begin_chapter(self, title: str, kind: ChapterKind, line: int | None) -> None:
        start = self.pending_start if self.pending_start is not None else self.t
        self.pending_start = None
        self.chapters.append(Chapter(title, start, start, kind, line))

    # -- the whole routine --------------------------------------------------------------

    def run(self, intro: str | None) -> CueScript:
        """The cue script. `intro` is what the introduction says; None: the title, and then
        the length the routine turns out to have (see _script)."""
        r = self.routine
        w = self.w
        items = _flatten(r.steps, w)
        self.chapters.append(Chapter(w.gettext("Introduction"), 0, 0, ChapterKind.INTRO))
        self.tone_at(0, Tone.START)
        self.t = max(TONE_MS[Tone.START] + GAP_MS, self.first_words_ms or 0)
        intro_at = len(self.cues) if intro is None else None
        self.speak(intro or f"{r.title}.", CueRole.START)
        for sentence in r.safety:
            self.speak(sentence, CueRole.SAFETY)
        self.t += STEP_GAP_MS - GAP_MS
        for item, next_title in zip(items, _next_titles(items, self.p.breath, w)):
            getattr(self, "_" + item.kind)(item, next_title)
            if self.t > MAX_DURATION_MS:
                raise RoutineError(
                    [
                        Problem(
                            f"the routine lasts more than {MAX_DURATION_MS // 3_600_000} hours "
                            "at this "
                            "pacing; shorten it or raise the pace",
                            loc=item.loc,
                        )
                    ]
                )
        self.speak(w.gettext("That is the end of the routine. Well done."), CueRole.FINISH)
        self.tone_at(self.t, Tone.FINISH)
        duration = self.t + TONE_MS[Tone.FINISH] + TAIL_MS
        return self._script(duration, intro_at)

    def _script(self, duration: int, intro: int | None) -> CueScript:
        # The introduction says how long the routine takes. Everything after it is placed
        # relative to its end, so a longer sentence shifts the rest by its extra length;
        # settle that length (rounded to minutes, it converges at once) instead of compiling
        # the routine a second time.
        if intro is None:  # said as given
            return self._finish(duration, None, 0)
        cue = self.cues[intro]
        assert len(cue) == 8 and cue[5] is not None  # the introduction is a speech cue
        said = cue[5]
        base_ms = self.durations(said)
        text, shift = said, 0
        for _ in range(3):
            minutes = max(60_000, round((duration + shift) / 60_000) * 60_000)
            # TRANSLATORS: the routine's title, then how long it lasts in minutes.
            about = self.w.gettext("About {duration}.", duration=self.w.duration(minutes))
            text = f"{said} {about}"
            new_shift = self.durations(text) - base_ms
            if new_shift == shift:
                break
            shift = new_shift
        start, end, kind, role, step, _, tone, side = cue
        self.cues[intro] = (start, end + shift, kind, role, step, text, tone, side)
        return self._finish(duration, intro, shift)

    def _finish(self, duration: int, intro: int | None, shift: int) -> CueScript:
        """The script, with everything after cue `intro` moved by `shift`."""
        last = len(self.chapters) - 1
        fields = self.cues
        moved = len(fields) if intro is None or not shift else intro + 1  # first cue moved
        # Made into cues as they are moved (no tuples made again), tones apart from words,
        # then put in time order: sorted is stable, so tones come before words that start
        # with them, and cues that start together otherwise keep the order they were placed.
        tones: list[Cue] = []
        words: list[Cue] = []
        add_tone, add_word = tones.append, words.append
        for i, item in enumerate(fields):
            by = shift if i >= moved else 0
            if len(item) == 4:  # a timed window's contents
                _window_cues(item, by, last, add_word, add_tone)
                continue
            start, end, kind, role, step, text, tone, side = item
            cue = make_cue(
                start + by, end + by, kind, role, step if step < last else last, text, tone, side
            )
            (add_tone if kind is _TONE else add_word)(cue)
        cues = tones + words
        cues.sort(key=_START_MS)
        duration += shift
        # Only the introduction starts at 0, and it does not move.
        starts = [ch.start_ms + (shift if ch.start_ms else 0) for ch in self.chapters]
        chapters = tuple(
            Chapter(ch.title, starts[i], starts[i + 1] if i < last else duration, ch.kind, ch.line)
            for i, ch in enumerate(self.chapters)
        )
        return CueScript(
            title=self.routine.title,
            language=self.routine.language,
            duration_ms=duration,
            settings=self.p,
            chapters=chapters,
            cues=tuple(cues),
            pronounce=self.routine.pronounce,
        )

    # -- step kinds ---------------------------------------------------------------------

    def _say(self, item: _Item, next_title) -> None:
        if not self.words:
            return
        self.announce_chapter()
        for text in item.texts:
            self.speak(text, CueRole.SAY)
        self.t += STEP_GAP_MS - GAP_MS

    def _round(self, item: _Item, next_title) -> None:
        self.announce_chapter()
        for text in item.texts:
            self.speak(text, CueRole.ROUND)

    def _rest(self, item: _Item, next_title) -> None:
        w = self.w
        self.begin_chapter(w.pgettext("chapter", "Rest"), ChapterKind.REST, item.loc.line)
        ms = self.rest_ms(item.rest_ms)
        if self.words:
            said = w.gettext("Rest for {duration}.", duration=w.duration(ms))
            self.speak(w.sentence(said), CueRole.REST)
        # TRANSLATORS: said near the end of a rest; the title is the next exercise's.
        nxt = w.gettext("Next up: {title}.", title=next_title) if next_title else None
        self.rest_window(ms, item.texts if self.words else (), nxt)
        self.t += STEP_GAP_MS - GAP_MS

    def rest_window(self, ms: int, texts: tuple[str, ...], next_text: str | None) -> None:
        """A rest of exactly `ms` from its tone, unless what must be said in it is longer."""
        start = self.t
        self.tone_at(start, Tone.REST)
        end = start + ms
        self.t = start + TONE_MS[Tone.REST] + GAP_MS
        for text in texts:
            self.speak(text, CueRole.REST)
        if next_text:
            lead = self.durations(next_text) + NEXT_UP_LEAD_MS
            self.t = max(self.t, end - lead)
            self.speak(next_text, CueRole.NEXT)
        self.t = max(self.t, end)

    def _exercise(self, item: _Item, next_title) -> None:
        ex: Exercise = item.step  # type: ignore[assignment]
        w = self.w
        self.begin_chapter(_title(item, None, w), ChapterKind.EXERCISE, ex.loc.line)
        if ex.caution:
            self.speak(ex.caution, CueRole.CAUTION)
        self.speak(f"{ex.name}.", CueRole.ANNOUNCE)
        first_time = ex.name.casefold() not in self.explained
        self.explained.add(ex.name.casefold())
        if self.verbosity == "full" and first_time:
            for text in ex.say:
                self.speak(text, CueRole.INSTRUCTION)
        elif self.words and (ex.brief or ex.say):
            self.speak(ex.brief or ex.say[0], CueRole.INSTRUCTION)
        sides = {"both": ("left", "right"), "left": ("left",), "right": ("right",)}.get(
            ex.sides or "", (None,)
        )
        # What the exercise takes, said as one sentence built of parts: "Hold for 30 seconds
        # on each side, 3 sets." Each part is one message, so a language orders its own.
        if ex.reps:
            tempo = self.paced(ex.tempo_ms or self.p.default_tempo_ms)
            what = w.ngettext("{n} rep", "{n} reps", ex.reps)
        elif ex.breaths:
            pattern = self.pattern(ex.breath)
            breaths = max(1, round(ex.breaths * self.p.hold_scale))
            # TRANSLATORS: hold a position while breathing this many breaths.
            what = w.ngettext("Hold for {n} breath", "Hold for {n} breaths", breaths)
        else:
            hold = self.hold_ms(ex)
            what = w.gettext("Hold for {duration}", duration=w.duration(hold))
        if ex.sides == "both":
            # TRANSLATORS: {what} is "8 reps", "Hold for 30 seconds" or "Hold for 5 breaths".
            what = w.gettext("{what} on each side", what=what)
        if ex.sets > 1:
            what = w.ngettext("{what}, {n} set", "{what}, {n} sets", ex.sets, what=what)
        if self.words:
            self.speak(w.sentence(what) + ".", CueRole.ANNOUNCE)
        if sides[0] is not None:
            first = (
                w.gettext("Start on the left side.")
                if ex.sides == "both"
                else w.gettext(_SIDES[sides[0]])
            )
            self.speak(first, CueRole.SIDE, sides[0])
        transition = self.paced(
            ex.transition_ms if ex.transition_ms is not None else self.p.default_transition_ms
        )
        self.t += transition
        for n, side in enumerate(sides):
            if n:
                self.tone_at(self.t, Tone.SWITCH, side)
                self.t += TONE_MS[Tone.SWITCH] + GAP_MS
                self.speak(w.gettext(_SWITCH[side or ""]), CueRole.SWITCH, side)
                self.t += transition
            for s in range(ex.sets):
                if s:
                    # TRANSLATORS: between two sets of an exercise.
                    self.speak(w.gettext("Rest."), CueRole.REST, side)
                    said = w.gettext("Set {k} of {n}.", k=s + 1, n=ex.sets)
                    self.rest_window(self.rest_ms(ex.rest_ms), (), said)
                if ex.reps:
                    self.reps_window(ex.reps, tempo, ex.count and self.words, side)
                elif ex.breaths:
                    self.breath_window(pattern, breaths, side)
                else:
                    self.hold_window(hold, ex, side)
        self.t += STEP_GAP_MS - GAP_MS

    def _breathe(self, item: _Item, next_title) -> None:
        b: Breathe = item.step  # type: ignore[assignment]
        w = self.w
        self.begin_chapter(_title(item, self.p.breath, w), ChapterKind.BREATHE, b.loc.line)
        pattern = self.pattern(b.pattern)
        if b.cycles:
            cycles = b.cycles
        elif b.duration_ms:
            cycles = max(1, round(self.paced(b.duration_ms) / pattern.cycle_ms))
        else:
            cycles = 5
        name = _breathing_name(self.p.breath or b.pattern, w)
        self.speak(f"{name}.", CueRole.ANNOUNCE)
        if self.words:
            self.speak(_describe_pattern(pattern, w), CueRole.INSTRUCTION)
        if self.verbosity == "full":
            for text in b.say:
                self.speak(text, CueRole.INSTRUCTION)
        if self.words:
            said = w.ngettext("{n} breath.", "{n} breaths.", cycles)
            self.speak(w.sentence(said), CueRole.ANNOUNCE)
        self.t += BREATHE_SETTLE_MS
        self.breath_window(pattern, cycles, None)
        self.t += STEP_GAP_MS - GAP_MS

    # -- timed windows: tone, timer, cues placed inside, end tone ------------------------

    def _window(
        self, length_ms: int, side, place: Callable[[_Slots], None], shape_key: tuple
    ) -> None:
        """A window of `length_ms` from its start tone, with what `place` puts in it.

        `shape_key` names everything `place` depends on besides the window's start: what
        goes in a window is placed relative to its start, so windows of the same shape (the
        same hold on each side, every set, a routine's repeated breathing) are placed once.
        """
        start = self.t
        self.tone_at(start, Tone.HOLD_START, side)
        end = start + length_ms
        shape = self._shapes.get(shape_key)
        if shape is None:
            shape = self._shapes[shape_key] = self._place(length_ms, place)
        # Kept as one item and made into cues at the end (_finish): a window holds most of a
        # routine's cues, and they all belong to the same step.
        self.cues.append((start, self.step, side, shape))
        self.tone_at(end, Tone.HOLD_END, side)
        self.t = end + TONE_MS[Tone.HOLD_END] + GAP_MS

    def _place(self, length_ms: int, place: Callable[[_Slots], None]) -> _Shape:
        """What `place` puts in a window of `length_ms` starting at 0, as speech_at and tone_at
        would have it."""
        durations = self.durations
        slots = _Slots(0, length_ms, durations)
        place(slots)
        said = tuple(
            (at, at + max(1, durations(text)), role, text) for at, text, role in slots.placed
        )
        sounded = tuple(
            (at, at + TONE_MS[tone], _TONE_ROLES[tone], tone) for at, tone in slots.tones
        )
        return said, sounded

    def countdown(self) -> tuple[dict[int, str], bool]:
        """The countdown's words, and whether pips are said instead: the same for every hold,
        so settled at the first one."""
        if self._countdown is None:
            count = {k: self.w.gettext(said) for k, said in _COUNT_WORDS.items()}
            longest = max(self.durations(said) for said in count.values())
            # Pips instead of words when words are not wanted, or when a slow voice could not
            # say each number within its second: a countdown is never cut short.
            pips = self.breath_cues == "tones" or longest > 1000 - SLOT_GAP_MS
            self._countdown = (count, pips)
        return self._countdown

    def hold_window(self, hold: int, ex: Exercise, side) -> None:
        breathing = ex.breath is not None or self.p.breath is not None
        pattern = self.pattern(ex.breath) if breathing else None

        def place(slots: _Slots) -> None:
            if hold >= COUNTDOWN_MIN_HOLD_MS:
                count, pips = self.countdown()
                for k in (3, 2, 1):
                    if pips:
                        slots.tones.append((slots.end - k * 1000, Tone.COUNTDOWN))
                    else:
                        slots.fixed(slots.end - k * 1000, count[k], CueRole.COUNTDOWN)
            if pattern is not None:
                _breath_cues(slots, pattern, None, self.breath_cues, self.w)
            if hold >= HALFWAY_MIN_HOLD_MS and self.words:
                halfway = self.w.gettext("Halfway.")
                slots.flexible(slots.start + hold // 2, halfway, CueRole.HALFWAY)
            for i, text in enumerate(ex.cues if self.verbosity == "full" else ()):
                at = slots.start + hold * (i + 1) // (len(ex.cues) + 1)
                slots.flexible(at, text, CueRole.REMINDER)

        self._window(hold, side, place, ("hold", hold, pattern, ex.cues))

    def reps_window(self, reps: int, tempo: int, count: bool, side) -> None:
        def place(slots: _Slots) -> None:
            for i in range(reps):
                at = slots.start + i * tempo
                if count:
                    # Digits in every language: each voice reads "21." as a number, not an
                    # ordinal (tests/test_words.py listens).
                    slots.fixed(at, f"{i + 1}.", CueRole.REP_COUNT)
                elif i:
                    slots.tones.append((at, Tone.REP))

        self._window(reps * tempo, side, place, ("reps", reps, tempo, count))

    def breath_window(self, pattern: BreathPattern, cycles: int, side) -> None:
        def place(slots: _Slots) -> None:
            _breath_cues(slots, pattern, cycles, self.breath_cues, self.w)

        self._window(pattern.cycle_ms * cycles, side, place, ("breath", pattern, cycles))


@functools.cache
def _breath_words(w: Words) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Each breath phase's words in `w`'s language, longest first, and the last in-breath's:
    translated once, not once for every breath of every window."""
    said = {
        phase: tuple(w.gettext(text) for text in words)
        for phase, (words, _) in _BREATH_WORDS.items()
    }
    return said, (w.gettext("Last breath. Breathe in."), *said["in"])


def _breath_cues(
    slots: _Slots, pattern: BreathPattern, cycles: int | None, mode: str, w: Words
) -> None:
    """Breath words (mode voice or both) at each phase's start, each short enough to end before
    the phase does, and a soft rising or falling tone (tones or both) for each in- and out-
    breath long enough to hold it."""
    at = slots.start
    cycle = 0
    phases = pattern.phases()
    said, last_in = _breath_words(w)
    while at < slots.end and (cycles is None or cycle < cycles):
        for phase, ms in phases:
            if at >= slots.end:
                break
            role = _BREATH_WORDS[phase][1]
            words = said[phase]
            if cycles is not None and cycle == cycles - 1 and phase == "in" and cycles > 1:
                words = last_in
            room = min(ms, slots.end - at) - 100
            tone = _BREATH_TONES.get(phase)
            if mode != "voice" and tone and TONE_MS[tone] <= room:
                slots.tones.append((at, tone))
            if mode == "tones":
                at += ms
                continue
            for text in words:
                if slots.fits(at, text, room):
                    slots.fixed(at, text, role)
                    break
            at += ms
        cycle += 1


class _Slots:
    """Speech inside a timed window, placed without overlap: fixed cues at their time or not
    at all (a countdown word late is worse than none), flexible ones a little later if needed."""

    def __init__(self, start: int, end: int, durations: Durations) -> None:
        self.start = start
        self.end = end
        self.durations = durations
        self.placed: list[tuple[int, str, CueRole]] = []
        self.tones: list[tuple[int, Tone]] = []
        self._busy: list[tuple[int, int]] = []

    def fits(self, at: int, text: str, room: int | None = None) -> bool:
        d = self.durations(text)
        if room is not None and d > room:
            return False
        if at < self.start or at + d > self.end:
            return False
        end = at + d + SLOT_GAP_MS
        # A loop, not all(...): this runs for every word of every window.
        for s, e in self._busy:  # noqa: SIM110
            if end > s and at < e + SLOT_GAP_MS:
                return False
        return True

    def fixed(self, at: int, text: str, role: CueRole) -> None:
        if self.fits(at, text):
            self._take(at, text, role)

    def flexible(self, at: int, text: str, role: CueRole) -> None:
        # Try the wished-for time, then just after each busy stretch that follows it.
        for candidate in [at, *sorted(e + GAP_MS for s, e in self._busy if e + GAP_MS > at)]:
            if candidate - at > 10_000:
                break
            if self.fits(candidate, text) and candidate + self.durations(text) <= self.end - 3500:
                self._take(candidate, text, role)
                return

    def _take(self, at: int, text: str, role: CueRole) -> None:
        self._busy.append((at, at + self.durations(text)))
        self.placed.append((at, text, role))


def _describe_pattern(p: BreathPattern, w: Words) -> str:
    # TRANSLATORS: a breath pattern, said in parts: "Breathe in for 4, hold for 7, breathe
    # out for 8." Each number is seconds, with at most one decimal.
    def secs(ms: int) -> str:
        return w.decimal(ms / 1000)

    parts = [w.gettext("Breathe in for {seconds}", seconds=secs(p.inhale_ms))]
    if p.hold_in_ms:
        parts.append(w.gettext("hold for {seconds}", seconds=secs(p.hold_in_ms)))
    parts.append(w.gettext("breathe out for {seconds}", seconds=secs(p.exhale_ms)))
    if p.hold_out_ms:
        parts.append(w.gettext("hold for {seconds}", seconds=secs(p.hold_out_ms)))
    return ", ".join(parts) + "."
