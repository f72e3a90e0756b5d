"""Environments: the LLM4Teach MiniGrid tasks, the memory-map observation, TorchRL envs.

Importing this package registers the tasks with gymnasium, so spawned collector
workers see them too.
"""

from llm4teach.envs.memory_map import MemoryMapObservation
from llm4teach.envs.registry import TASKS, make_gym_env, resolve_task
from llm4teach.envs.torchrl_env import MiniGridBatchEnv, make_env

__all__ = [
    "TASKS",
    "MemoryMapObservation",
    "MiniGridBatchEnv",
    "make_env",
    "make_gym_env",
    "resolve_task",
]
