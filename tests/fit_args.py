"""Command-line arguments of a fit of a few seconds, shared by the training tests."""

from pathlib import Path


def tiny_fit_args(tmp_path: Path, total_frames: int = 384, **extra: str) -> list[str]:
    """Arguments of a run of a few seconds: 4 envs, 64-frame rollouts, 2 rollouts per epoch."""
    args = {
        "--trainer.default_root_dir": str(tmp_path / "run"),
        "--trainer.enable_progress_bar": "false",
        "--tracking.tracking_uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
        "--tracking.artifact_root": str(tmp_path / "mlruns" / "artifacts"),
        "--model.student.channels": "[8, 8]",
        "--model.student.hidden": "16",
        "--model.ppo.minibatch_size": "32",
        "--model.ppo.epochs": "2",
        "--data.num_envs": "4",
        "--data.frames_per_batch": "64",
        "--data.epoch_frames": "128",
        "--budget.total_frames": str(total_frames),
        "--evaluation.episodes": "2",
        **extra,
    }
    return [item for pair in args.items() for item in pair]
