"""A batch of skill-level embodied envs behind one TorchRL env, like ``MiniGridBatchEnv``.

Works over any env with the ``TidySkillEnv`` interface (``reset(seed)``, ``step(skill)``,
``image_shape``, ``num_skills``): the small world here, or a habitat-lab task through
``habitat.gym`` (``llm4teach.envs.habitat.habitat_lab``) where habitat-sim is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite
from torchrl.envs import EnvBase

from llm4teach.envs.habitat.task import SCENE_SIZE, TidySkillEnv


class SkillBatchEnv(EnvBase):
    """``num_envs`` skill-level envs stepped together; batch size ``[num_envs]``.

    Keys: ``observation`` (uint8 ``[N, 4, H, W]``: RGB + depth scaled to 0..255),
    ``scene`` (int64 ``[N, 6]``, for the teacher), ``action`` (categorical skill
    ``[N]``), ``("next", "reward")``, ``done``, ``terminated``, ``truncated``
    (``[N, 1]``). Sub-env ``i`` is seeded from ``SeedSequence(seed)``'s ``i``-th word on
    its first reset and continues its own stream after that.

    Example:
        >>> env = SkillBatchEnv(num_envs=2, seed=0, resolution=32)
        >>> env.rollout(3).batch_size
        torch.Size([2, 3])
    """

    def __init__(self, num_envs: int = 1, seed: int | None = None,
                 make: Callable[..., Any] = TidySkillEnv, **env_kwargs: Any):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.envs = [make(**env_kwargs) for _ in range(num_envs)]
        super().__init__(batch_size=torch.Size([num_envs]), device="cpu")
        shape = self.envs[0].image_shape
        self._rngs = [np.random.default_rng(s) for s in self._words(seed)]
        self.observation_spec = Composite(
            observation=Bounded(0, 255, shape=(num_envs, *shape), dtype=torch.uint8),
            scene=Bounded(0, 255, shape=(num_envs, SCENE_SIZE), dtype=torch.int64),
            shape=self.batch_size,
        )
        self.action_spec = Categorical(
            n=self.envs[0].num_skills, shape=(num_envs,), dtype=torch.int64
        )
        self.reward_spec = Bounded(0.0, 1.0, shape=(num_envs, 1), dtype=torch.float32)
        flag = Categorical(n=2, shape=(num_envs, 1), dtype=torch.bool)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=self.batch_size
        )
        self._last: list[dict[str, np.ndarray]] = []

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def _words(self, seed: int | None) -> list[int]:
        words = np.random.SeedSequence(seed).generate_state(len(self.envs), np.uint32)
        return [int(w) for w in words]

    def _set_seed(self, seed: int | None) -> None:
        self._rngs = [np.random.default_rng(s) for s in self._words(seed)]

    def _stack(self, extra: dict[str, torch.Tensor]) -> TensorDictBase:
        return TensorDict(
            observation=torch.from_numpy(np.stack([o["observation"] for o in self._last])),
            scene=torch.from_numpy(np.stack([o["scene"] for o in self._last])),
            **extra, batch_size=self.batch_size,
        )

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        indices = range(self.num_envs) if reset is None else reset.view(-1).nonzero()[:, 0].tolist()
        if not self._last:
            self._last = [{} for _ in self.envs]
        for i in indices:
            self._last[i] = self.envs[i].reset(int(self._rngs[i].integers(2**31)))
        false = torch.zeros(self.num_envs, 1, dtype=torch.bool)
        return self._stack({"done": false, "terminated": false.clone(),
                            "truncated": false.clone()})

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, skill in enumerate(tensordict.get("action").tolist()):
            self._last[i], rewards[i], terminated[i], truncated[i] = self.envs[i].step(skill)
        terminated_t = torch.from_numpy(terminated).unsqueeze(-1)
        truncated_t = torch.from_numpy(truncated).unsqueeze(-1)
        return self._stack({
            "reward": torch.from_numpy(rewards).unsqueeze(-1),
            "done": terminated_t | truncated_t,
            "terminated": terminated_t,
            "truncated": truncated_t,
        })
