"""One process per run: an exclusive lock on the run folder for the whole fit.

Two processes driving one run folder would log into one MLflow run and write one
``last.ckpt`` at the same time. The lock is an OS file lock (``filelock``): the kernel
drops it when its process dies, ``kill -9`` included, so a crashed run never leaves its
folder locked. The holder's PID is written into the lock file, for the refusal to name.
The ranks of one DDP job share their run: only global rank 0 takes the lock (the caller's
business, it knows the rank).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = "llm4teach.lock"


@contextmanager
def hold_run(root: Path) -> Iterator[None]:
    """Hold ``<root>/llm4teach.lock`` (``root`` must exist); a held one is a ``ValueError``."""
    path = root / LOCK_NAME
    lock = FileLock(path, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(
            f"run folder {root} is in use by another llm4teach fit (PID {_holder(path)}): "
            f"wait for it to end or stop it, or set --trainer.default_root_dir to another "
            f"folder") from None
    try:
        path.write_text(f"{os.getpid()}\n")
        yield
    finally:
        with suppress(OSError):  # the file stays: no stale PID in it for the next refusal
            path.write_text("")
        lock.release()


def _holder(path: Path) -> str:
    """The PID in a held lock file; it may not be written yet in the instant after locking."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"
