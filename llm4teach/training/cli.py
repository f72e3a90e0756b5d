"""``llm4teach fit``: LightningCLI over the module, the rollout data and the training callbacks.

Top-level config sections: ``model`` (PPO and the student), ``data`` (task, envs,
teacher), ``budget`` (frames to train for), ``schedule`` (lambda), ``evaluation``,
``tracking`` (MLflow) and ``trainer``. Checkpoints go to ``<trainer.default_root_dir>/checkpoints``,
the run's MLflow id to ``<trainer.default_root_dir>/mlflow_run_id`` (from the start).
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import warnings
from argparse import ArgumentError
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePath
from typing import Any

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from llm4teach.cli import Stopped
from llm4teach.domains import resolve, short_name
from llm4teach.tracking import BRANCHED_AT, BRANCHED_FROM, check_store, default_run_name
from llm4teach.training.artifacts import RUN_ID_KEY, MLflowTracking, mlflow_logger
from llm4teach.training.budget import FrameBudget
from llm4teach.training.checkpointing import (
    TEMP_SUFFIX,
    AtomicCheckpointIO,
    check_student_fits,
    checkpoint_callbacks,
    load_checkpoint,
    remove_stale_temps,
    resolve_checkpoint,
)
from llm4teach.training.class_paths import check_class_paths, split_allowed
from llm4teach.training.data import RolloutDataModule
from llm4teach.training.evaluation import Evaluation
from llm4teach.training.module import PPOTeacherModule
from llm4teach.training.preflight import check_space, check_writable
from llm4teach.training.progress import FramesProgressBar
from llm4teach.training.run_lock import hold_run
from llm4teach.training.schedules import LambdaSchedule
from llm4teach.training.summary import RunSummary

# default_root_dir: None here, runs/<run name> once the run's name is known (before_instantiate)
TRAINER_DEFAULTS = {"max_epochs": -1, "log_every_n_steps": 1, "num_sanity_val_steps": 0,
                    "limit_val_batches": 0, "enable_model_summary": False,
                    "default_root_dir": None, "enable_autolog_hparams": False}
RUNS = Path("runs")  # where a run's folder goes when --trainer.default_root_dir is not given
NO_TEACHER = "llm4teach.training.schedules.NoTeacher"
RUN_ID_FILE = "mlflow_run_id"  # in the run folder: the run's MLflow id, from its start


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
        defaults = _flatten(self.parser.get_defaults().as_dict())
        params = {k: v for k, v in _flatten(config.as_dict()).items()
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


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"task": "X"}}`` -> ``{"data.task": "X"}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class FitCLI(LightningCLI):
    """LightningCLI with only ``fit``, safe resumption and the run's fixed callbacks."""

    def __init__(self, args: Sequence[str]) -> None:
        self._ckpt_arg: str | None = None
        self._ckpt: Path | None = None
        self._root: Path | None = None  # the run folder, once the run has one
        # The run folder's lock, taken in instantiate_trainer, is held until the fit ends.
        with ExitStack() as self._held:
            try:
                super().__init__(
                    PPOTeacherModule, RolloutDataModule, args=list(args),
                    save_config_callback=MLflowConfig,
                    save_config_kwargs={"save_to_log_dir": False},
                    trainer_defaults=TRAINER_DEFAULTS, seed_everything_default=0,
                    auto_configure_optimizers=False,
                    # errors reach fit() as exceptions; no prefix matching (on the subcommand's
                    # parser too): a typo such as --data.num_env is an error, not num_envs
                    parser_kwargs={"exit_on_error": False, "allow_abbrev": False,
                                   "fit": {"allow_abbrev": False}},
                )
            except (SystemExit, KeyboardInterrupt, ValueError) as err:
                self._stopped(err)
                raise

    def _stopped(self, err: BaseException) -> None:
        """A run stopped after its MLflow run was made: a signal (SIGTERM, at the end of the
        update it lands in; Ctrl-C) is ``Stopped`` and a failure once a checkpoint exists a
        ``ValueError``, each saying how to continue; anything else is left as it is.

        Lightning ends a SIGTERM with ``SIGTERMException``, a ``SystemExit`` of code 0, and
        Ctrl-C with ``sys.exit(1)`` inside its ``except KeyboardInterrupt``."""
        if self._root is None:
            return
        kept = self._root / "checkpoints"
        last = kept / "last.ckpt"
        resume = (f"the checkpoints in {kept} are kept: continue the run with the same command "
                  "and --ckpt_path last" if last.is_file() else
                  f"no checkpoint was written yet: the same command with --ckpt_path last "
                  f"starts {self._root} afresh in its MLflow run")
        if isinstance(err, SIGTERMException):
            raise Stopped(f"stopped by SIGTERM; {resume}", signal.SIGTERM) from None
        if isinstance(err, KeyboardInterrupt) or (
                isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)):
            raise Stopped(f"interrupted (Ctrl-C); {resume}", signal.SIGINT) from None
        if isinstance(err, ValueError) and last.is_file() and "--ckpt_path last" not in str(err):
            raise ValueError(f"{err} ({resume})") from None

    def parse_arguments(self, parser, args) -> None:
        """Parse, then take ``ckpt_path`` into our own hands.

        With a checkpoint file as ``ckpt_path``, Lightning would next replace the config's
        and command line's model settings with the checkpoint's hyper-parameters (its
        private ``_parse_ckpt_path``, for which it has no public switch): a branch's
        ``--model.epochs 2`` would be dropped without a word. Taking the path out of the
        config here, in the public parse hook, keeps the settings; ``instantiate_trainer``
        resolves and checks it, ``before_fit`` hands it to ``Trainer.fit``.
        """
        super().parse_arguments(parser, args)
        fit = self.config[self.config.subcommand]
        self._ckpt_arg, fit.ckpt_path = fit.ckpt_path, None

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--threads", type=int, default=1,
                            help="torch CPU threads; 1 is fastest for these small networks on a "
                                 "shared CPU (the envs and the teacher run in the same process)")
        parser.add_lightning_class_args(LambdaSchedule, "schedule", subclass_mode=True)
        parser.set_defaults(
            {"schedule": {"class_path": "llm4teach.training.schedules.ReferenceSchedule"}})
        parser.add_lightning_class_args(FrameBudget, "budget")
        parser.add_lightning_class_args(Evaluation, "evaluation")
        parser.add_lightning_class_args(MLflowTracking, "tracking")
        parser.link_arguments("data.task", "model.task")

    def before_instantiate_classes(self) -> None:
        """Settings that would fail late (after the MLflow run is made) or not at all."""
        config = self.config[self.subcommand]
        if config.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {config.threads}")
        torch.set_num_threads(config.threads)
        # one spelling per task: `simpledoorkey` logs to the SimpleDoorKey experiment
        config.data.task = config.model.task = short_name(config.data.task)
        # the run's method is what it does (a --tracking.tags method wins), and its folder
        # is named after the run: two tasks, methods or seeds never share one
        config.tracking.tags = {"method": method_tag(config), **(config.tracking.tags or {})}
        if config.trainer.default_root_dir is None:
            name = config.tracking.run_name or default_run_name(
                config.data.task, config.tracking.tags["method"], config.seed_everything)
            config.trainer.default_root_dir = str(RUNS / name)
        if 0 < config.budget.total_frames < config.data.frames_per_batch:
            raise ValueError(f"budget total_frames ({config.budget.total_frames}) is less than "
                             f"one rollout (data.frames_per_batch {config.data.frames_per_batch}):"
                             " raise --budget.total_frames or lower --data.frames_per_batch")
        accelerator = str(config.trainer.accelerator)
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            build = "has no CUDA" if torch.version.cuda is None else "sees no GPU"
            raise ValueError(f"trainer accelerator {accelerator}: this torch build {build}; use "
                             "--trainer.accelerator cpu (or auto), or a GPU machine")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self.config[self.subcommand]
        root = Path(config.trainer.default_root_dir)
        dirpath = root / "checkpoints"
        is_rank_zero = rank_zero_only.rank == 0  # the ranks of one DDP job share one run
        if is_rank_zero:  # the store first: a fit that cannot log makes no folder
            check_store(self.config_init[self.subcommand].tracking.tracking_uri)
            check_writable(root)
            self._held.enter_context(hold_run(root))
        init = self.config_init[self.subcommand]
        checkpoint, run_id, same_run = self._start(root, dirpath, init.budget.total_frames)
        if is_rank_zero:  # before the first epoch, not at its end
            check_writable(dirpath)
            remove_stale_temps(dirpath)  # a killed save's leftovers do not count as used
            check_space(dirpath, self.model)
        tracking: MLflowTracking = init.tracking
        if self._ckpt is not None and not same_run:
            # Another run's checkpoint: a branch (new settings from its weights and
            # counters), so a new MLflow run that names its parent; the parent keeps its own.
            frames = int(checkpoint["state_dict"]["frames"])
            trained_on = checkpoint.get("hyper_parameters", {}).get("task", config.data.task)
            if trained_on != config.data.task:
                rank_zero_warn(f"{self._ckpt} is a {trained_on} student: its weights go on "
                               f"training on {config.data.task}")
            tracking.tags.update({BRANCHED_FROM: run_id or str(self._ckpt),
                                  BRANCHED_AT: str(frames)})
            run_id = None
        # Only rank 0 logs. Opening the store on every rank at once (torchrun starts them
        # together) would race to create a new sqlite store's tables.
        kwargs["logger"] = False
        if is_rank_zero:
            kwargs["logger"] = tracking.make_logger(config.data.task, seed=config.seed_everything,
                                                    run_id=run_id)
            record_run_id(root, kwargs["logger"].run_id)
        self._root = root  # from here on, a stop says how to continue
        kwargs["plugins"] = [AtomicCheckpointIO()]
        callbacks = [*(init.trainer.callbacks or []), *checkpoint_callbacks(dirpath), RunSummary()]
        if config.trainer.enable_progress_bar is not False:
            callbacks.append(FramesProgressBar())
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)

    def _start(self, root: Path, dirpath: Path,
               total_frames: int) -> tuple[dict[str, Any], str | None, bool]:
        """Where the run starts: sets ``self._ckpt``; returns the checkpoint read (empty for
        a fresh start), the MLflow run to continue, and whether the checkpoint is this run's.

        A finished run of this folder raises ``RunFinished`` before Lightning starts.
        """
        run_id = started_run_id(root) if self._ckpt_arg == "last" else None
        if run_id is not None and not (dirpath / "last.ckpt").is_file():
            # Killed before its first checkpoint: nothing to continue from but its MLflow run,
            # whose points the fresh start repeats exactly (RunLogger keeps one per step).
            rank_zero_warn(f"{root} was stopped before its first checkpoint: starting it "
                           f"afresh in its MLflow run {run_id}")
            self._ckpt = None
        else:
            self._ckpt = resolve_checkpoint(self._ckpt_arg, dirpath)
        checkpoint = load_checkpoint(self._ckpt) if self._ckpt else {}
        if checkpoint:
            check_student_fits(checkpoint, self.model, self._ckpt)
        same_run = self._ckpt is not None and self._ckpt.resolve().parent == dirpath.resolve()
        frames = int(checkpoint["state_dict"]["frames"]) if checkpoint else 0
        if same_run and frames >= total_frames:
            raise RunFinished(f"{root} already finished at {frames:,} frames (budget "
                              f"{total_frames:,}): raise --budget.total_frames to train on")
        return checkpoint, checkpoint.get(RUN_ID_KEY, run_id), same_run

    def before_fit(self) -> None:
        fit = self.config_init[self.subcommand]
        fit["ckpt_path"] = str(self._ckpt) if self._ckpt else None
        fit["weights_only"] = True


