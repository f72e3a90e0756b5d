"""Clean resume: interrupted + resumed == uninterrupted, bit for bit; one MLflow point per step."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from fit_args import tiny_fit_args
from helpers import teacher_of
from lightning.pytorch import Callback
from mlflow.tracking import MlflowClient

from llm4teach.cli import Stopped
from llm4teach.domains.minigrid import make_env
from llm4teach.metrics import EVAL_GREEDY, TEACHER, TRAIN_LAMBDA, TRAIN_LR
from llm4teach.teacher import TeacherConfig
from llm4teach.training.artifacts import MLflowTracking
from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit

STATS = "RolloutDataModule"  # the data module's part of a checkpoint: the teacher's counters


class Crash(Callback):
    """Dies while the epoch-end checkpoint after update 4 is written, once that epoch's
    metrics are logged (where a kill leaves points past the last checkpoint)."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if int(pl_module.updates) == 4:
            raise RuntimeError("simulated crash")


class CtrlC(Callback):
    """Ctrl-C while the first checkpoint (after update 2) is written: no checkpoint yet."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if int(pl_module.updates) == 2:
            raise KeyboardInterrupt


def _weights(path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("student.")}


def _assert_same_weights(a_path, b_path) -> None:
    a, b = _weights(a_path), _weights(b_path)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def _histories(folder, run_id: str) -> dict[str, list[int]]:
    """Every metric of a run: the steps of its points, in the order MLflow returns them."""
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    return {key: [m.step for m in client.get_metric_history(run_id, key)]
            for key in client.get_run(run_id).data.metrics}


def _status(folder, run_id: str) -> str:
    return MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db").get_run(run_id).info.status


@pytest.mark.slow
def test_hard_mode_run_crashed_after_logging_resumes_exactly_and_logs_once(in_tmp):
    hard = {"--data.teacher.mode": "hard"}
    whole, broken = in_tmp / "whole", in_tmp / "broken"
    whole.mkdir(), broken.mkdir()
    fit(tiny_fit_args(whole, **hard))  # 6 updates, 3 epochs
    reference = load_checkpoint(whole / "run/checkpoints/last.ckpt")

    args = tiny_fit_args(broken, **hard)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit([*args, "--allow_module", "test_resume", "--trainer.callbacks+=test_resume.Crash"])
    interrupted = load_checkpoint(broken / "run/checkpoints/last.ckpt")
    assert int(interrupted["state_dict"]["updates"]) == 2  # the epoch-end before the crash
    run_id = interrupted["mlflow_run_id"]
    assert _status(broken, run_id) == "FAILED"
    assert _histories(broken, run_id)[EVAL_GREEDY] == [128, 256]  # past it
    fit([*args, "--ckpt_path", "last"])

    done = load_checkpoint(broken / "run/checkpoints/last.ckpt")
    assert int(done["state_dict"]["frames"]) == int(reference["state_dict"]["frames"]) == 384
    _assert_same_weights(broken / "run/checkpoints/last.ckpt", whole / "run/checkpoints/last.ckpt")
    assert done["mlflow_run_id"] == run_id and _status(broken, run_id) == "FINISHED"
    # one point per step, the uninterrupted run's steps, for every metric
    histories = _histories(broken, run_id)
    assert histories == _histories(whole, reference["mlflow_run_id"])
    for key, steps in histories.items():
        assert steps == sorted(set(steps)), key
    # the teacher's counters continued from the checkpoint (not from 0): the steps counted
    # (fallbacks, the teacher's evaluation included) are the uninterrupted run's
    counted = [c[STATS]["teacher_stats"] for c in (interrupted, done, reference)]
    assert counted[0]["hits"] > 0 and counted[0]["fallbacks"] > 0
    assert counted[2]["fallbacks"] == counted[1]["fallbacks"] >= counted[0]["fallbacks"]


@pytest.mark.slow
def test_run_stopped_before_its_first_checkpoint_starts_afresh_in_its_mlflow_run(in_tmp):
    whole, broken = in_tmp / "whole", in_tmp / "broken"
    whole.mkdir(), broken.mkdir()
    fit(tiny_fit_args(whole))
    reference = load_checkpoint(whole / "run/checkpoints/last.ckpt")

    args = tiny_fit_args(broken)
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C while it shuts down
    try:
        with pytest.raises(Stopped, match=r"interrupted \(Ctrl-C\); no checkpoint was written "
                                          r"yet: the same command with --ckpt_path last starts"):
            fit([*args, "--allow_module", "test_resume",
                 "--trainer.callbacks+=test_resume.CtrlC"])
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert not list((broken / "run/checkpoints").glob("*.ckpt"))
    run_id = (broken / "run/mlflow_run_id").read_text().strip()
    assert _status(broken, run_id) == "KILLED"
    assert _histories(broken, run_id)[EVAL_GREEDY] == [128]

    with pytest.warns(UserWarning, match=f"before its first checkpoint: starting it afresh in "
                                         f"its MLflow run {run_id}"):
        fit([*args, "--ckpt_path", "last"])
    done = load_checkpoint(broken / "run/checkpoints/last.ckpt")
    assert done["mlflow_run_id"] == run_id and _status(broken, run_id) == "FINISHED"
    _assert_same_weights(broken / "run/checkpoints/last.ckpt", whole / "run/checkpoints/last.ckpt")
    assert _histories(broken, run_id) == _histories(whole, reference["mlflow_run_id"])


def test_a_continued_run_logs_only_steps_past_the_store_and_ctrl_c_is_killed(tmp_path):
    tracking = MLflowTracking(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=None)
    first = tracking.make_logger("SimpleDoorKey")
    first.log_metrics({"eval/x": 1.0}, step=10)
    first.log_rows([(20, {"eval/x": 2.0, "train/y": 5.0})])
    first.finalize("failed")
    client, run_id = first.experiment, first.run_id
    assert client.get_run(run_id).info.status == "FAILED"

    again = tracking.make_logger("SimpleDoorKey", run_id=run_id)
    assert client.get_run(run_id).info.status == "RUNNING"
    again.log_metrics({"eval/x": 9.0, "train/y": 9.0}, step=20)  # the killed process had these
    again.log_rows([(20, {"train/y": 9.0}), (30, {"eval/x": 3.0, "train/y": 6.0})])
    again.log_metrics({"eval/z": 1.0}, step=0)  # a metric the store has not seen
    history = {key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
               for key in ("eval/x", "train/y", "eval/z")}
    assert history == {"eval/x": [(10, 1.0), (20, 2.0), (30, 3.0)],
                       "train/y": [(20, 5.0), (30, 6.0)], "eval/z": [(0, 1.0)]}
    again.interrupted = True  # what MLflowTracking.on_exception sets on a KeyboardInterrupt
    again.finalize("failed")
    assert client.get_run(run_id).info.status == "KILLED"


def test_teacher_seed_restarts_hard_mode_draws():
    teacher = teacher_of("SimpleDoorKey", TeacherConfig(mode="hard"))
    obs = make_env("SimpleDoorKey", num_envs=8).reset()["observation"]
    teacher.seed(3)
    first = [teacher.sample_actions(obs) for _ in range(5)]
    teacher.seed(3)
    again = [teacher.sample_actions(obs) for _ in range(5)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


@pytest.mark.slow
def test_fit_from_another_runs_checkpoint_branches_into_a_new_mlflow_run(in_tmp):
    fit(tiny_fit_args(in_tmp, total_frames=256))
    parent_ckpt = in_tmp / "run/checkpoints/last.ckpt"
    parent_bytes = parent_ckpt.read_bytes()
    parent_id = load_checkpoint(parent_ckpt)["mlflow_run_id"]

    branch = {"--trainer.default_root_dir": str(in_tmp / "branch"), "--model.ppo.epochs": "1",
              "--schedule": "llm4teach.training.schedules.NoTeacher"}
    fit([*tiny_fit_args(in_tmp, total_frames=384, **branch), "--ckpt_path", str(parent_ckpt)])

    done = load_checkpoint(in_tmp / "branch/checkpoints/last.ckpt")
    assert int(done["state_dict"]["frames"]) == 384  # the parent's counters, continued
    assert float(done["state_dict"]["loss.distill_coef"]) == 0.0
    assert parent_ckpt.read_bytes() == parent_bytes
    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    run = client.get_run(done["mlflow_run_id"])
    assert run.info.run_id != parent_id and run.data.tags["branched_from"] == parent_id
    assert run.data.tags["branched_at_frames"] == "256"
    assert run.data.params["model.ppo.epochs"] == "1"
    assert (in_tmp / "branch/mlflow_run_id").read_text().strip() == run.info.run_id
    steps = [m.step for m in client.get_metric_history(run.info.run_id, TRAIN_LAMBDA)]
    assert steps == [320, 384]
    parent_steps = [m.step for m in client.get_metric_history(parent_id, TRAIN_LAMBDA)]
    assert parent_steps == [64, 128, 192, 256]
    # lambda 0 from the start: the branch's rollouts never asked its teacher, not even the
    # collector's first reset (the schedule switches the teacher off before it); its
    # counters are the parent's, continued
    parent_hits = client.get_metric_history(parent_id, TEACHER + "hits")[-1].value
    hits = client.get_metric_history(run.info.run_id, TEACHER + "hits")
    assert hits and all(m.value == parent_hits > 0 for m in hits)

    # a branch onto another task warns, in one line, as the command prints it
    other = {"--trainer.default_root_dir": str(in_tmp / "lava"), "--data.task": "LavaDoorKey"}
    lava = subprocess.run([sys.executable, "-m", "llm4teach", "fit",
                           *tiny_fit_args(in_tmp, total_frames=320, **other), "--ckpt_path",
                           str(parent_ckpt)], capture_output=True, text=True, check=True,
                          timeout=300)
    assert (f"llm4teach fit: warning: {parent_ckpt} is a SimpleDoorKey student: its weights "
            "go on training on LavaDoorKey\n") in lava.stderr
    assert "rank_zero_warn(" not in lava.stderr, "a warning is its line, not our source"



def test_learning_rate_warmup_rises_per_update_and_continues_after_a_resume(in_tmp):
    warm = {"--model.optimiser.lr": "0.003", "--model.optimiser.lr_warmup": "3"}
    fit(tiny_fit_args(in_tmp, total_frames=128, **warm))  # 2 updates, then a checkpoint
    fit([*tiny_fit_args(in_tmp, total_frames=256, **warm), "--ckpt_path", "last"])
    run_id = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["mlflow_run_id"]
    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    lrs = sorted((m.step, m.value) for m in client.get_metric_history(run_id, TRAIN_LR))
    assert [step for step, _ in lrs] == [64, 128, 192, 256]
    np.testing.assert_allclose([lr for _, lr in lrs], [0.001, 0.002, 0.003, 0.003])
