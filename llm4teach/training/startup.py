"""What a fit spent before its first frame, logged once per run."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from llm4teach.clock import process_seconds
from llm4teach.metrics import TIME_STARTUP_CPU, TIME_STARTUP_WALL


class StartupClock(Callback):
    """Logs ``time/startup_cpu_s`` and ``time/startup_wall_s``: this process's clock when its
    first update starts collecting (imports, settings, the MLflow run, the teacher's
    held-out evaluation and the collector's first reset are behind it), at frame 0. A
    resumed run logs nothing: its history stays the uninterrupted run's."""

    def __init__(self) -> None:
        self.logged = False

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.logged:
            return
        self.logged = True
        if int(pl_module.frames) > 0:
            return
        cpu, wall = process_seconds()
        for logger in trainer.loggers:
            logger.log_metrics({TIME_STARTUP_CPU: cpu, TIME_STARTUP_WALL: wall},
                               step=int(pl_module.frames))
