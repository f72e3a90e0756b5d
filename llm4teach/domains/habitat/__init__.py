"""The Habitat domain: embodied, visual tasks over skills (the method's Habitat task).

Everything Habitat is here: the small rendered world (``world.py``), its skills
(``skills.py``), the skill-level task (``task.py``), the batched TorchRL env
(``batch_env.py``), the habitat-lab adapter (``habitat_lab.py``, its classes in
``habitat_lab_classes.py``), the teacher (``teacher.py``), the visual student
(``student.py``), the plan table (``plan_tables/``), the prompt (``prompts/``) and the
domain object the trainer sees (``domain.py``).

Nothing here imports habitat-lab at import time: the small rendered world
(``TidyWorld``), its skills and the batched TorchRL env need numpy and torch only;
``llm4teach.domains.habitat.habitat_lab`` imports habitat-lab when it is used. The batched
TorchRL env is imported on first use (torch and TorchRL take seconds; the task names
need neither).
"""

from typing import Any

from llm4teach.domains.habitat.skills import SKILL_INDEX, SKILLS
from llm4teach.domains.habitat.task import TidySkillEnv
from llm4teach.domains.habitat.world import ENTITIES, OBJECTS, RECEPTACLES, TidyWorld

HABITAT_TASK = "TidyHabitat"  # the task name the trainer knows this domain by
# the same task reached through habitat-lab (``habitat.gym``; needs the extra and habitat-sim)
HABITAT_LAB_TASK = "TidyHabitatLab"
# the domain's task names, each with a line about it (``llm4teach tasks``)
TASK_NAMES = {HABITAT_TASK: "Habitat domain, the tidy-up task over skills (docs/habitat.md)",
              HABITAT_LAB_TASK: "the same task through habitat-lab (the habitat extra)"}


def canonical(task: str) -> str | None:
    """The task name ``task`` spells (any case), None when it is not this domain's."""
    return next((name for name in TASK_NAMES if name.lower() == task.lower()), None)


def more_names() -> str:
    return ""


def other_names() -> list[str]:
    return []


def make_domain(task: str) -> Any:
    from llm4teach.domains.habitat.domain import HabitatDomain

    return HabitatDomain(task)


def __getattr__(name: str) -> Any:
    if name == "SkillBatchEnv":
        from llm4teach.domains.habitat.batch_env import SkillBatchEnv

        return SkillBatchEnv
    if name == "HabitatDomain":
        from llm4teach.domains.habitat.domain import HabitatDomain

        return HabitatDomain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ENTITIES",
    "HABITAT_LAB_TASK",
    "HABITAT_TASK",
    "HabitatDomain",
    "OBJECTS",
    "RECEPTACLES",
    "SKILLS",
    "SKILL_INDEX",
    "TASK_NAMES",
    "SkillBatchEnv",
    "TidySkillEnv",
    "TidyWorld",
    "canonical",
    "make_domain",
    "more_names",
    "other_names",
]
