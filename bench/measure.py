"""The two measurements every benchmark here takes: the machine's speed at the time, and a process's
peak memory."""
from __future__ import annotations

import resource
import time


def gauge() -> float:
    """Seconds of a fixed pure-Python loop, ``sum(i*i for i in range(10**7))``: how fast the machine runs
    right now (0.4–0.6 s on a quiet 2-core VM of this project; shared machines drift by 2× and more)."""
    started = time.perf_counter()
    sum(i * i for i in range(10**7))
    return time.perf_counter() - started


def peak_mib() -> float:
    """This process's own peak resident memory, MiB.

    Linux's ``VmHWM`` belongs to the running program. ``ru_maxrss`` does not: a forked child starts
    with its parent's resident size, so a heavy parent would raise every child's figure.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB (elsewhere: no /proc)
