"""The base of the batched TorchRL envs: ``num_envs`` sub-envs stepped per TorchRL call.

One TorchRL env per process costs about four times a raw gymnasium loop; stepping a
whole batch per TorchRL call spreads that cost over ``num_envs`` environments. The base
owns what every batch shares (the specs' batch shape, the done flags, which sub-envs a
``_reset`` key names, the seed words, assembling a step); a subclass says how one
sub-env is built, seeded, reset and stepped, and which observation keys it emits.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, TensorSpec
from torchrl.envs import EnvBase

Observation = dict[str, np.ndarray]  # key -> one env step's array ("observation", "scene"...)
# one sub-env's observation specs by key, its number of actions, its reward spec
Specs = tuple[dict[str, TensorSpec], int, TensorSpec]


class BatchEnv(EnvBase):
    """``num_envs`` sub-envs made by ``make()``, batch size ``[num_envs]``.

    Keys: the subclass's observation keys, ``action`` (categorical ``[N]``),
    ``("next", "reward")``, ``done``, ``terminated`` and ``truncated`` (``[N, 1]``).
    ``SeedSequence(seed)``'s ``i``-th word seeds sub-env ``i`` (``seed=None``: fresh
    entropy), so the seeds differ and one seed reproduces the whole batch.
    """

    def __init__(self, make: Callable[[], Any], num_envs: int, seed: int | None) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.envs = [make() for _ in range(num_envs)]
        super().__init__(batch_size=torch.Size([num_envs]), device="cpu")
        observation, num_actions, reward = self._env_specs(self.envs[0])
        self._keys = tuple(observation)
        self.observation_spec = Composite(
            {key: spec.expand(num_envs, *spec.shape) for key, spec in observation.items()},
            shape=self.batch_size,
        )
        self.action_spec = Categorical(n=num_actions, shape=(num_envs,), dtype=torch.int64)
        self.reward_spec = reward.expand(num_envs, *reward.shape)
        flag = Categorical(n=2, shape=(num_envs, 1), dtype=torch.bool)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=self.batch_size
        )
        self._last: list[Observation] = [{} for _ in range(num_envs)]
        self._set_seed(seed)

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    # ------------------------------------------------------------ one sub-env (subclass)
    @abstractmethod
    def _env_specs(self, env: Any) -> Specs:
        """One sub-env's observation specs by key, its number of actions, its reward spec."""

    @abstractmethod
    def _seed_envs(self, words: list[int]) -> None:
        """Take word ``i`` as sub-env ``i``'s seed."""

    @abstractmethod
    def _reset_env(self, i: int) -> Observation:
        """Reset sub-env ``i``; its observation by key."""

    @abstractmethod
    def _step_env(self, i: int, action: int) -> tuple[Observation, float, bool, bool]:
        """Step sub-env ``i``: observation, reward, terminated, truncated."""

    # ---------------------------------------------------------------------- the batch
    def _set_seed(self, seed: int | None) -> None:
        words = np.random.SeedSequence(seed).generate_state(self.num_envs, dtype=np.uint32)
        self._seed_envs([int(w) for w in words])

    def _observe(self, **flags: torch.Tensor) -> TensorDictBase:
        observation = {key: torch.from_numpy(np.stack([o[key] for o in self._last]))
                       for key in self._keys}
        return TensorDict(**observation, **flags, batch_size=self.batch_size)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        indices = range(self.num_envs) if reset is None else reset.view(-1).nonzero()[:, 0].tolist()
        for i in indices:
            self._last[i] = self._reset_env(i)
        false = torch.zeros(self.num_envs, 1, dtype=torch.bool)
        return self._observe(done=false, terminated=false.clone(), truncated=false.clone())

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, action in enumerate(tensordict.get("action").tolist()):
            self._last[i], rewards[i], terminated[i], truncated[i] = self._step_env(i, action)
        terminated_t = torch.from_numpy(terminated).unsqueeze(-1)
        truncated_t = torch.from_numpy(truncated).unsqueeze(-1)
        return self._observe(
            reward=torch.from_numpy(rewards).unsqueeze(-1),
            done=terminated_t | truncated_t,
            terminated=terminated_t,
            truncated=truncated_t,
        )
