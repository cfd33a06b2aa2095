"""Peak memory of other processes, as the kernel counts it for each program (or a whole tree)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def peak_mib(proc: subprocess.Popen, stop_after_s: float | None = None) -> float:
    """The peak resident memory (VmHWM) of `proc` in MiB, followed until it ends; SIGINT it
    after `stop_after_s` if given.

    Not wait4's ru_maxrss: that one starts from the size of the process that forked the child
    (a test run of a thousand tests is 300 MiB), so it measures the parent as much as coach.
    VmHWM belongs to the program's own memory, made new when it started. It is read every
    20 ms while the process lives, so a peak in its last 20 ms could be missed.
    """
    peak_kib = 0
    started = time.monotonic()
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
        except OSError:  # it ended between poll() and open()
            break
        if stop_after_s is not None and time.monotonic() - started >= stop_after_s:
            proc.send_signal(signal.SIGINT)
            stop_after_s = None
        time.sleep(0.02)
    proc.wait()
    return peak_kib / 1024


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _pss_kib(pid: int) -> int:
    # Pss: the process's resident pages, each shared page divided among the processes that
    # share it (the libraries every worker maps), so a sum over processes counts memory once.
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_tree_mib(proc: subprocess.Popen, every_s: float = 0.05) -> float:
    """The peak memory of `proc` and all its descendants together (worker processes
    included), in MiB: the sum of their proportional set sizes (resident memory with shared
    pages counted once, not once per process), sampled every `every_s` until it ends."""
    peak_kib = 0
    while proc.poll() is None:
        kids = _children()
        tree, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += kids.get(pid, [])
        peak_kib = max(peak_kib, sum(_pss_kib(pid) for pid in tree))
        time.sleep(every_s)
    proc.wait()
    return peak_kib / 1024
