"""The small world through habitat-lab itself: registry, ``Env``, ``RLTaskEnv``, ``habitat.gym``.

Where habitat-sim is absent, habitat-lab is imported with inert stand-ins for the
modules it imports but never calls here (see ``_import_standins.py``).
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from _import_standins import REAL_HABITAT_SIM, install
from fit_args import tiny_fit_args
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import check_env_specs

install()
habitat = pytest.importorskip("habitat")

from helpers import teacher_of  # noqa: E402
from test_skills_and_env import _oracle  # noqa: E402

from llm4teach.cli import main  # noqa: E402
from llm4teach.domains import resolve  # noqa: E402
from llm4teach.domains.habitat import SKILL_INDEX, SkillBatchEnv, TidySkillEnv  # noqa: E402
from llm4teach.domains.habitat.habitat_lab import (  # noqa: E402
    SIM,
    HabitatGymSkillEnv,
    config,
    make_gym_env,
    register,
)
from llm4teach.teacher import TeacherTransform  # noqa: E402
from llm4teach.training.checkpointing import load_checkpoint  # noqa: E402

CONFIG = str(Path(__file__).parents[2] / "configs" / "habitat_tidy.yaml")


def test_registered_with_habitat_lab():
    register()
    assert habitat.registry.get_simulator(SIM).__name__ == "TidySimulator"


def test_habitat_gym_env_spaces_and_step():
    env = make_gym_env(config(resolution=16, num_episodes=4))
    assert env.action_space.n == 9
    obs = env.reset()
    assert obs["rgb"].shape == (16, 16, 3) and obs["depth"].shape == (16, 16, 1)
    obs, reward, done, info = env.step(SKILL_INDEX["explore"])
    assert reward == 0.0 and not done and info["tidy_success"] is False


def test_same_episodes_and_rewards_as_the_plain_env():
    """habitat-lab's pipeline (task actions, sensors, measures) matches ``TidySkillEnv``."""
    through_habitat = HabitatGymSkillEnv(resolution=16, num_episodes=8, max_skills=24)
    plain = TidySkillEnv(resolution=16, max_skills=24)
    for seed in range(3):
        a, b = through_habitat.reset(seed), plain.reset(seed)
        np.testing.assert_array_equal(a["observation"], b["observation"])
        done = False
        while not done:
            skill = SKILL_INDEX[_oracle(plain)]
            (a, ra, ta, ua), (b, rb, tb, ub) = through_habitat.step(skill), plain.step(skill)
            np.testing.assert_array_equal(a["observation"], b["observation"])
            np.testing.assert_array_equal(a["scene"], b["scene"])
            assert (ra, ta, ua) == pytest.approx((rb, tb, ub))
            done = tb or ub
        assert rb > 0


def test_batched_torchrl_env_over_habitat_gym_with_the_teacher():
    env = TransformedEnv(
        SkillBatchEnv(num_envs=2, seed=0, make=HabitatGymSkillEnv, resolution=16,
                      num_episodes=16),
        TeacherTransform(teacher_of("TidyHabitat")),
    )
    check_env_specs(env)
    td = env.rollout(30, break_when_any_done=False)
    assert td["next", "observation"].shape == (2, 30, 4, 16, 16)
    assert torch.allclose(td["teacher_probs"].sum(-1), torch.ones(2, 30))
    assert not torch.equal(td["observation"][0, 0], td["observation"][1, 0])


def test_the_habitat_lab_task_steps_habitat_gym_envs():
    env = resolve("TidyHabitatLab").make_env(num_envs=2, seed=0)
    assert all(isinstance(e, HabitatGymSkillEnv) for e in env.envs)
    assert env.observation_spec["observation"].shape == (2, 4, 64, 64)


def test_fit_trains_through_habitat_lab(in_tmp):
    main(["fit", "--config", CONFIG, *tiny_fit_args(in_tmp, total_frames=128),
          "--data.num_envs", "2", "--data.task", "TidyHabitatLab"])
    checkpoint = load_checkpoint(in_tmp / "run" / "checkpoints" / "last.ckpt")
    assert int(checkpoint["state_dict"]["frames"]) == 128
    assert checkpoint["hyper_parameters"]["task"] == "TidyHabitatLab"


@pytest.mark.skipif(not REAL_HABITAT_SIM, reason="needs habitat-sim (conda; docs/habitat.md)")
def test_real_habitat_sim_is_registered():
    assert habitat.registry.get_simulator("Sim-v0").__name__ == "HabitatSim"
