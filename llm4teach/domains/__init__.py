"""Domains: a task name resolves once to its domain object, which supplies what differs.

A domain is bound to one task and makes its batched TorchRL env, its teacher, its
student and the single envs its held-out episodes are played on (``held_out.py``: one
loop and one seed set for every domain). The trainer, the data module, the evaluation
and the ``llm4teach`` command ask ``resolve(task)`` and never look at the task's name
again. A new family of tasks is one new package here and one entry in ``FAMILIES``.

Example:
    >>> domain = resolve("SimpleDoorKey")
    >>> domain.make_env(num_envs=2, seed=0).batch_size
    torch.Size([2])
    >>> resolve("simpledoorkey") is domain
    True
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

    from llm4teach.domains.held_out import EpisodeEnv
    from llm4teach.student import ActorCritic
    from llm4teach.teacher import TeacherConfig, TeacherTransform
    from llm4teach.teacher.planners import Placeholders
    from llm4teach.training.module import Student

# The registry: one package per family of tasks. Each package is light (no torch) and
# has ``TASK_NAMES`` (short name -> a line about it), ``canonical(task)`` (the name it
# knows ``task`` by, None when not its), ``more_names()`` (the other names it accepts,
# in words, "" when none), ``other_names()`` (those names, listed) and
# ``make_domain(task)`` (the ``Domain``, importing torch).
FAMILIES = ("llm4teach.domains.minigrid", "llm4teach.domains.habitat")
DEFAULT_TASK = "SimpleDoorKey"  # what a command runs when it is named no task
_MADE: dict[str, Domain] = {}  # canonical task name -> its one domain object


class Domain(Protocol):
    """One task as the trainer sees it; ``task`` is its canonical name.

    It is also the ``PlanSources`` of its teacher's planner (``placeholders``,
    ``plan_table``, ``prompt``): the task's packaged plan table, its prompts and its table
    placeholders, so no planner looks a task up.
    """

    task: str
    placeholders: Placeholders | None

    def make_env(self, num_envs: int, seed: int | None) -> EnvBase: ...

    def make_teacher(self, config: TeacherConfig) -> TeacherTransform: ...

    def make_student(self, settings: Student) -> ActorCritic: ...

    def episode_envs(self, n: int) -> list[EpisodeEnv]: ...

    def plan_table(self) -> dict | None: ...

    def prompt(self, name: str | None) -> dict[str, str]: ...


def families() -> list[ModuleType]:
    """The family packages, in ``FAMILIES`` order."""
    return [import_module(name) for name in FAMILIES]


def task_names() -> dict[str, str]:
    """Every task's short name with a line about it (``llm4teach tasks``)."""
    return {name: about for family in families() for name, about in family.TASK_NAMES.items()}


def short_name(task: str) -> str:
    """The one name a task is logged under, whatever its spelling: its short name
    (``simpledoorkey`` and ``LLM4Teach/SimpleDoorKey-v0`` are ``SimpleDoorKey``), else its
    canonical id (``MiniGrid-DoorKey-5x5-v0``)."""
    canonical = resolve(task).task
    return next((name for name in task_names() if resolve(name).task == canonical), canonical)


def resolve(task: str) -> Domain:
    """The domain object of ``task``, made once per task; an unknown name is one error line
    that lists the valid ones."""
    for family in families():
        canonical = family.canonical(task)
        if canonical is not None:
            if canonical not in _MADE:  # every spelling of a task: one object, one name
                _MADE[canonical] = family.make_domain(canonical)
            return _MADE[canonical]
    more = "".join(f", {family.more_names()}" for family in families() if family.more_names())
    raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(task_names())}{more}")
