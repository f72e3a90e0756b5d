"""Advantages from the collector's state values equal those of a full value-network pass."""

import torch
from torchrl.objectives.value import GAE

from llm4teach.domains.minigrid import make_env
from llm4teach.training import PPOTeacherModule
from llm4teach.training.data import make_collector
from llm4teach.training.module import Student


def test_bootstrapped_advantages_equal_a_value_network_pass():
    torch.manual_seed(0)
    module = PPOTeacherModule(task="SimpleDoorKey", student=Student(encoder="conv"))
    env = make_env("SimpleDoorKey", num_envs=4, seed=0)
    # 160 steps per env: every episode is cut at max_steps = 150 inside the rollout
    collector = make_collector(env, module.student, frames_per_batch=4 * 160)
    rollout = collector.next()
    collector.shutdown()
    assert rollout["next", "truncated"].any()

    expected = rollout.exclude("state_value")
    GAE(gamma=0.99, lmbda=0.95, value_network=module.student.get_value_operator())(expected)
    with torch.no_grad():
        module.bootstrap(rollout)
        module.gae(rollout)
    torch.testing.assert_close(rollout["state_value"], expected["state_value"])
    torch.testing.assert_close(rollout["next", "state_value"], expected["next", "state_value"])
    torch.testing.assert_close(rollout["advantage"], expected["advantage"])
    torch.testing.assert_close(rollout["value_target"], expected["value_target"])
