"""CPU time of this process and its children (data-loader workers), for a run's cost.

A training run's cost on a CPU is its CPU time, not its wall time: beside another job the wall
time of the same steps varies by several times, the CPU time far less. Data-loader workers are
separate processes whose time the parent's ``time.process_time`` does not see, and which the
kernel adds to ``RUSAGE_CHILDREN`` only once they have exited; on Linux their running time is
read from ``/proc``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

__all__ = ["process_tree_cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one live process from ``/proc/PID/stat`` (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def _live_children(pid: int) -> list[int]:
    """Child processes of ``pid`` from ``/proc/PID/task/*/children`` (Linux), recursively."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        for kid in kids:
            found += [kid, *_live_children(kid)]
    return found


def process_tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process, its exited children and its live children."""
    own = time.process_time()
    exited = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(_proc_cpu_seconds(k) for k in _live_children(os.getpid()))
    return own + exited.ru_utime + exited.ru_stime + live
