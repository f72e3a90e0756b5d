"""Exact resume: interrupted + resumed == uninterrupted, bit for bit."""

from __future__ import annotations

import pytest
import torch
from fit_args import tiny_fit_args
from lightning.pytorch import Callback
from mlflow.tracking import MlflowClient

from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit


class Crash(Callback):
    """Dies in the middle of the third epoch (after update 5), like a killed process."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if int(pl_module.updates) == 5:
            raise RuntimeError("simulated crash")


def _weights(path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("student.")}


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_uninterrupted(in_tmp):
    whole, broken = in_tmp / "whole", in_tmp / "broken"
    whole.mkdir(), broken.mkdir()
    fit(tiny_fit_args(whole))  # 6 updates, 3 epochs

    args = tiny_fit_args(broken)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit([*args, "--trainer.callbacks+=test_resume.Crash"])
    interrupted = load_checkpoint(broken / "run/checkpoints/last.ckpt")
    assert int(interrupted["state_dict"]["updates"]) == 4  # the epoch-end before the crash
    fit([*args, "--ckpt_path", "last"])

    done = load_checkpoint(broken / "run/checkpoints/last.ckpt")
    reference = load_checkpoint(whole / "run/checkpoints/last.ckpt")
    assert int(done["state_dict"]["frames"]) == int(reference["state_dict"]["frames"]) == 384
    assert float(done["state_dict"]["distill.coef"]) == float(
        reference["state_dict"]["distill.coef"])
    a = _weights(broken / "run/checkpoints/last.ckpt")
    b = _weights(whole / "run/checkpoints/last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    # the resumed run continued the same MLflow run
    assert done["mlflow_run_id"] == interrupted["mlflow_run_id"]


@pytest.mark.slow
def test_fit_from_another_runs_checkpoint_branches_into_a_new_mlflow_run(in_tmp):
    fit(tiny_fit_args(in_tmp, total_frames=256))
    parent_ckpt = in_tmp / "run/checkpoints/last.ckpt"
    parent_bytes = parent_ckpt.read_bytes()
    parent_id = load_checkpoint(parent_ckpt)["mlflow_run_id"]

    branch = {"--trainer.default_root_dir": str(in_tmp / "branch"), "--model.epochs": "1",
              "--schedule": "llm4teach.training.schedules.NoTeacher"}
    fit([*tiny_fit_args(in_tmp, total_frames=384, **branch), "--ckpt_path", str(parent_ckpt)])

    done = load_checkpoint(in_tmp / "branch/checkpoints/last.ckpt")
    assert int(done["state_dict"]["frames"]) == 384  # the parent's counters, continued
    assert float(done["state_dict"]["distill.coef"]) == 0.0
    assert parent_ckpt.read_bytes() == parent_bytes
    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    run = client.get_run(done["mlflow_run_id"])
    assert run.info.run_id != parent_id and run.data.tags["branched_from"] == parent_id
    assert run.data.tags["branched_at_frames"] == "256"
    assert run.data.params["model.epochs"] == "1"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/lambda")]
    assert steps == [320, 384]
    parent_steps = [m.step for m in client.get_metric_history(parent_id, "train/lambda")]
    assert parent_steps == [64, 128, 192, 256]
    # lambda 0 from the start: the branch's rollouts never asked its teacher, not even the
    # collector's first reset (the schedule switches the teacher off before it)
    hits = client.get_metric_history(run.info.run_id, "teacher/hits")
    assert hits and all(m.value == 0 for m in hits)
