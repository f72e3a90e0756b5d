"""Task names: gymnasium registration of the four tasks and one resolver for all names."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the standard MiniGrid-* ids)

from llm4teach.envs.memory_map import AGENT_VIEW_SIZE, MemoryMapObservation

NAMESPACE = "LLM4Teach"
TASKS: dict[str, str] = {
    name: f"{NAMESPACE}/{name}-v0"
    for name in ("SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor")
}

for _name, _id in TASKS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"llm4teach.envs.tasks:{_name}Env")


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


def make_gym_env(task: str, **kwargs: Any) -> gym.Env:
    """A single gymnasium env of ``task`` with the memory-map observation.

    Standard MiniGrid DoorKey envs get the same 3x3 view as our tasks.
    """
    env_id = resolve_task(task)
    if not env_id.startswith(NAMESPACE):
        kwargs.setdefault("agent_view_size", AGENT_VIEW_SIZE)
    # The memory map replaces MiniGrid's observation, so gymnasium's passive checker
    # (which would re-check every step) adds nothing but cost.
    return MemoryMapObservation(gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped)
