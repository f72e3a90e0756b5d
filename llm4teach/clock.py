"""This process's own clock, started when the package is first imported.

Not the operating system's process start: ``bash -c "pip install ... && llm4teach fit"``
runs the fit in the shell's own process (bash execs a command list's last command), whose
start time and finished children (the pip install) belong to the shell's work, not to
the fit's. A stamp taken at import counts only what this program did.
"""

from __future__ import annotations

import os
import time


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


_WALL, _CPU, _CHILDREN = time.perf_counter(), time.process_time(), _children_cpu()


def process_seconds() -> tuple[float, float]:
    """CPU seconds (this process and the children it waited for) and wall seconds since
    llm4teach was imported."""
    cpu = time.process_time() - _CPU + _children_cpu() - _CHILDREN
    return cpu, time.perf_counter() - _WALL
