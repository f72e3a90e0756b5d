"""Checkpoints: written atomically, read back with ``weights_only=True``, never overwritten by
accident.

Lightning's save goes through an fsspec transaction whose temporary file lives in the
system temp folder; the final ``shutil.move`` is then a copy across file systems, which
a kill can cut in half. ``AtomicCheckpointIO`` writes beside the target and renames.
Everything a checkpoint holds is a tensor or a plain Python value (the module's
hyper-parameters are strings and numbers, counters and lambda are buffers, callback
states are dicts of numbers), so PyTorch's safe loader reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

BEST_METRIC = "eval/student_greedy_success"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to ``<path>.tmp`` in the same folder, fsync, then ``os.replace`` (atomic)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def checkpoint_callbacks(dirpath: Path) -> list[ModelCheckpoint]:
    """``last.ckpt`` at every epoch end (every ``data.epoch_frames`` frames), and the best one
    by held-out greedy success.

    Two callbacks, because Lightning's ``save_last`` with a monitor only writes ``last``
    when the monitored value improved.
    """
    common = {"dirpath": dirpath, "save_on_train_epoch_end": True, "save_top_k": 1,
              "auto_insert_metric_name": False, "enable_version_counter": False}
    return [ModelCheckpoint(filename="last", **common),
            ModelCheckpoint(filename="best-epoch{epoch}", monitor=BEST_METRIC, mode="max",
                            **common)]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with the safe loader; a missing or damaged file is a ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a checkpoint, unsafe pickle...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} is unreadable (corrupt or not an llm4teach "
                         f"checkpoint): {reason}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"checkpoint {path} holds no state_dict: not an llm4teach checkpoint")
    return checkpoint


def resolve_checkpoint(ckpt_path: str | None, dirpath: Path) -> Path | None:
    """The checkpoint a run starts from (``last`` means ``<dirpath>/last.ckpt``), checked.

    A fresh run (``ckpt_path`` None) refuses a folder that already holds checkpoints,
    so it never writes over a previous run's.
    """
    if ckpt_path is None:
        existing = sorted(dirpath.glob("*.ckpt")) if dirpath.is_dir() else []
        if existing:
            raise ValueError(
                f"{dirpath} already holds checkpoints ({existing[0].name}...): continue that run "
                f"with --ckpt_path last, or set trainer.default_root_dir to a new folder"
            )
        return None
    path = dirpath / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    load_checkpoint(path)
    return path
