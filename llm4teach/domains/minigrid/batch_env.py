"""A batch of MiniGrid envs behind one TorchRL env (``BatchEnv`` over ``make_gym_env``).

Each sub-env's mission travels as a key, for the teacher: TorchRL keys hold tensors, so
the text is its UTF-8 bytes, zero padded to ``MISSION_BYTES`` (``encode_mission``,
``decode_missions``). The student reads ``observation`` only.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
from torchrl.data import Bounded, Unbounded

from llm4teach.domains.minigrid.memory_map import MemoryMapObservation
from llm4teach.domains.minigrid.registry import make_gym_env, resolve_task
from llm4teach.envs.batch import BatchEnv, Observation, Specs

MISSION_BYTES = 512  # BabyAI's longest missions are under 200 characters
MISSION_KEY = "mission"  # the episode's mission, next to the memory map


def encode_mission(text: str) -> np.ndarray:
    """A mission as the ``mission`` key holds it: uint8 ``[MISSION_BYTES]``, zero padded."""
    raw = text.encode("utf-8")
    if len(raw) > MISSION_BYTES:
        raise ValueError(f"mission of {len(raw)} bytes is longer than the {MISSION_BYTES} the "
                         f"mission key holds: {text[:60]!r}...; shorten it or raise "
                         "llm4teach.domains.minigrid.batch_env.MISSION_BYTES")
    out = np.zeros(MISSION_BYTES, dtype=np.uint8)
    out[:len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return out


def decode_missions(missions: np.ndarray) -> list[str]:
    """The texts of a batch of ``mission`` rows ``[N, MISSION_BYTES]`` (``encode_mission``)."""
    return [bytes(row).rstrip(b"\0").decode("utf-8") for row in np.asarray(missions)]


class MiniGridBatchEnv(BatchEnv):
    """``num_envs`` memory-map MiniGrid envs stepped together; batch size ``[num_envs]``.

    Keys: ``observation`` (uint8 ``[N, W, H, 4]``), ``mission`` (uint8
    ``[N, MISSION_BYTES]``: each episode's mission, ``decode_missions``), ``action``
    (categorical ``[N]``),
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

    @property
    def max_episode_steps(self) -> int:
        """The longest an episode can last (MiniGrid's ``max_steps``; BabyAI's vary by level)."""
        return max(int(env.unwrapped.max_steps) for env in self.envs)

    def _env_specs(self, env: MemoryMapObservation) -> Specs:
        shape = env.observation_space.shape
        return ({"observation": Bounded(0, 255, shape=shape, dtype=torch.uint8),
                 MISSION_KEY: Bounded(0, 255, shape=(MISSION_BYTES,), dtype=torch.uint8)},
                int(env.action_space.n), Unbounded(shape=(1,), dtype=torch.float32))

    def _seed_envs(self, words: list[int]) -> None:
        self._pending_seeds: list[int | None] = list(words)

    def _reset_env(self, i: int) -> Observation:
        """Reset sub-env ``i``; its mission (MiniGrid sets it at reset) is kept for its steps."""
        obs, _ = self.envs[i].reset(seed=self._pending_seeds[i])
        self._pending_seeds[i] = None
        return {"observation": obs, "mission": encode_mission(self.envs[i].unwrapped.mission)}

    def _step_env(self, i: int, action: int) -> tuple[Observation, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.envs[i].step(action)
        mission = self._last[i]["mission"]  # the episode's, set at reset
        return {"observation": obs, "mission": mission}, reward, terminated, truncated


def make_env(
    task: str, num_envs: int = 1, seed: int | None = 0, **env_kwargs: Any
) -> MiniGridBatchEnv:
    """The TorchRL env of ``task`` over ``num_envs`` sub-environments, seeded with ``seed``.

    ``task`` is a short name (``SimpleDoorKey``), an ``LLM4Teach/...`` id or any registered
    ``MiniGrid-*`` / ``BabyAI-*`` id; extra keyword arguments go to the gymnasium env
    (``max_steps``, ``agent_view_size``...).
    """
    return MiniGridBatchEnv(task, num_envs=num_envs, seed=seed, **env_kwargs)
