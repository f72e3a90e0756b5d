"""The frame budget: training stops once the module has seen ``total_frames`` environment frames.

A callback, so that neither the rollout data nor the module decides when a run ends. It
checks after every update (the module's ``frames`` counter covers all ranks) and at the
start, so a run resumed from a checkpoint that already spent its budget does nothing.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class FrameBudget(Callback):
    """Stop after ``total_frames`` frames; the epoch in progress still ends (evaluation and
    checkpoint), so the last frames are evaluated and saved.

    Example:
        >>> FrameBudget(total_frames=122_880).total_frames
        122880
    """

    def __init__(self, total_frames: int = 300_000) -> None:
        """How long the run trains.

        Args:
            total_frames: environment frames to train for (all ranks together)
        """
        if not isinstance(total_frames, int) or total_frames < 1:
            raise ValueError(f"budget total_frames must be a positive integer, got "
                             f"{total_frames!r}")
        self.total_frames = total_frames

    def _check(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if int(pl_module.frames) >= self.total_frames:
            trainer.should_stop = True

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._check(trainer, pl_module)
