"""Shared helpers of the benchmark scripts: machine description and generated reports.

Each script writes whole files under ``docs/generated/`` and nothing else in ``docs/``: the
hand-written pages link to these files (and cite their numbers with the command, commit
and date the file states), so a rerun never lands in the middle of prose written around
an older table.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import date
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent.parent / "docs"  # reports land here wherever run from
GENERATED = DOCS / "generated"
NOTICE = "<!-- Written by {script}: do not edit by hand; rerun the command to refresh. -->"


def commit() -> str:
    """The checkout's commit, ``+changes`` when its tracked files differ from it: the code a
    number was measured with."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=root).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+changes" if dirty else "")


def machine_line(load: bool = True) -> str:
    """One line naming the machine, commit and date, so a number is never read without its
    context.

    ``load=False`` leaves out the load average: a report written after the runs (from
    MLflow) would show the load of writing it, not of the runs.
    """
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    busy = f" (load average {os.getloadavg()[0]:.1f} when the run started)" if load else ""
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores{busy}, {gpu}, "
        f"Python {platform.python_version()}, torch {torch.__version__}; commit {commit()}; "
        f"{date.today()}."
    )


def write_generated(name: str, title: str, command: str, body: str) -> Path:
    """Write ``docs/generated/<name>.md`` whole: the title, the command and the body."""
    script = command.split()[1] if command.startswith("python ") else "a benchmark script"
    path = GENERATED / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{NOTICE.format(script=script)}\n\n# {title}\n\nCommand: `{command}`\n\n"
                    f"{body.strip()}\n")
    print(f"written to {path}")
    return path
