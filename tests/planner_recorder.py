"""A callback that writes, per rank at the end of a fit, what its teacher's planner did."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch import Callback


class PlannerRecorder(Callback):
    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def on_train_end(self, trainer, pl_module) -> None:
        shared = trainer.datamodule.teacher_transform.teacher.planner
        record = {
            "kind": type(shared).__name__,
            "model_loaded": shared.planner.model is not None,
            "received": shared.received,
            "stats": shared.stats.as_dict(),
        }
        (self.out / f"planner{trainer.global_rank}.json").write_text(json.dumps(record))
