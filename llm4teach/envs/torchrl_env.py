"""A batch of MiniGrid envs behind one TorchRL env.

One TorchRL env per process costs about four times a raw gymnasium loop; stepping a
whole batch per TorchRL call spreads that cost over ``num_envs`` environments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from llm4teach.envs.registry import make_gym_env, resolve_task


class MiniGridBatchEnv(EnvBase):
    """``num_envs`` memory-map MiniGrid envs stepped together; batch size ``[num_envs]``.

    Keys: ``observation`` (uint8 ``[N, W, H, 4]``), ``action`` (categorical ``[N]``),
    ``("next", "reward")``, ``done``, ``terminated`` and ``truncated`` (``[N, 1]``).
    Sub-environment ``i`` is seeded from ``SeedSequence(seed)``'s ``i``-th word, so the
    seeds differ and one seed reproduces the whole batch.

    Example:
        >>> from torchrl.envs.utils import check_env_specs
        >>> env = MiniGridBatchEnv("SimpleDoorKey", num_envs=4, seed=0)
        >>> check_env_specs(env)
        >>> env.rollout(3).batch_size
        torch.Size([4, 3])
    """

    def __init__(self, task: str, num_envs: int = 1, seed: int | None = None, **env_kwargs: Any):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.task = resolve_task(task)
        self.envs = [make_gym_env(self.task, **env_kwargs) for _ in range(num_envs)]
        super().__init__(batch_size=torch.Size([num_envs]), device="cpu")
        shape = self.envs[0].observation_space.shape
        self._obs = np.zeros((num_envs, *shape), dtype=np.uint8)
        self._pending_seeds: list[int | None] = [None] * num_envs
        self.observation_spec = Composite(
            observation=Bounded(0, 255, shape=(num_envs, *shape), dtype=torch.uint8),
            shape=self.batch_size,
        )
        self.action_spec = Categorical(
            n=int(self.envs[0].action_space.n), shape=(num_envs,), dtype=torch.int64
        )
        self.reward_spec = Unbounded(shape=(num_envs, 1), dtype=torch.float32)
        flag = Categorical(n=2, shape=(num_envs, 1), dtype=torch.bool)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=self.batch_size
        )
        if seed is not None:
            self.set_seed(seed)

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def _set_seed(self, seed: int | None) -> None:
        words = np.random.SeedSequence(seed).generate_state(self.num_envs, dtype=np.uint32)
        self._pending_seeds = [int(w) for w in words]

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        indices = range(self.num_envs) if reset is None else reset.view(-1).nonzero()[:, 0].tolist()
        for i in indices:
            self._obs[i], _ = self.envs[i].reset(seed=self._pending_seeds[i])
            self._pending_seeds[i] = None
        false = torch.zeros(self.num_envs, 1, dtype=torch.bool)
        return TensorDict(
            observation=torch.from_numpy(self._obs.copy()),
            done=false, terminated=false.clone(), truncated=false.clone(),
            batch_size=self.batch_size,
        )

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        actions = tensordict.get("action").tolist()
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            self._obs[i], rewards[i], terminated[i], truncated[i], _ = env.step(action)
        terminated_t = torch.from_numpy(terminated).unsqueeze(-1)
        truncated_t = torch.from_numpy(truncated).unsqueeze(-1)
        return TensorDict(
            observation=torch.from_numpy(self._obs.copy()),
            reward=torch.from_numpy(rewards).unsqueeze(-1),
            done=terminated_t | truncated_t,
            terminated=terminated_t,
            truncated=truncated_t,
            batch_size=self.batch_size,
        )


def make_env(
    task: str, num_envs: int = 1, seed: int | None = 0, **env_kwargs: Any
) -> MiniGridBatchEnv:
    """The TorchRL env of ``task`` over ``num_envs`` sub-environments, seeded with ``seed``.

    ``task`` is a short name (``SimpleDoorKey``), an ``LLM4Teach/...`` id or a standard
    ``MiniGrid-DoorKey-*`` id; extra keyword arguments go to the gymnasium env.
    """
    return MiniGridBatchEnv(task, num_envs=num_envs, seed=seed, **env_kwargs)
