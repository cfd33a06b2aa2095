"""coach's benchmarks: `scripts/bench` runs this and prints a table.

Speed lives here, not in the tests: the tests check behaviour, this measures and compares
against the targets. `--quick` runs fewer repetitions and fails (exit 1) when a figure is
more than twice its target, for use before a change lands.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COACH = ROOT / ".venv" / "bin" / "coach"


@dataclass(frozen=True)
class Figure:
    name: str
    value_ms: float
    target_ms: float

    @property
    def verdict(self) -> str:
        if self.value_ms <= self.target_ms:
            return "ok"
        return "SLOW" if self.value_ms <= 2 * self.target_ms else "FAIL"


def generated_routine(steps: int) -> str:
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
    return f"title: Generated {steps}\nsafety: [Stop if it hurts.]\nsteps:\n{body}"


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_compile(runs: int) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    from coach.compiler import compile
    from coach.routine import parse_routine

    text = generated_routine(1000)
    routine = parse_routine(text, "generated.yaml")
    return [
        Figure("load 1,000-step routine (YAML to Routine)", _median_ms(
            lambda: parse_routine(text, "generated.yaml"), runs), 500),
        Figure("compile 1,000-step routine", _median_ms(lambda: compile(routine), runs), 100),
    ]  # fmt: skip


def bench_cold_start(runs: int) -> list[Figure]:
    def run(*args):
        subprocess.run([str(COACH), *args], check=True, capture_output=True)

    return [
        Figure("coach --help (whole process)", _median_ms(lambda: run("--help"), runs), 200),
        Figure("coach validate upper-back-release (whole process)",
               _median_ms(lambda: run("validate", "upper-back-release"), runs), 300),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs; fail past 2x target")
    args = parser.parse_args()
    runs = 3 if args.quick else 11
    figures = bench_compile(runs) + bench_cold_start(runs)
    width = max(len(f.name) for f in figures)
    print(f"{'benchmark':<{width}}  {'median':>10}  {'target':>10}  verdict")
    for f in figures:
        print(f"{f.name:<{width}}  {f.value_ms:>8.1f}ms  {f.target_ms:>8.0f}ms  {f.verdict}")
    failed = [f for f in figures if f.verdict == "FAIL"]
    return 1 if args.quick and failed else 0


if __name__ == "__main__":
    sys.exit(main())
