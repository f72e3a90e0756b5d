"""Task names: gymnasium registration of the four tasks and one resolver for all names.

The registered ``LLM4Teach/*-v0`` ids and ``make_gym_env`` build an env the same way
(``task_env``): the task's MiniGrid env in the memory-map observation. Any id the
installed minigrid registers (``MiniGrid-*``, ``BabyAI-*``) is a task too.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the standard MiniGrid-* ids)

from llm4teach.domains.minigrid.memory_map import AGENT_VIEW_SIZE, MemoryMapObservation
from llm4teach.domains.minigrid.tasks import (
    ColoredDoorKeyEnv,
    DoorTaskEnv,
    LavaDoorKeyEnv,
    SimpleDoorKeyEnv,
    TwoDoorEnv,
)

NAMESPACE = "LLM4Teach"
STANDARD_PREFIXES = ("MiniGrid-", "BabyAI-")
ANY_STANDARD_ID = "MiniGrid-*/BabyAI-* id"
# ids whose envs need a minigrid extra: (id prefix, module, what to install)
_EXTRAS = (("MiniGrid-WFC-", "imageio", "minigrid[wfc]"),)
TASK_ENVS: dict[str, type[DoorTaskEnv]] = {
    "SimpleDoorKey": SimpleDoorKeyEnv,
    "LavaDoorKey": LavaDoorKeyEnv,
    "ColoredDoorKey": ColoredDoorKeyEnv,
    "TwoDoor": TwoDoorEnv,
}
TASKS: dict[str, str] = {name: f"{NAMESPACE}/{name}-v0" for name in TASK_ENVS}
_NAMES = {env_id: name for name, env_id in TASKS.items()}
TASK_NAMES = {name: f"MiniGrid, {env_id}" for name, env_id in TASKS.items()}  # llm4teach tasks


def task_env(name: str, **kwargs: Any) -> MemoryMapObservation:
    """Task ``name`` (``SimpleDoorKey``) with the memory-map observation; the ids' entry point.

    Keyword arguments go to the task's MiniGrid env (``max_steps``, ``grid_size``, ...).
    """
    return MemoryMapObservation(TASK_ENVS[name](**kwargs))


for _name, _id in TASKS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=partial(task_env, _name))


class UnknownTaskError(ValueError):
    """A task name that is neither ours nor a registered MiniGrid or BabyAI id."""


def standard_ids() -> list[str]:
    """Every ``MiniGrid-*`` and ``BabyAI-*`` id the installed minigrid registers, sorted."""
    return sorted(i for i in gym.registry if i.startswith(STANDARD_PREFIXES))


def more_names() -> str:
    """The names besides ``TASK_NAMES`` that resolve, in words."""
    return (f"their gymnasium ids, or any registered {ANY_STANDARD_ID} "
            f"({len(standard_ids())} installed: `llm4teach tasks --all` lists them)")


def resolve_task(task: str) -> str:
    """Map a short task name (``SimpleDoorKey``, any case), our id or a standard MiniGrid or
    BabyAI id to a gym id.

    An unknown name is an ``UnknownTaskError`` (a ``ValueError``) of one line that says
    where the valid ones are listed; an id whose env needs a minigrid extra that is not
    installed names the extra.
    """
    if task in TASKS:
        return TASKS[task]
    lowered = {name.lower(): env_id for name, env_id in TASKS.items()}
    if task.lower() in lowered:
        return lowered[task.lower()]
    if task in _NAMES:
        return task
    if task.startswith(STANDARD_PREFIXES) and task in gym.registry:
        for prefix, module, extra in _EXTRAS:
            if task.startswith(prefix) and importlib.util.find_spec(module) is None:
                raise ValueError(f"task {task} needs {module}, which is not installed: "
                                 f"pip install \"{extra}\"")
        return task
    raise UnknownTaskError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)} or a "
                           f"registered {ANY_STANDARD_ID} (`llm4teach tasks --all` lists them)")


def make_gym_env(task: str, **kwargs: Any) -> MemoryMapObservation:
    """A single env of ``task`` with the memory-map observation, without gymnasium's wrappers.

    The fast path for batched envs: ``gym.make`` would add its order and passive checks,
    which re-check every step and add nothing but cost over the memory map. Standard
    ``MiniGrid-DoorKey-*`` envs get the same 3x3 view as our tasks (the paper's setting
    for DoorKey, which the shipped DoorKey table was written under); other standard envs
    keep their own view.
    ``agent_view_size=...`` overrides either.
    """
    env_id = resolve_task(task)
    if env_id in _NAMES:
        return task_env(_NAMES[env_id], **kwargs)
    if env_id.startswith("MiniGrid-DoorKey-"):
        kwargs.setdefault("agent_view_size", AGENT_VIEW_SIZE)
    return MemoryMapObservation(gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped)
