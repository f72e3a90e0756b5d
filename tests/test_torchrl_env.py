"""The batched TorchRL env: specs, seeding, and use inside TorchRL collectors."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchrl.collectors import Collector, MultiSyncCollector
from torchrl.envs.utils import check_env_specs

from llm4teach.domains.minigrid import TASKS, make_env


@pytest.mark.parametrize("task", [*TASKS, "MiniGrid-DoorKey-8x8-v0"])
def test_specs_hold(task):
    env = make_env(task, num_envs=3, seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].dtype == torch.uint8
    assert env.action_spec.n == 7


def test_sub_environments_differ_and_one_seed_reproduces_the_batch():
    first = make_env("SimpleDoorKey", num_envs=4, seed=11).reset()["observation"]
    again = make_env("SimpleDoorKey", num_envs=4, seed=11).reset()["observation"]
    other = make_env("SimpleDoorKey", num_envs=4, seed=12).reset()["observation"]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert len({first[i].numpy().tobytes() for i in range(4)}) == 4


def test_rollout_resets_finished_sub_environments_only():
    torch.manual_seed(0)
    env = make_env("SimpleDoorKey", num_envs=4, seed=0)
    rollout = env.rollout(400, break_when_any_done=False)
    assert rollout.batch_size == (4, 400)
    done = rollout["next", "done"].squeeze(-1)
    assert done.sum(-1).min() >= 2, "each sub-env ends at least twice in 400 random steps"
    assert torch.equal(done, rollout["next", "terminated"].squeeze(-1)
                       | rollout["next", "truncated"].squeeze(-1))
    assert (rollout["next", "reward"][~rollout["next", "terminated"]] == 0).all()


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="valid tasks: SimpleDoorKey"):
        make_env("SimpleDorKey")
    with pytest.raises(ValueError, match="num_envs"):
        make_env("SimpleDoorKey", num_envs=0)


def test_collector_in_one_process():
    collector = Collector(
        make_env("TwoDoor", num_envs=4, seed=0), policy=None, frames_per_batch=64,
        total_frames=128,
    )
    batches = list(collector)
    collector.shutdown()
    assert [b.batch_size for b in batches] == [torch.Size([4, 16])] * 2
    assert batches[0]["observation"].shape[-3:] == (20, 20, 4)


def _simpledoorkey():
    return make_env("SimpleDoorKey", num_envs=2)


@pytest.mark.slow
def test_multi_sync_collector_with_two_spawned_workers():
    collector = MultiSyncCollector(
        [_simpledoorkey, _simpledoorkey], policy=None, frames_per_batch=64, total_frames=128,
    )
    collector.set_seed(3)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2 and batches[0].numel() == 64
    first = batches[0]["observation"]
    starts = {first[i, 0].numpy().tobytes() for i in range(first.shape[0])}
    assert len(starts) == first.shape[0], "every sub-env of every worker starts differently"


SCRIPT = str(Path(sys.executable).with_name("llm4teach"))  # the installed console script


@pytest.mark.parametrize(
    "argv", [[SCRIPT, "--help"], [sys.executable, "-m", "llm4teach", "--help"]]
)
def test_command_line_help(argv):
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "usage: llm4teach" in result.stdout


def test_command_line_names_valid_tasks_on_a_typo():
    result = subprocess.run(
        [sys.executable, "-m", "llm4teach", "demo", "--task", "Nope"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "valid tasks" in result.stderr
