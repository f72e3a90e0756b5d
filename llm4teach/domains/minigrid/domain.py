"""The MiniGrid domain: memory-map observations, primitive actions, the plan-table teacher.

It serves the four LLM4Teach tasks, under their short names or gymnasium ids, and every
``MiniGrid-*`` / ``BabyAI-*`` id the installed minigrid registers. Observations carry the
episode's mission (``mission`` key, for the teacher; the student reads ``observation``).
"""

from __future__ import annotations

import gymnasium as gym
from torchrl.envs import EnvBase

from llm4teach.domains.held_out import Observation
from llm4teach.domains.minigrid import Teacher, make_env, make_gym_env
from llm4teach.domains.minigrid.batch_env import encode_mission
from llm4teach.domains.minigrid.student import make_actor_critic
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherConfig, TeacherTransform


class MiniGridDomain:
    """One MiniGrid task: its batched env, teacher, memory-map student and held-out envs."""

    def __init__(self, task: str) -> None:
        self.task = task
        self._episode_envs: list[GymEpisodes] = []  # reused by every evaluation (reset by seed)

    def make_env(self, num_envs: int, seed: int | None) -> EnvBase:
        return make_env(self.task, num_envs, seed)

    def make_teacher(self, config: TeacherConfig) -> TeacherTransform:
        num_actions = int(make_gym_env(self.task).action_space.n)
        return TeacherTransform(Teacher(self.task, config, num_actions=num_actions))

    def make_student(self, encoder: str, hidden: int, channels: tuple[int, ...],
                     strides: tuple[int, ...] | None, frame: str = "map",
                     embed_dim: int = 8) -> ActorCritic:
        env = make_gym_env(self.task)
        return make_actor_critic(env.observation_space.shape, num_actions=int(env.action_space.n),
                                 encoder=encoder, hidden=hidden, channels=channels,
                                 strides=strides, frame=frame, embed_dim=embed_dim)

    def episode_envs(self, n: int) -> list[GymEpisodes]:
        envs = self._episode_envs
        envs += [GymEpisodes(make_gym_env(self.task)) for _ in range(n - len(envs))]
        return envs[:n]


class GymEpisodes:
    """A gymnasium env as the held-out loop steps it: ``{"observation": memory map,
    "mission": its bytes}``, the keys of ``MiniGridBatchEnv``."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self._mission = encode_mission("")

    def reset(self, seed: int) -> Observation:
        obs = self.env.reset(seed=seed)[0]
        self._mission = encode_mission(self.env.unwrapped.mission)
        return {"observation": obs, "mission": self._mission}

    def step(self, action: int) -> tuple[Observation, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return {"observation": obs, "mission": self._mission}, float(reward), terminated, truncated
