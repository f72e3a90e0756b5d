"""The MiniGrid domain: the four LLM4Teach tasks and every MiniGrid/BabyAI id.

Everything MiniGrid is here: the tasks and their registry (``tasks.py``,
``registry.py``), the memory-map observation (``memory_map.py``), the reward formula
(``reward.py``), the batched TorchRL env (``batch_env.py``), the state texts
(``describe.py``), the plan grammars (``grammar.py``), the skills as path searches
(``skills.py``), the teacher (``teacher.py``, and the reference code's in
``reference.py``), the student (``student.py``), the plan tables (``plan_tables/``), the
prompts (``prompts/``) and the domain object the trainer sees (``domain.py``).

Importing this package registers the tasks with gymnasium, so spawned collector
workers see them too. The TorchRL pieces are imported on first use: torch and TorchRL
take seconds to import, and the task names (``llm4teach tasks``) need neither.
"""

from importlib import import_module
from typing import Any

from llm4teach.domains.minigrid.memory_map import MemoryMapObservation
from llm4teach.domains.minigrid.registry import (
    TASK_NAMES,
    TASKS,
    UnknownTaskError,
    make_gym_env,
    more_names,
    resolve_task,
    standard_ids,
)

_LAZY = {"MiniGridBatchEnv": "llm4teach.domains.minigrid.batch_env",
         "make_env": "llm4teach.domains.minigrid.batch_env",
         "Teacher": "llm4teach.domains.minigrid.teacher",
         "Describer": "llm4teach.domains.minigrid.describe",
         "Scene": "llm4teach.domains.minigrid.describe",
         "MiniGridDomain": "llm4teach.domains.minigrid.domain",
         "GymEpisodes": "llm4teach.domains.minigrid.domain"}


def canonical(task: str) -> str | None:
    """The gymnasium id ``task`` names in this domain, None when it is not one of its."""
    try:
        return resolve_task(task)
    except UnknownTaskError:
        return None


def other_names() -> list[str]:
    """Every registered MiniGrid/BabyAI id (``llm4teach tasks --all``)."""
    return standard_ids()


def make_domain(task: str) -> Any:
    from llm4teach.domains.minigrid.domain import MiniGridDomain

    return MiniGridDomain(task)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "TASK_NAMES",
    "Describer",
    "GymEpisodes",
    "MemoryMapObservation",
    "MiniGridBatchEnv",
    "MiniGridDomain",
    "Scene",
    "Teacher",
    "canonical",
    "make_domain",
    "make_env",
    "make_gym_env",
    "more_names",
    "other_names",
    "resolve_task",
]
