"""Shared helpers: a tiny, fast ``llm4teach fit`` configuration writing into ``tmp_path``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def tiny_fit_args(tmp_path: Path, total_frames: int = 384, **extra: str) -> list[str]:
    """Arguments of a run of a few seconds: 4 envs, 64-frame rollouts, 2 rollouts per epoch."""
    args = {
        "--trainer.default_root_dir": str(tmp_path / "run"),
        "--trainer.enable_progress_bar": "false",
        "--tracking.tracking_uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
        "--tracking.artifact_root": str(tmp_path / "mlruns" / "artifacts"),
        "--model.channels": "[8, 8]",
        "--model.hidden": "16",
        "--model.minibatch_size": "32",
        "--model.epochs": "2",
        "--data.num_envs": "4",
        "--data.frames_per_batch": "64",
        "--data.epoch_frames": "128",
        "--data.total_frames": str(total_frames),
        "--evaluation.episodes": "2",
        **extra,
    }
    return [item for pair in args.items() for item in pair]


@pytest.fixture
def in_tmp(tmp_path: Path):
    """Run in ``tmp_path`` so nothing lands in the repository."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)
