"""The MiniGrid domain: memory-map observations, primitive actions, the plan-table teacher.

It serves the four LLM4Teach tasks, under their short names or gymnasium ids, and every
``MiniGrid-*`` / ``BabyAI-*`` id the installed minigrid registers. Observations carry the
episode's mission (``mission`` key, for the teacher; the student reads ``observation``).
"""

from __future__ import annotations

import functools
import warnings
from importlib import resources
from typing import TYPE_CHECKING

import gymnasium as gym
from minigrid.core.constants import COLOR_NAMES
from torchrl.envs import EnvBase

from llm4teach.domains.held_out import Observation
from llm4teach.domains.minigrid import TASKS, canonical, make_env, make_gym_env
from llm4teach.domains.minigrid.batch_env import MISSION_KEY, encode_mission
from llm4teach.domains.minigrid.describe import abstract_colours, restore_colours
from llm4teach.domains.minigrid.skill_sets import skill_set
from llm4teach.domains.minigrid.student import make_actor_critic
from llm4teach.domains.minigrid.teacher import Teacher
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.teacher.planners import TablePlanner, make_planner
from llm4teach.teacher.planners.base import load_prompt
from llm4teach.teacher.planners.table import load_tables

if TYPE_CHECKING:  # the settings live with the module that groups them
    from llm4teach.training.module import Student

PACKAGE = resources.files("llm4teach.domains.minigrid")  # its plan_tables/ and prompts/


class ColourPlaceholders:
    """MiniGrid's colour words as a table's placeholders: ``color1``, ``color2``... in order
    of first appearance (``abstract_colours``), put back on the plans."""

    example = {f"color{i + 1}": colour for i, colour in enumerate(COLOR_NAMES)}
    abstract = staticmethod(abstract_colours)
    restore = staticmethod(restore_colours)


@functools.cache  # read and checked once per process, not once per teacher (evaluation, forks)
def packaged_tables() -> dict[str, dict]:
    """Every packaged table by the task names it serves."""
    return load_tables(PACKAGE / "plan_tables")


class MiniGridDomain:
    """One MiniGrid task: its batched env, teacher, memory-map student and held-out envs."""

    placeholders = ColourPlaceholders()

    def __init__(self, task: str) -> None:
        self.task = task
        self._episode_envs: list[GymEpisodes] = []  # reused by every evaluation (reset by seed)

    def make_env(self, num_envs: int, seed: int | None) -> EnvBase:
        return make_env(self.task, num_envs, seed)

    def make_teacher(self, config: TeacherConfig) -> TeacherTransform:
        skills = skill_set(self.task, config.skills)
        planner = make_planner(config, skills.grammar, self)
        if isinstance(planner, TablePlanner) and not planner.states:
            warnings.warn(
                f"no plan table teaches {self.task}: every step falls back and the student "
                "learns from the reward alone. Give it an LLM (--data.teacher.backend hf "
                "--data.teacher.model smollm2), a table file (--data.teacher.plans FILE; "
                f"`llm4teach teacher texts --task {self.task}` lists its state texts), or train "
                "without a teacher (--schedule NoTeacher)", stacklevel=2)
        num_actions = int(make_gym_env(self.task).action_space.n)
        teacher = Teacher(self.task, planner, config, skills, num_actions=num_actions)
        return TeacherTransform(teacher)

    def plan_table(self) -> dict | None:
        """The packaged table serving the task (a name or id a table lists, or another name
        of the same env); None when none does."""
        tables = packaged_tables()
        return tables.get(self.task) or next(
            (table for name, table in tables.items() if canonical(name) == self.task),
            None)

    def prompt(self, name: str | None) -> dict[str, str]:
        """The prompt ``name`` stands for: ``paper`` (the default, when None) is the paper's
        prompt of the task (``prompts/paper/minigrid.yaml`` for a task not one of the
        paper's), ``ours`` ``prompts/ours.yaml``; anything else is the user's file."""
        if name not in (None, "paper", "ours"):
            return load_prompt(name)
        if name == "ours":
            return load_prompt(PACKAGE / "prompts" / "ours.yaml")
        paper = next((n.lower() for n, i in TASKS.items() if i == self.task), "minigrid")
        return load_prompt(PACKAGE / "prompts" / "paper" / f"{paper}.yaml")

    def make_student(self, settings: Student) -> ActorCritic:
        env = make_gym_env(self.task)
        return make_actor_critic(env.observation_space.shape, num_actions=int(env.action_space.n),
                                 encoder=settings.encoder, hidden=settings.hidden,
                                 channels=settings.channels, strides=settings.strides,
                                 frame=settings.frame, embed_dim=settings.embed_dim)

    def episode_envs(self, n: int) -> list[GymEpisodes]:
        envs = self._episode_envs
        envs += [GymEpisodes(make_gym_env(self.task)) for _ in range(n - len(envs))]
        return envs[:n]


class GymEpisodes:
    """A gymnasium env as the held-out loop steps it: the memory map and the mission's
    bytes, under the keys of ``MiniGridBatchEnv``."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self._mission = encode_mission("")

    def reset(self, seed: int) -> Observation:
        obs = self.env.reset(seed=seed)[0]
        self._mission = encode_mission(self.env.unwrapped.mission)
        return {"observation": obs, MISSION_KEY: self._mission}

    def step(self, action: int) -> tuple[Observation, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        observation = {"observation": obs, MISSION_KEY: self._mission}
        return observation, float(reward), terminated, truncated
