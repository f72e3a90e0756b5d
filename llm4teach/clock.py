"""This process's own clock, started when the package is first imported.

Not the operating system's process start: ``bash -c "pip install ... && llm4teach fit"``
runs the fit in the shell's own process (bash execs a command list's last command), whose
start time and finished children (the pip install) belong to the shell's work, not to
the fit's. A stamp taken at import counts only what this program did.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _running_children_cpu() -> float:
    """CPU seconds of this process's children still running (the collector that works
    ahead): the operating system adds a child's time to ours only once it is waited for.
    Read from ``/proc``; 0 where there is none."""
    total = 0.0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    return total


_WALL, _CPU, _CHILDREN = time.perf_counter(), time.process_time(), _children_cpu()


def process_seconds() -> tuple[float, float]:
    """CPU seconds (this process and its children, running or waited for) and wall seconds
    since llm4teach was imported."""
    cpu = time.process_time() - _CPU + _children_cpu() - _CHILDREN + _running_children_cpu()
    return cpu, time.perf_counter() - _WALL
