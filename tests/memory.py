"""Peak memory of another process, as the kernel counts it for that program alone."""

from __future__ import annotations

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
