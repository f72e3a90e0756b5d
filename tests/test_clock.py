"""The time a program reports is its own: not a shell's, nor a pip install's before it."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

# A shell that burns CPU-seconds and waits, then execs the program in its own process
# (as ``bash -c "pip install ... && llm4teach fit ..."`` does with its last command).
BUSY = "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass"
BEFORE = f"{sys.executable} -c '{BUSY}'; sleep 1.5"
PROGRAM = "from llm4teach.clock import process_seconds; print(*process_seconds())"


def test_a_program_execd_by_a_shell_counts_only_its_own_seconds():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(["bash", "-c", f"{BEFORE}; exec {sys.executable} -c '{PROGRAM}'"],
                         capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = map(float, out.split())
    spent = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert spent >= 1.5 and elapsed >= 3.0  # the shell's work happened, in the same process
    assert cpu <= spent - 1.4  # ... and the program's clock left it out
    assert wall <= elapsed - 2.9


def _burn_then_wait(conn) -> None:
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    conn.send("burned")
    conn.recv()


def test_a_running_child_counts_once_and_keeps_counting_once_waited_for():
    import multiprocessing

    from llm4teach.clock import process_seconds

    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=_burn_then_wait, args=(theirs,))
    before, _ = process_seconds()
    child.start()
    assert ours.recv() == "burned"
    running, _ = process_seconds()  # the child's second, still running (a collector ahead)
    ours.send("end")
    child.join()
    waited, _ = process_seconds()
    assert 0.95 <= running - before < 1.3  # /proc counts in clock ticks
    assert abs(waited - running) < 0.2  # now the OS's children time: not counted twice
