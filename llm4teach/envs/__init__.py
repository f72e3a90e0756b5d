"""Environments: the LLM4Teach MiniGrid tasks, the memory-map observation, TorchRL envs.

``BatchEnv`` is the base of every batched TorchRL env (MiniGrid's here, Habitat's in
``llm4teach.envs.habitat``).

Importing this package registers the tasks with gymnasium, so spawned collector
workers see them too.
"""

from llm4teach.envs.batch import BatchEnv
from llm4teach.envs.memory_map import MemoryMapObservation
from llm4teach.envs.registry import TASKS, make_gym_env, resolve_task
from llm4teach.envs.torchrl_env import MiniGridBatchEnv, make_env

__all__ = [
    "TASKS",
    "BatchEnv",
    "MemoryMapObservation",
    "MiniGridBatchEnv",
    "make_env",
    "make_gym_env",
    "resolve_task",
]
