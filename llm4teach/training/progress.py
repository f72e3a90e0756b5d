"""One progress bar over the whole run, in environment frames.

Lightning's bar counts the batches of one epoch (``10/?``): a rollout is a batch and a run
is many epochs, so it says neither how far the run is nor when it ends. This bar runs from
the frames a run starts at (0, or a checkpoint's) to the frame budget, with the rate and
ETA over the whole run (evaluations included, as the user waits for them).
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar
from tqdm import tqdm

from llm4teach.metrics import GREEDY_SUCCESS, SAMPLED_SUCCESS
from llm4teach.training.budget import FrameBudget
from llm4teach.training.evaluation import Evaluation

# held-out success on the bar, as the run's summary prints it (Evaluation's latest numbers)
SUCCESS = {GREEDY_SUCCESS: "greedy", SAMPLED_SUCCESS: "sampled"}


class FramesProgressBar(TQDMProgressBar):
    """Frames of the budget, frames/s, ETA, lambda and the latest held-out success."""

    BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} frames "
                  "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")

    def init_train_tqdm(self) -> tqdm:
        """The bar from the frames the run starts at (0, or a checkpoint's) to the budget; its
        rate and ETA count this process's frames."""
        module = self.trainer.lightning_module
        budget = next(cb for cb in self.trainer.callbacks if isinstance(cb, FrameBudget))
        return tqdm(desc=module.hparams.task, total=budget.total_frames,
                    initial=int(module.frames), position=2 * self.process_position,
                    disable=self.is_disabled, leave=True, dynamic_ncols=True, file=sys.stdout,
                    smoothing=0, unit=" frames", unit_scale=True, bar_format=self.BAR_FORMAT)

    def on_train_epoch_start(self, trainer: Trainer, *_: Any) -> None:
        """Nothing: the bar spans the run, not an epoch."""

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._show(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._show(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """The last evaluation lands after the last epoch's bar update: show it, then close,
        so that the bar ends on the numbers the summary prints."""
        self._show(trainer, pl_module)
        super().on_train_end(trainer, pl_module)

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        """Only lambda and the latest held-out success: frames and frames/s are the bar's own."""
        shown = {}
        if "lambda" in trainer.progress_bar_metrics:
            shown["lambda"] = f"{float(trainer.progress_bar_metrics['lambda']):.3g}"
        evaluation = next((cb for cb in trainer.callbacks if isinstance(cb, Evaluation)), None)
        latest = evaluation.latest if evaluation is not None else {}
        shown.update({name: f"{latest[key]:.3f}" for key, name in SUCCESS.items()
                      if key in latest})
        return shown

    def _show(self, trainer: Trainer, pl_module: LightningModule) -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            bar.n = int(pl_module.frames)
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes
