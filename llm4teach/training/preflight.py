"""Checks of the run folder before training: a run that cannot save its checkpoints should
fail at the start, in one line, not lose its first epoch."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

# Per checkpoint, beyond the tensors: the zip framing, hyper-parameters, callback states.
CHECKPOINT_OVERHEAD = 1 << 20


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write a file in it, or raise a ``ValueError`` saying how to fix it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(
            f"run folder {folder} is not writable ({err.strerror or err}): fix its permissions "
            f"or set --trainer.default_root_dir to a folder you can write to") from None


def checkpoint_bytes(module: nn.Module) -> int:
    """Estimated size of one checkpoint: the module's state plus Adam's two moments."""
    state = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    moments = 2 * sum(p.numel() * p.element_size() for p in module.parameters())
    return state + moments + CHECKPOINT_OVERHEAD


def check_space(folder: Path, module: nn.Module) -> None:
    """Room for the run's two checkpoints (last and best), each with its temp copy while it is
    written; else a ``ValueError``."""
    need = 2 * 2 * checkpoint_bytes(module)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise ValueError(
            f"run folder {folder} has {_size(free)} free, its two checkpoints need about "
            f"{_size(need)}: free space there or set --trainer.default_root_dir to a folder on "
            f"a disk with room")


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
