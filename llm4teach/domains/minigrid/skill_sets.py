"""MiniGrid's teacher variants, each chosen once per task and config.

A ``SkillSet`` says how a state is described, which plans parse, how a plan's steps act,
and the lava and fallback its teacher acts with unless the config names them:

- ``ours`` (the four paper tasks): ``MINIGRID``, our describer, ``first_action``, lava
  avoided, no opinion (``mask``) where no plan acts;
- ``generic`` (every other MiniGrid/BabyAI task): the same over ``MINIGRID_GENERIC``,
  whose texts start with the episode's mission;
- ``reference`` (the paper tasks, ``--teacher.skills reference``): the reference code's
  reading, describer and steps (``reference.py``), which walk through lava and act 6
  ("done") wherever the reference gives up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llm4teach.domains.minigrid.describe import Describer, Scene, style_of
from llm4teach.domains.minigrid.grammar import MINIGRID, MINIGRID_GENERIC
from llm4teach.domains.minigrid.interpret import Route, first_action
from llm4teach.domains.minigrid.reference import (
    ReferenceDescriber,
    ReferenceGrammar,
    reference_action,
)
from llm4teach.teacher.grammar import Grammar, Plan

Interpreter = Callable[[Plan | None, Scene, np.ndarray, Route], int | None]
NAMES = ("ours", "reference")  # what --teacher.skills chooses; generic follows from the task


@dataclass(frozen=True)
class SkillSet:
    """One teacher variant: grammar, describer, interpreter and its own defaults."""

    name: str
    grammar: Grammar
    describer: type[Describer]
    interpret: Interpreter
    lava: str = "avoid"
    fallback: str = "mask"
    reads_mission: bool = False


def skill_set(task: str, skills: str = "ours") -> SkillSet:
    """The variant ``skills`` names for ``task``: ``ours`` is ``generic`` on a task that
    is not one of the paper's; ``reference`` exists for the paper's tasks only."""
    style = style_of(task)
    if skills == "reference":
        if style == "generic":
            raise ValueError(f"teacher skills 'reference' is the reference code's teacher of "
                             f"the four paper tasks, not of {task}: use skills 'ours'")
        return SkillSet("reference", ReferenceGrammar(style), ReferenceDescriber,
                        reference_action, lava="passable", fallback="noop")
    if style == "generic":
        return SkillSet("generic", MINIGRID_GENERIC, Describer, first_action,
                        reads_mission=True)
    return SkillSet("ours", MINIGRID, Describer, first_action)
