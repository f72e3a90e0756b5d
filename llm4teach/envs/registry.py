"""Task names: gymnasium registration of the four tasks and one resolver for all names.

The registered ``LLM4Teach/*-v0`` ids and ``make_gym_env`` build an env the same way
(``task_env``): the task's MiniGrid env in the memory-map observation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the standard MiniGrid-* ids)

from llm4teach.envs.memory_map import AGENT_VIEW_SIZE, MemoryMapObservation
from llm4teach.envs.tasks import (
    ColoredDoorKeyEnv,
    DoorTaskEnv,
    LavaDoorKeyEnv,
    SimpleDoorKeyEnv,
    TwoDoorEnv,
)

NAMESPACE = "LLM4Teach"
TASK_ENVS: dict[str, type[DoorTaskEnv]] = {
    "SimpleDoorKey": SimpleDoorKeyEnv,
    "LavaDoorKey": LavaDoorKeyEnv,
    "ColoredDoorKey": ColoredDoorKeyEnv,
    "TwoDoor": TwoDoorEnv,
}
TASKS: dict[str, str] = {name: f"{NAMESPACE}/{name}-v0" for name in TASK_ENVS}
_NAMES = {env_id: name for name, env_id in TASKS.items()}


def task_env(name: str, **kwargs: Any) -> MemoryMapObservation:
    """Task ``name`` (``SimpleDoorKey``) with the memory-map observation; the ids' entry point.

    Keyword arguments go to the task's MiniGrid env (``max_steps``, ``grid_size``, ...).
    """
    return MemoryMapObservation(TASK_ENVS[name](**kwargs))


for _name, _id in TASKS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=partial(task_env, _name))


def _doorkey_ids() -> list[str]:
    return sorted(i for i in gym.registry if i.startswith("MiniGrid-DoorKey-"))


def resolve_task(task: str) -> str:
    """Map a short task name (``SimpleDoorKey``), our id or a standard DoorKey id to a gym id.

    Raises a ``ValueError`` that lists the valid names, so a typo is a one-line fix.
    """
    if task in TASKS:
        return TASKS[task]
    lowered = {name.lower(): env_id for name, env_id in TASKS.items()}
    if task.lower() in lowered:
        return lowered[task.lower()]
    if task in TASKS.values() or task in _doorkey_ids():
        return task
    raise ValueError(
        f"unknown task {task!r}; valid tasks: {', '.join(TASKS)} "
        f"(or their ids {', '.join(TASKS.values())}, or a standard DoorKey id such as "
        f"{', '.join(_doorkey_ids()[:2])})"
    )


def make_gym_env(task: str, **kwargs: Any) -> MemoryMapObservation:
    """A single env of ``task`` with the memory-map observation, without gymnasium's wrappers.

    The fast path for batched envs: ``gym.make`` would add its order and passive checks,
    which re-check every step and add nothing but cost over the memory map. Standard
    MiniGrid DoorKey envs get the same 3x3 view as our tasks.
    """
    env_id = resolve_task(task)
    if env_id in _NAMES:
        return task_env(_NAMES[env_id], **kwargs)
    kwargs.setdefault("agent_view_size", AGENT_VIEW_SIZE)
    return MemoryMapObservation(gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped)
