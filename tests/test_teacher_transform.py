"""TeacherTransform in TorchRL envs and collectors; the teacher evaluation command."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchrl.collectors import Collector, MultiSyncCollector
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import check_env_specs

from llm4teach.envs import make_env
from llm4teach.teacher import Teacher, TeacherConfig, TeacherTransform


def teacher_env(task="SimpleDoorKey", num_envs=4, **config):
    transform = TeacherTransform.from_config(task, TeacherConfig(**config))
    return TransformedEnv(make_env(task, num_envs=num_envs, seed=0), transform)


def create_env():
    return teacher_env(num_envs=2)


@pytest.mark.parametrize("task", ["SimpleDoorKey", "ColoredDoorKey", "TwoDoor"])
def test_specs_and_rollout(task):
    env = teacher_env(task, fallback="mask")
    check_env_specs(env)
    td = env.rollout(5)
    probs, mask = td["teacher_probs"], td["teacher_mask"]
    assert probs.shape == (4, 5, 7) and probs.dtype == torch.float32
    assert mask.shape == (4, 5) and mask.dtype == torch.bool
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 5))
    assert td["next", "teacher_probs"].shape == (4, 5, 7)


def test_disabled_is_uniform_and_masked():
    env = teacher_env()
    env.transform.enabled = False
    td = env.rollout(3)
    assert not td["teacher_mask"].any()
    torch.testing.assert_close(td["teacher_probs"], torch.full((4, 3, 7), 1 / 7))
    assert env.transform.stats.as_dict()["hits"] == 0


def test_partial_resets_reset_only_those_envs(monkeypatch):
    env = teacher_env("TwoDoor", num_envs=3)
    calls = []
    teacher = env.transform.teacher
    real = teacher.reset
    monkeypatch.setattr(teacher, "reset", lambda indices=None: (calls.append(indices),
                                                              real(indices)))
    env.reset()
    reset = torch.tensor([[False], [True], [False]])
    env.reset(env.reset().set("_reset", reset))
    assert calls[0] is None and calls[-1] == [1]


def test_planner_is_asked_once_per_new_text():
    env = teacher_env(num_envs=8)
    env.rollout(20, break_when_any_done=False)
    stats = env.transform.stats.as_dict()
    assert 0 < stats["hits"] + stats["unknown_texts"] <= 6  # SimpleDoorKey has 6 texts


def test_collector_rollout_and_pickling():
    fresh = TeacherTransform.from_config("SimpleDoorKey", TeacherConfig(mode="hard"))
    assert pickle.loads(pickle.dumps(fresh)).teacher.config.mode == "hard"
    env = teacher_env()
    collector = Collector(env, policy=None, frames_per_batch=40, total_frames=80)
    for batch in collector:
        assert batch["teacher_probs"].shape == (*batch.batch_size, 7)
        assert batch["teacher_mask"].shape == batch.batch_size
    collector.shutdown()


@pytest.mark.slow
def test_multisync_collector_workers():
    collector = MultiSyncCollector(
        [create_env, create_env], policy=None, frames_per_batch=40, total_frames=80
    )
    for batch in collector:
        assert batch["teacher_probs"].shape[-1] == 7 and batch["teacher_mask"].dtype == torch.bool
    collector.shutdown()


def test_cli_teacher_reports_both_modes():
    out = subprocess.run(
        [sys.executable, "-m", "llm4teach", "teacher", "--task", "SimpleDoorKey",
         "--episodes", "3"], capture_output=True, text=True, check=True,
    )
    lines = out.stdout.splitlines()
    assert "soft" in lines[0] and "hard" in lines[1] and "success" in lines[0]


@pytest.mark.parametrize("task", ["SimpleDoorKey", "TwoDoor"])
def test_a_full_memo_is_emptied_without_changing_answers(task):
    rollout = make_env(task, num_envs=6, seed=3).rollout(40, break_when_any_done=False)
    obs, done = rollout["observation"], rollout["next", "done"].squeeze(-1)
    small, large = Teacher(task, memo_limit=5), Teacher(task)
    for t in range(obs.shape[1]):
        if t and done[:, t - 1].any():
            ended = done[:, t - 1].nonzero()[:, 0].tolist()
            small.reset(ended)
            large.reset(ended)
        probs_small, mask_small = small.act_probs(obs[:, t])
        probs_large, mask_large = large.act_probs(obs[:, t])
        np.testing.assert_array_equal(probs_small, probs_large)
        np.testing.assert_array_equal(mask_small, mask_large)
