"""Embodied, visual tasks over skills (the method's Habitat domain); optional extra.

Nothing here imports habitat-lab at import time: the small rendered world
(``TidyWorld``), its skills and the batched TorchRL env need numpy and torch only;
``llm4teach.envs.habitat.habitat_lab`` imports habitat-lab when it is used. The batched
TorchRL env is imported on first use (torch and TorchRL take seconds; the task names
need neither).
"""

from typing import Any

from llm4teach.envs.habitat.skills import SKILL_INDEX, SKILLS
from llm4teach.envs.habitat.task import TidySkillEnv
from llm4teach.envs.habitat.world import ENTITIES, OBJECTS, RECEPTACLES, TidyWorld

HABITAT_TASK = "TidyHabitat"  # the task name the trainer knows this domain by
# the same task reached through habitat-lab (``habitat.gym``; needs the extra and habitat-sim)
HABITAT_LAB_TASK = "TidyHabitatLab"
# the domain's task names, each with a line about it (``llm4teach tasks``)
TASK_NAMES = {HABITAT_TASK: "Habitat domain, the tidy-up task over skills (docs/habitat.md)",
              HABITAT_LAB_TASK: "the same task through habitat-lab (the habitat extra)"}


def __getattr__(name: str) -> Any:
    if name == "SkillBatchEnv":
        from llm4teach.envs.habitat.torchrl_env import SkillBatchEnv

        return SkillBatchEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ENTITIES",
    "HABITAT_LAB_TASK",
    "HABITAT_TASK",
    "OBJECTS",
    "RECEPTACLES",
    "SKILLS",
    "SKILL_INDEX",
    "TASK_NAMES",
    "SkillBatchEnv",
    "TidySkillEnv",
    "TidyWorld",
]