def method_tag(config: Any) -> str:
    """What the run does, as MLflow's ``method`` tag and in its name: ``ppo`` with no
    teacher, else the teacher's mode (``soft``, ``hard``) and, past the recorded answers,
    its source: ``soft-hf-vicuna-7b-v1.5`` (backend and model), ``soft-table-mine`` (a
    plan table file); ``no-table`` for a table teacher with no table of the task (its every
    step falls back, so the run is not taught)."""
    if config.schedule.class_path == NO_TEACHER:
        return "ppo"
    teacher = config.data.teacher
    if teacher.backend == "table" and not teacher.plans \
            and resolve(config.data.task).plan_table() is None:
        return "no-table"
    if teacher.backend != "table":
        model = [PurePath(teacher.model).name] if teacher.model else []
        return "-".join([teacher.mode, teacher.backend, *model])
    return f"{teacher.mode}-table-{PurePath(teacher.plans).stem}" if teacher.plans else teacher.mode


@contextmanager
def _formatted(format_warning: Callable[..., str]) -> Iterator[None]:
    """``warnings.formatwarning`` replaced while the block runs (catch_warnings keeps it)."""
    before, warnings.formatwarning = warnings.formatwarning, format_warning
    try:
        yield
    finally:
        warnings.formatwarning = before


