"""A callback that writes, per rank and update, a digest of the weights and of the episodes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lightning.pytorch import Callback


def _digest(chunks) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:16]


class RankRecorder(Callback):
    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self._last_update = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # the step that finds an epoch's rollouts exhausted ends a "batch" without an update
        if int(pl_module.updates) == self._last_update:
            return
        self._last_update = int(pl_module.updates)
        envs = trainer.datamodule.env.base_env.envs
        record = {
            "update": int(pl_module.updates),
            "frames": int(pl_module.frames),
            "weights": _digest(p.detach().numpy().tobytes() for p in pl_module.parameters()),
            "episodes": _digest(e.unwrapped.grid.encode().tobytes() for e in envs),
        }
        with (self.out / f"rank{trainer.global_rank}.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
