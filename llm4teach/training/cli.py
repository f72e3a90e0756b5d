"""``llm4teach fit``: LightningCLI over the module, the rollout data and the training callbacks.

Top-level config sections: ``model`` (the student, ``optimiser`` and ``ppo``), ``data``
(task, envs, teacher), ``budget`` (frames to train for), ``schedule`` (lambda),
``evaluation``, ``tracking`` (MLflow) and ``trainer``. Where the run starts and what its
folder holds is ``run_folder``'s; what MLflow holds, ``artifacts``'. This module parses,
checks the settings, wires the run's callbacks in order and turns failures into one line.
"""

from __future__ import annotations

import logging
import signal
import warnings
from argparse import ArgumentError
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePath
from typing import Any

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from llm4teach.cli import Stopped
from llm4teach.domains import resolve, short_name
from llm4teach.tracking import default_run_name
from llm4teach.training.artifacts import MLflowConfig, MLflowTracking
from llm4teach.training.budget import FrameBudget
from llm4teach.training.checkpointing import AtomicCheckpointIO, checkpoint_callbacks
from llm4teach.training.class_paths import check_class_paths, split_allowed
from llm4teach.training.data import RolloutDataModule
from llm4teach.training.evaluation import Evaluation
from llm4teach.training.module import PPOTeacherModule
from llm4teach.training.progress import FramesProgressBar
from llm4teach.training.run_folder import RunFinished, how_to_continue, open_run, record_run_id
from llm4teach.training.schedules import LambdaSchedule, ScheduleCallback
from llm4teach.training.startup import StartupClock
from llm4teach.training.summary import RunSummary

# default_root_dir: None here, runs/<run name> once the run's name is known (before_instantiate)
TRAINER_DEFAULTS = {"max_epochs": -1, "log_every_n_steps": 1, "num_sanity_val_steps": 0,
                    "limit_val_batches": 0, "enable_model_summary": False,
                    "default_root_dir": None, "enable_autolog_hparams": False}
RUNS = Path("runs")  # where a run's folder goes when --trainer.default_root_dir is not given
NO_TEACHER = "llm4teach.training.schedules.NoTeacher"
RUN_CALLBACKS = ((FrameBudget, "budget"), (Evaluation, "evaluation"), (MLflowTracking, "tracking"))


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
        resume = how_to_continue(self._root)
        if isinstance(err, SIGTERMException):
            raise Stopped(f"stopped by SIGTERM; {resume}", signal.SIGTERM) from None
        if isinstance(err, KeyboardInterrupt) or (
                isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)):
            raise Stopped(f"interrupted (Ctrl-C); {resume}", signal.SIGINT) from None
        saved = (self._root / "checkpoints" / "last.ckpt").is_file()
        if isinstance(err, ValueError) and saved and "--ckpt_path last" not in str(err):
            raise ValueError(f"{err} ({resume})") from None

    def parse_arguments(self, parser, args) -> None:
        """Parse, then take ``ckpt_path`` into our own hands.

        With a checkpoint file as ``ckpt_path``, Lightning would next replace the config's
        and command line's model settings with the checkpoint's hyper-parameters (its
        private ``_parse_ckpt_path``, for which it has no public switch): a branch's
        ``--model.ppo.epochs 2`` would be dropped without a word. Taking the path out of the
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
        parser.add_subclass_arguments(LambdaSchedule, "schedule", fail_untyped=False)
        parser.set_defaults(
            {"schedule": {"class_path": "llm4teach.training.schedules.ReferenceSchedule"}})
        # callbacks, but not LightningCLI's: instantiate_trainer lists them in their order
        for callback, key in RUN_CALLBACKS:
            parser.add_class_arguments(callback, key, fail_untyped=False, sub_configs=True)
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
        config, init = self.config[self.subcommand], self.config_init[self.subcommand]
        missing = [name for name in init.schedule.needs if name not in init.evaluation.logged()]
        if missing:
            raise ValueError(f"schedule {type(init.schedule).__name__} gates on "
                             f"{', '.join(missing)}, which the evaluation does not log: keep "
                             "evaluation.teacher true, or choose another schedule (e.g. "
                             "ReferenceSchedule)")
        root = Path(config.trainer.default_root_dir)
        rank_zero = rank_zero_only.rank == 0  # the ranks of one DDP job share one run
        tracking: MLflowTracking = init.tracking
        start = open_run(root, self._ckpt_arg, init.budget.total_frames, config.data.task,
                         self.model, tracking.tracking_uri, self._held, rank_zero)
        self._ckpt = start.checkpoint
        tracking.tags.update(start.tags)
        # Only rank 0 logs. Opening the store on every rank at once (torchrun starts them
        # together) would race to create a new sqlite store's tables.
        kwargs["logger"] = False
        if rank_zero:
            kwargs["logger"] = tracking.make_logger(config.data.task, seed=config.seed_everything,
                                                    run_id=start.run_id)
            record_run_id(root, kwargs["logger"].run_id)
        self._root = root  # from here on, a stop says how to continue
        kwargs["plugins"] = [AtomicCheckpointIO()]
        # ScheduleCallback after Evaluation: it reads what Evaluation logs at an epoch end
        callbacks = [*(init.trainer.callbacks or []), init.budget, init.evaluation,
                     ScheduleCallback(init.schedule), tracking,
                     *checkpoint_callbacks(root / "checkpoints"), RunSummary(), StartupClock()]
        if config.trainer.enable_progress_bar is not False:
            callbacks.append(FramesProgressBar())
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)

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
