"""A batch of skill-level embodied envs behind one TorchRL env (``BatchEnv``).

Works over any env with the ``TidySkillEnv`` interface (``reset(seed)``, ``step(skill)``,
``image_shape``, ``num_skills``): the small world here, or a habitat-lab task through
``habitat.gym`` (``llm4teach.domains.habitat.habitat_lab``) where habitat-sim is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from torchrl.data import Bounded

from llm4teach.domains.habitat.task import SCENE_SIZE, TidySkillEnv
from llm4teach.envs.batch import BatchEnv, Observation, Specs


class SkillBatchEnv(BatchEnv):
    """``num_envs`` skill-level envs stepped together; batch size ``[num_envs]``.

    Keys: ``observation`` (uint8 ``[N, 4, H, W]``: RGB + depth scaled to 0..255),
    ``scene`` (int64 ``[N, 6]``, for the teacher), ``action`` (categorical skill
    ``[N]``), ``("next", "reward")``, ``done``, ``terminated``, ``truncated``
    (``[N, 1]``). Sub-env ``i`` draws every episode's seed from a generator seeded with
    ``SeedSequence(seed)``'s ``i``-th word.

    Example:
        >>> env = SkillBatchEnv(num_envs=2, seed=0, resolution=32)
        >>> env.rollout(3).batch_size
        torch.Size([2, 3])
    """

    def __init__(self, num_envs: int = 1, seed: int | None = None,
                 make: Callable[..., Any] = TidySkillEnv, **env_kwargs: Any):
        super().__init__(partial(make, **env_kwargs), num_envs, seed)

    def _env_specs(self, env: Any) -> Specs:
        observation = {
            "observation": Bounded(0, 255, shape=env.image_shape, dtype=torch.uint8),
            "scene": Bounded(0, 255, shape=(SCENE_SIZE,), dtype=torch.int64),
        }
        return observation, env.num_skills, Bounded(0.0, 1.0, shape=(1,), dtype=torch.float32)

    def _seed_envs(self, words: list[int]) -> None:
        self._rngs = [np.random.default_rng(w) for w in words]

    def _reset_env(self, i: int) -> Observation:
        return self.envs[i].reset(int(self._rngs[i].integers(2**31)))

    def _step_env(self, i: int, action: int) -> tuple[Observation, float, bool, bool]:
        return self.envs[i].step(action)
