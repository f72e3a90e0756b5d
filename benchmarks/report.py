"""Shared helpers of the benchmark scripts: machine description and docs sections."""

from __future__ import annotations

import os
import platform
import re
from datetime import date
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent.parent / "docs"  # reports land here wherever run from


def machine_line(load: bool = True) -> str:
    """One line naming the machine, so a number is never read without its context.

    ``load=False`` leaves out the load average: a report written after the runs (from
    MLflow) would show the load of writing it, not of the runs.
    """
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    busy = f" (load average {os.getloadavg()[0]:.1f} when the run started)" if load else ""
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores{busy}, {gpu}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, {date.today()}."
    )


def write_section(path: Path, title: str, command: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a markdown report."""
    section = f"## {title}\n\nCommand: `{command}`\n\n{body.strip()}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(section + "\n", text)
    else:
        text = f"{text.rstrip()}\n\n{section}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
