"""The registered ids and ``make_gym_env`` build the same memory-map env."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

from llm4teach.domains.minigrid import TASKS, MemoryMapObservation, make_gym_env


@pytest.mark.parametrize("task", TASKS)
def test_gym_make_of_our_ids_gives_the_memory_map_without_warnings(task):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(TASKS[task])
        obs, _ = env.reset(seed=4)
        fast = make_gym_env(task)
        expected, _ = fast.reset(seed=4)
        assert env.observation_space == fast.observation_space
        assert isinstance(env.observation_space, gym.spaces.Box)
        np.testing.assert_array_equal(obs, expected)
        rng = np.random.default_rng(0)
        for _ in range(20):
            action = int(rng.integers(0, 7))
            obs, reward, terminated, truncated, _ = env.step(action)
            expected, fast_reward, *_ = fast.step(action)
            np.testing.assert_array_equal(obs, expected)
            assert reward == fast_reward and env.observation_space.contains(obs)
            if terminated or truncated:
                break

def test_standard_doorkey_ids_get_the_small_view_and_the_memory_map():
    env = make_gym_env("MiniGrid-DoorKey-8x8-v0")
    assert isinstance(env, MemoryMapObservation) and env.unwrapped.agent_view_size == 3
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (8, 8, 4)
