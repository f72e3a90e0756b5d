"""The Habitat domain: the tidy-up task over skills in the small rendered world.

``TidyHabitat`` steps the world directly; ``TidyHabitatLab`` trains on the same world
through habitat-lab (registry, ``Env``, ``habitat.gym``), which is tested step for step
equal to it, so both are evaluated on the direct one. The student is the visual one
(RGB + depth); the teacher reads the privileged ``scene``. Nothing here imports
habitat-lab unless the task is ``TidyHabitatLab``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from torchrl.envs import EnvBase

from llm4teach.domains.habitat import (
    HABITAT_LAB_TASK,
    HABITAT_TASK,
    SKILLS,
    SkillBatchEnv,
    TidySkillEnv,
)
from llm4teach.domains.habitat.student import make_visual_actor_critic
from llm4teach.domains.habitat.teacher import HABITAT, SkillTeacher
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.teacher.planners import make_planner
from llm4teach.teacher.planners.base import load_prompt
from llm4teach.teacher.planners.table import load_tables

if TYPE_CHECKING:  # the settings live with the module that groups them
    from llm4teach.training.module import Student

PACKAGE = resources.files("llm4teach.domains.habitat")  # its plan_tables/ and prompts/


class HabitatDomain:
    """The tidy-up task (goal: the apple on the sink), directly or through habitat-lab."""

    placeholders = None

    def __init__(self, task: str) -> None:
        self.task = task
        self._episode_envs: list[TidySkillEnv] = []

    def make_env(self, num_envs: int, seed: int | None) -> EnvBase:
        return SkillBatchEnv(num_envs=num_envs, seed=seed, make=self._skill_env())

    def make_teacher(self, config: TeacherConfig) -> TeacherTransform:
        planner = make_planner(config, HABITAT, self)
        return TeacherTransform(SkillTeacher(planner, config))

    def plan_table(self) -> dict | None:
        """The stand-in table (hand-written, not LLM answers) of both tasks."""
        return load_tables(PACKAGE / "plan_tables").get(self.task)

    def prompt(self, name: str | None) -> dict[str, str]:
        """``ours`` (the default, when None) is ``prompts/ours.yaml``; the paper's Habitat
        prompt is not published, so ``paper`` is one error line; anything else is the
        user's file."""
        if name == "paper":
            raise ValueError(f"the paper's prompt for {self.task} is not published: set "
                             "teacher prompt to ours (the default here) or to a YAML file "
                             "(docs/teacher.md)")
        if name in (None, "ours"):
            return load_prompt(PACKAGE / "prompts" / "ours.yaml")
        return load_prompt(name)

    def make_student(self, settings: Student) -> ActorCritic:
        """The visual student; of ``settings`` it reads ``hidden`` (the rest is MiniGrid's)."""
        return make_visual_actor_critic(TidySkillEnv().image_shape, len(SKILLS),
                                        hidden=settings.hidden)

    def episode_envs(self, n: int) -> list[TidySkillEnv]:
        envs = self._episode_envs
        envs += [TidySkillEnv() for _ in range(n - len(envs))]
        return envs[:n]

    def _skill_env(self) -> Callable[..., Any]:
        """What one skill-level env is made by: the world itself, or habitat-lab's gym env."""
        if self.task != HABITAT_LAB_TASK:
            return TidySkillEnv
        try:
            from llm4teach.domains.habitat.habitat_lab import HabitatGymSkillEnv, register

            register()
        except ImportError as err:
            raise ValueError(
                f"task {HABITAT_LAB_TASK} runs through habitat-lab, which cannot be imported "
                f"here ({err}): install the habitat extra and habitat-sim in their own "
                f"environment (docs/habitat.md), or use task {HABITAT_TASK}") from None
        return HabitatGymSkillEnv
