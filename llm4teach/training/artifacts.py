"""MLflow side of a run: its logger, its settings as params and config, the run id in
checkpoints, teacher counters, and the final artifacts."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from llm4teach.metrics import TEACHER
from llm4teach.tracking import (
    DEFAULT_ARTIFACT_ROOT,
    artifact_location,
    default_run_name,
    learning_curve,
    resolve_tracking_uri,
    store_lock,
)

RUN_ID_KEY = "mlflow_run_id"
MLFLOW_BATCH = 1000  # metrics per log_batch call


class RunLogger(MLFlowLogger):
    """Lightning's MLflow logger, for a run that may be continued by a later process.

    A continued run (``continue_run``) logs only the steps past each metric's last step in
    the store. The points a killed process logged after its last checkpoint are then kept
    and the resumed process's repeat of them is dropped: resuming is exact (the same seeds,
    weights and counters), so these are the points the uninterrupted run logs, and each
    step holds one point. MLflow has no public way to delete a metric's points (only the
    sqlite store's private session could), so keeping the first is the clean choice.
    A fit ended by Ctrl-C or SIGTERM (``interrupted``) is marked KILLED, where Lightning
    says FAILED.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._logged: dict[str, int] = {}  # each metric's last step in the store
        self.interrupted = False

    def continue_run(self) -> None:
        """Read each metric's last step in the store (once) and mark the run RUNNING again."""
        client, run_id = self.experiment, self.run_id
        self._logged = {key: max(m.step for m in client.get_metric_history(run_id, key))
                        for key in client.get_run(run_id).data.metrics}
        client.update_run(run_id, status="RUNNING")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        step = step or 0
        new = {k: v for k, v in metrics.items() if step > self._logged.get(k, -1)}
        if new:
            super().log_metrics(new, step)

    def log_rows(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        """Metrics of many steps in one batch per ``MLFLOW_BATCH`` (one sqlite transaction)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for step, row in rows
                   for key, value in row.items() if step > self._logged.get(key, -1)]
        for start in range(0, len(metrics), MLFLOW_BATCH):  # MLflow's limit per call
            self.experiment.log_batch(self.run_id, metrics=metrics[start:start + MLFLOW_BATCH])

    def finalize(self, status: str = "success") -> None:
        super().finalize("KILLED" if status == "failed" and self.interrupted else status)


class MLflowTracking(Callback):
    """Where the run is tracked, and what it leaves there.

    ``experiment`` defaults to the task name. The run id goes into every checkpoint so
    that ``--ckpt_path`` continues the same run. Teacher cache counters are logged at
    every epoch end; at the end of training the last and best checkpoints and a
    learning-curve PNG are logged as artifacts.
    """

    def __init__(self, tracking_uri: str | None = None,
                 artifact_root: str | None = DEFAULT_ARTIFACT_ROOT,
                 experiment: str | None = None, run_name: str | None = None,
                 tags: dict[str, str] | None = None) -> None:
        """Where and under which names the run is tracked.

        Args:
            tracking_uri: MLflow store; default $MLFLOW_TRACKING_URI if set, else
                sqlite:///mlruns/mlflow.db (this option wins over the variable)
            artifact_root: folder or URI for the artifacts of new experiments
            experiment: MLflow experiment; default the task name
            run_name: MLflow run name; default <task>-<tags.method>-seed<seed_everything>,
                which also names the run folder when trainer.default_root_dir is not given
            tags: MLflow run tags (compare groups by task and method); method defaults to
                what the run does: ppo (no teacher), soft, hard, soft-hf-MODEL...
        """
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.artifact_root = artifact_root
        self.experiment, self.run_name, self.tags = experiment, run_name, dict(tags or {})

    def make_logger(self, task: str, seed: int | None = None,
                    run_id: str | None = None) -> RunLogger:
        """The run's logger: a new MLflow run, or the run ``run_id`` continued."""
        with store_lock(self.tracking_uri):
            logger = RunLogger(
                experiment_name=self.experiment or task,
                run_name=self.run_name or default_run_name(task, self.tags.get("method"), seed),
                tracking_uri=self.tracking_uri, tags={"task": task, **self.tags},
                artifact_location=artifact_location(self.tracking_uri, self.artifact_root),
                run_id=run_id,
            )
            if run_id is not None:
                _check_run_exists(run_id, self.tracking_uri)
            _ = logger.experiment  # tables, experiment and run: one run at a time
            if run_id is not None:
                logger.continue_run()
        return logger

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        logger = mlflow_logger(trainer)
        if logger is not None:
            checkpoint[RUN_ID_KEY] = logger.run_id

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = mlflow_logger(trainer)
        teacher = trainer.datamodule.teacher_transform
        if logger is not None and teacher is not None:
            stats = {TEACHER + k: float(v) for k, v in teacher.stats.as_dict().items()}
            logger.log_metrics(stats, step=int(pl_module.frames))

    def on_exception(self, trainer: Trainer, pl_module: LightningModule,
                     exception: BaseException) -> None:
        logger = mlflow_logger(trainer)
        if isinstance(logger, RunLogger):
            logger.interrupted = isinstance(exception, KeyboardInterrupt | SIGTERMException)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = mlflow_logger(trainer)
        if logger is None:
            return
        client, run_id = logger.experiment, logger.run_id
        paths = {cb.best_model_path for cb in trainer.checkpoint_callbacks}
        for path in sorted(paths):
            if path and Path(path).is_file():
                client.log_artifact(run_id, path, artifact_path="checkpoints")
        with tempfile.TemporaryDirectory() as tmp:
            png = learning_curve(self.tracking_uri, run_id, Path(tmp) / "learning_curve.png")
            client.log_artifact(run_id, str(png))


class MLflowConfig(SaveConfigCallback):
    """Our settings as MLflow params, and the whole resolved config as ``config.yaml``.

    Lightning's Trainer has some forty settings a run rarely changes: only those that
    differ from their default (devices, precision, the run folder...) become params, the
    others are in the artifact, so a run's params are the ones worth comparing.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        logger = mlflow_logger(trainer)
        if logger is None:
            return
        config = self.config.clone()
        config.pop("ckpt_path", None)  # differs between a run and its resumption
        config.pop("weights_only", None)  # always True: before_fit sets it
        defaults = flatten(self.parser.get_defaults().as_dict())
        params = {k: v for k, v in flatten(config.as_dict()).items()
                  if not k.startswith("trainer.") or k not in defaults or v != defaults[k]}
        # MLflow params are immutable: a resumed run keeps its first values and warns.
        logged = logger.experiment.get_run(logger.run_id).data.params
        changed = sorted(k for k, v in params.items() if k in logged and logged[k] != str(v))
        if changed:
            rank_zero_warn(f"settings changed since the run started (MLflow keeps the first "
                           f"values): {', '.join(changed)}")
        logger.log_hyperparams({k: v for k, v in params.items() if k not in logged})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(self.parser.dump(config, skip_none=False))
            logger.experiment.log_artifact(logger.run_id, str(path))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"task": "X"}}`` -> ``{"data.task": "X"}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def mlflow_logger(trainer: Trainer) -> MLFlowLogger | None:
    """The run's MLflow logger; None on the ranks that do not log (all but rank 0)."""
    return next((lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)), None)


def log_rows(loggers: list, rows: list[tuple[int, dict[str, float]]]) -> None:
    """Log metrics of many steps: to MLflow in one batch (one transaction), else step by step."""
    if not rows:
        return
    for logger in loggers:
        if isinstance(logger, RunLogger):
            logger.log_rows(rows)
        else:
            for step, row in rows:
                logger.log_metrics(row, step=step)


def _check_run_exists(run_id: str, tracking_uri: str) -> None:
    """A checkpoint names its MLflow run; continuing it in another store cannot log."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri).get_run(run_id)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":  # a store that fails says so itself
            raise
        raise ValueError(
            f"the checkpoint's MLflow run {run_id} is not in the store {tracking_uri}: "
            f"continue it with --tracking.tracking_uri set to the store it was logged to, or "
            f"start a new run from it in a new folder (--trainer.default_root_dir NEW "
            f"--ckpt_path PATH/TO/last.ckpt)") from None
