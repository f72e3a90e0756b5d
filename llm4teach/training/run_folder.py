"""The run folder (``trainer.default_root_dir``): where a fit starts and what it keeps there.

A fit starts afresh, continues this folder's run (``--ckpt_path last``: the same MLflow run,
from its last checkpoint) or branches from another run's checkpoint (a new MLflow run that
names its parent). Before anything is made, rank 0 checks the MLflow store and the folder
and locks the folder (``run_lock``, ``preflight``); the run's MLflow id is written into the
folder at the start, so a run stopped before its first checkpoint continues in its run.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from llm4teach.tracking import BRANCHED_AT, BRANCHED_FROM, check_store
from llm4teach.training.artifacts import RUN_ID_KEY
from llm4teach.training.checkpointing import (
    TEMP_SUFFIX,
    check_student_fits,
    load_checkpoint,
    remove_stale_temps,
    resolve_checkpoint,
)
from llm4teach.training.preflight import check_space, check_writable
from llm4teach.training.run_lock import hold_run

RUN_ID_FILE = "mlflow_run_id"  # in the run folder: the run's MLflow id, from its start


class RunFinished(Exception):
    """A continued run whose frame budget is already spent: nothing to do (its one line)."""


@dataclass
class Start:
    """Where a fit starts: the checkpoint ``Trainer.fit`` restores (None: afresh), the MLflow
    run it continues (None: a new one) and the new run's tags naming its parent (a branch)."""

    checkpoint: Path | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def open_run(root: Path, ckpt_arg: str | None, total_frames: int, task: str,
             model: nn.Module, tracking_uri: str, held: ExitStack, rank_zero: bool) -> Start:
    """Check and lock ``root`` (on rank 0; the lock is held until ``held`` closes) and decide
    where the fit starts. The ranks of one DDP job share one run.

    A finished run of this folder raises ``RunFinished`` before Lightning starts.
    """
    dirpath = root / "checkpoints"
    if rank_zero:  # the store first: a fit that cannot log makes no folder
        check_store(tracking_uri)
        check_writable(root)
        held.enter_context(hold_run(root))
    run_id = started_run_id(root) if ckpt_arg == "last" else None
    if run_id is not None and not (dirpath / "last.ckpt").is_file():
        # Killed before its first checkpoint: nothing to continue from but its MLflow run,
        # whose points the fresh start repeats exactly (RunLogger keeps one per step).
        rank_zero_warn(f"{root} was stopped before its first checkpoint: starting it "
                       f"afresh in its MLflow run {run_id}")
        path = None
    else:
        path = resolve_checkpoint(ckpt_arg, dirpath)
    checkpoint = load_checkpoint(path) if path else {}
    if checkpoint:
        check_student_fits(checkpoint, model, path)
    same_run = path is not None and path.resolve().parent == dirpath.resolve()
    frames = int(checkpoint["state_dict"]["frames"]) if checkpoint else 0
    if same_run and frames >= total_frames:
        raise RunFinished(f"{root} already finished at {frames:,} frames (budget "
                          f"{total_frames:,}): raise --budget.total_frames to train on")
    if rank_zero:  # before the first epoch, not at its end
        check_writable(dirpath)
        remove_stale_temps(dirpath)  # a killed save's leftovers do not count as used
        check_space(dirpath, model)
    run_id = checkpoint.get(RUN_ID_KEY, run_id)
    if path is None or same_run:
        return Start(path, run_id)
    # Another run's checkpoint: a branch (new settings from its weights and counters), so a
    # new MLflow run that names its parent; the parent keeps its own.
    trained_on = checkpoint.get("hyper_parameters", {}).get("task", task)
    if trained_on != task:
        rank_zero_warn(f"{path} is a {trained_on} student: its weights go on training on {task}")
    return Start(path, None, {BRANCHED_FROM: run_id or str(path), BRANCHED_AT: str(frames)})


def how_to_continue(root: Path) -> str:
    """What a stopped run's last line says about continuing it."""
    kept = root / "checkpoints"
    if (kept / "last.ckpt").is_file():
        return (f"the checkpoints in {kept} are kept: continue the run with the same command "
                "and --ckpt_path last")
    return (f"no checkpoint was written yet: the same command with --ckpt_path last starts "
            f"{root} afresh in its MLflow run")


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
