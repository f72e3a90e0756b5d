"""The MiniGrid domain: memory-map observations, primitive actions, the plan-table teacher.

It serves the four LLM4Teach tasks and the standard MiniGrid DoorKey envs (which the
SimpleDoorKey table teaches), under their short names or gymnasium ids.
"""

from __future__ import annotations

import gymnasium as gym
from torchrl.envs import EnvBase

from llm4teach.domains.held_out import Observation
from llm4teach.envs import TASKS, make_env, make_gym_env, resolve_task
from llm4teach.student import ActorCritic, make_actor_critic
from llm4teach.teacher import Teacher, TeacherConfig, TeacherTransform


class MiniGridDomain:
    """One MiniGrid task: its batched env, teacher, memory-map student and held-out envs."""

    names = {name: f"MiniGrid, {env_id}" for name, env_id in TASKS.items()}
    more_names = "their gymnasium ids, or a standard MiniGrid-DoorKey-* id"

    def __init__(self, task: str) -> None:
        self.task = task
        self._episode_envs: list[_GymEpisodes] = []  # reused by every evaluation (reset by seed)

    @staticmethod
    def canonical(task: str) -> str | None:
        """The gymnasium id ``task`` names in this domain, None when it is not one of its."""
        try:
            return resolve_task(task)
        except ValueError:
            return None

    def make_env(self, num_envs: int, seed: int | None) -> EnvBase:
        return make_env(self.task, num_envs, seed)

    def make_teacher(self, config: TeacherConfig) -> TeacherTransform:
        return TeacherTransform(Teacher(self.task, config))

    def make_student(self, encoder: str, hidden: int, channels: tuple[int, ...],
                     strides: tuple[int, ...] | None) -> ActorCritic:
        shape = make_gym_env(self.task).observation_space.shape
        return make_actor_critic(shape, encoder=encoder, hidden=hidden, channels=channels,
                                 strides=strides)

    def episode_envs(self, n: int) -> list[_GymEpisodes]:
        envs = self._episode_envs
        envs += [_GymEpisodes(make_gym_env(self.task)) for _ in range(n - len(envs))]
        return envs[:n]


class _GymEpisodes:
    """A gymnasium env as the held-out loop steps it (``{"observation": memory map}``)."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env

    def reset(self, seed: int) -> Observation:
        return {"observation": self.env.reset(seed=seed)[0]}

    def step(self, action: int) -> tuple[Observation, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return {"observation": obs}, float(reward), terminated, truncated
