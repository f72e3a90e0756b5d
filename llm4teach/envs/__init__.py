"""Environments: the LLM4Teach MiniGrid tasks, the memory-map observation, TorchRL envs.

``BatchEnv`` is the base of every batched TorchRL env (MiniGrid's here, Habitat's in
``llm4teach.envs.habitat``).

Importing this package registers the tasks with gymnasium, so spawned collector
workers see them too. The TorchRL envs are imported on first use: torch and TorchRL take
seconds to import, and the task names (``llm4teach tasks``) need neither.
"""

from importlib import import_module
from typing import Any

from llm4teach.envs.memory_map import MemoryMapObservation
from llm4teach.envs.registry import TASKS, make_gym_env, resolve_task

_TORCHRL = {"BatchEnv": "llm4teach.envs.batch", "MiniGridBatchEnv": "llm4teach.envs.torchrl_env",
            "make_env": "llm4teach.envs.torchrl_env"}


def __getattr__(name: str) -> Any:
    if name in _TORCHRL:
        return getattr(import_module(_TORCHRL[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "BatchEnv",
    "MemoryMapObservation",
    "MiniGridBatchEnv",
    "make_env",
    "make_gym_env",
    "resolve_task",
]
