"""A batch of MiniGrid envs behind one TorchRL env (``BatchEnv`` over ``make_gym_env``)."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torchrl.data import Bounded, Unbounded

from llm4teach.envs.batch import BatchEnv, Observation, Specs
from llm4teach.envs.memory_map import MemoryMapObservation
from llm4teach.envs.registry import make_gym_env, resolve_task


class MiniGridBatchEnv(BatchEnv):
    """``num_envs`` memory-map MiniGrid envs stepped together; batch size ``[num_envs]``.

    Keys: ``observation`` (uint8 ``[N, W, H, 4]``), ``action`` (categorical ``[N]``),
    ``("next", "reward")``, ``done``, ``terminated`` and ``truncated`` (``[N, 1]``).
    Sub-environment ``i`` is seeded from ``SeedSequence(seed)``'s ``i``-th word on its
    next reset and continues its own stream after that, so the seeds differ and one seed
    reproduces the whole batch.

    Example:
        >>> from torchrl.envs.utils import check_env_specs
        >>> env = MiniGridBatchEnv("SimpleDoorKey", num_envs=4, seed=0)
        >>> check_env_specs(env)
        >>> env.rollout(3).batch_size
        torch.Size([4, 3])
    """

    def __init__(self, task: str, num_envs: int = 1, seed: int | None = None, **env_kwargs: Any):
        self.task = resolve_task(task)
        super().__init__(partial(make_gym_env, self.task, **env_kwargs), num_envs, seed)

    def _env_specs(self, env: MemoryMapObservation) -> Specs:
        shape = env.observation_space.shape
        return ({"observation": Bounded(0, 255, shape=shape, dtype=torch.uint8)},
                int(env.action_space.n), Unbounded(shape=(1,), dtype=torch.float32))

    def _seed_envs(self, words: list[int]) -> None:
        self._pending_seeds: list[int | None] = list(words)

    def _reset_env(self, i: int) -> Observation:
        obs, _ = self.envs[i].reset(seed=self._pending_seeds[i])
        self._pending_seeds[i] = None
        return {"observation": obs}

    def _step_env(self, i: int, action: int) -> tuple[Observation, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.envs[i].step(action)
        return {"observation": obs}, reward, terminated, truncated


def make_env(
    task: str, num_envs: int = 1, seed: int | None = 0, **env_kwargs: Any
) -> MiniGridBatchEnv:
    """The TorchRL env of ``task`` over ``num_envs`` sub-environments, seeded with ``seed``.

    ``task`` is a short name (``SimpleDoorKey``), an ``LLM4Teach/...`` id or a standard
    ``MiniGrid-DoorKey-*`` id; extra keyword arguments go to the gymnasium env.
    """
    return MiniGridBatchEnv(task, num_envs=num_envs, seed=seed, **env_kwargs)