class RunFinished(Exception):
    """A continued run whose frame budget is already spent: nothing to do (its one line)."""


def record_run_id(root: Path, run_id: str) -> None:
    """Write the run's MLflow id to ``<root>/mlflow_run_id`` at the start, before any
    checkpoint holds it: a run killed before its first checkpoint continues in its MLflow run."""
    path = root / RUN_ID_FILE
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    tmp.write_text(run_id + "\n")
    os.replace(tmp, path)  # never a half-written id


def started_run_id(root: Path) -> str | None:
    """The MLflow id ``record_run_id`` wrote in ``root``, or None."""
    path = root / RUN_ID_FILE
    return (path.read_text().strip() or None) if path.is_file() else None


class _DropNotices(logging.Filter):
    """Lines that say nothing about this run: Lightning's advertisement for its cloud logger,
    the accelerators this project never uses, a new experiment being made (every first run)."""

    NOTICES = ("litlogger", "TPU available", "HPU available", "not found. Creating it")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(notice in record.getMessage() for notice in self.NOTICES)


DROP_NOTICES = _DropNotices()  # one object: adding it again, fit after fit, is a no-op


# Notices that are about Lightning's own API, not about the run: the module's training_step
# takes the dataloader iterator on purpose (one rollout per update, fetched after the last).
# A resumed run's checkpoint folder holds its checkpoints by design.
QUIET = (".*args parameter is intended to run", ".*`dataloader_iter`", ".*LeafSpec",
         ".*Checkpoint directory .* exists and is not empty",
         ".*therefore `best_model_score`")  # a branch starts a new folder: no best to carry


def _warning_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    """A warning as the one line a user reads (Python's shows the file and the source line
    of the call, which are ours to know, not theirs)."""
    return f"llm4teach fit: warning: {message}\n"


def fit(argv: Sequence[str]) -> None:
    """Entry point of ``llm4teach fit ARGS``; a bad setting is a ``ValueError`` of one line.
    Classes named in the settings are checked before jsonargparse imports them
    (``class_paths``)."""
    argv, allowed = split_allowed(argv)
    check_class_paths(argv, allowed)
    for source in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.loggers.mlflow"):
        logging.getLogger(source).addFilter(DROP_NOTICES)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # table migrations
    # formatwarning, not showwarning: a caller recording warnings (pytest.warns) still does
    with warnings.catch_warnings(), _formatted(_warning_line):
        for message in QUIET:
            warnings.filterwarnings("ignore", message=message)
        try:
            FitCLI(["fit", *argv])
        except ArgumentError as err:
            raise ValueError(" ".join(str(err).split())) from None
        except RunFinished as done:
            if rank_zero_only.rank == 0:
                print(done, flush=True)
