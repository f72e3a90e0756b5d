"""What a fit prints when it ends: how the run went, and where to look at it.

The held-out success is read back from the MLflow run, the one record of it: a resumed
run's teacher success was logged by an earlier process, and this is what the MLflow UI
and ``llm4teach compare`` will show.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

from llm4teach.clock import process_seconds
from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER
from llm4teach.training.artifacts import MLflowTracking, mlflow_logger

# (name in the summary, MLflow metric)
SUCCESS = (("greedy", EVAL_GREEDY), ("sampled", EVAL_SAMPLED), ("teacher", EVAL_TEACHER))


class RunSummary(Callback):
    """At the end of a fit, on rank 0, print a short summary of the run."""

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            print(summary(trainer, pl_module), flush=True)


def summary(trainer: Trainer, pl_module: LightningModule) -> str:
    """The summary's lines: final held-out success, frames, wall time, MLflow run,
    checkpoints, and the commands that show the run."""
    cpu, wall = process_seconds()
    lines = [f"{pl_module.hparams.task}: {int(pl_module.frames):,} frames, {wall:,.0f} s wall "
             f"time and {cpu:,.0f} CPU-s (this process)"]
    folder = trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else None
    best = next((cb.best_model_path for cb in trainer.checkpoint_callbacks
                 if cb.monitor and cb.best_model_path), None)
    checkpoints = f"checkpoints {folder}" + (f", best {best}" if best else "")
    logger = mlflow_logger(trainer)
    tracking = next((cb for cb in trainer.callbacks if isinstance(cb, MLflowTracking)), None)
    if logger is None or tracking is None:
        return "\n".join([*lines, checkpoints])
    run = logger.experiment.get_run(logger.run_id)
    final = run.data.metrics  # each metric's value at its last step
    experiment = logger.experiment.get_experiment(run.info.experiment_id).name
    uri = shlex.quote(absolute_uri(tracking.tracking_uri))
    return "\n".join([
        *lines,
        "final held-out success: " + ", ".join(
            f"{name} {final[key]:.3f}" if key in final else f"{name} -" for name, key in SUCCESS),
        f"MLflow run {run.info.run_name} ({run.info.run_id}), experiment {experiment}",
        checkpoints,
        "look at it:",
        f"  mlflow ui --backend-store-uri {uri}",
        f"  llm4teach compare --tracking-uri {uri} --experiment {shlex.quote(experiment)}",
    ])


def absolute_uri(tracking_uri: str) -> str:
    """A local sqlite store's URI with an absolute path: the commands work from any folder."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or tracking_uri.startswith(prefix + "/"):
        return tracking_uri
    return prefix + str(Path(tracking_uri[len(prefix):]).resolve())
