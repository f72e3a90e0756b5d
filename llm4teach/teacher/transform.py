"""TeacherTransform: writes ``teacher_probs`` and ``teacher_mask`` next to every observation."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Bounded, Categorical, Composite
from torchrl.envs import Transform

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.teacher import NUM_ACTIONS, Teacher

PROBS_KEY, MASK_KEY = "teacher_probs", "teacher_mask"


class TeacherTransform(Transform):
    """Annotates each step of a batched env with the teacher's distribution (on reset and step).

    The whole batch goes through ``Teacher.act_probs`` at once, so the planner is asked
    once per batch, for texts it has not answered. Partial resets (``_reset``) restart
    only those envs' per-episode state. ``enabled = False`` writes uniform probabilities
    and ``teacher_mask`` False without describing or planning (lambda reached 0).
    Picklable: build it in the worker's create-env function or pass it along.

    Example:
        >>> from torchrl.envs import TransformedEnv
        >>> from llm4teach.envs import make_env
        >>> t = TeacherTransform.from_config("SimpleDoorKey", TeacherConfig())
        >>> td = TransformedEnv(make_env("SimpleDoorKey", num_envs=2), t).rollout(3)
        >>> td["teacher_probs"].shape, td["teacher_mask"].dtype
        (torch.Size([2, 3, 7]), torch.bool)
    """

    def __init__(self, teacher: Teacher, enabled: bool = True) -> None:
        super().__init__(in_keys=["observation"], out_keys=[PROBS_KEY, MASK_KEY])
        self.teacher = teacher
        self.enabled = enabled

    @classmethod
    def from_config(cls, task: str, config: TeacherConfig | None = None) -> TeacherTransform:
        return cls(Teacher(task, config or TeacherConfig()))

    @property
    def stats(self):
        """The teacher's counters (``as_dict()``: hits, misses, model calls...)."""
        return self.teacher.stats

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        obs = next_tensordict.get("observation")
        batch = obs.shape[:-3]
        if self.enabled:
            flat = obs.reshape(-1, *obs.shape[-3:]).cpu()
            probs_np, mask_np = self.teacher.act_probs(flat)
            probs, mask = torch.from_numpy(probs_np), torch.from_numpy(mask_np)
        else:
            n = batch.numel()
            probs = torch.full((n, NUM_ACTIONS), 1.0 / NUM_ACTIONS)
            mask = torch.zeros(n, dtype=torch.bool)
        next_tensordict.set(PROBS_KEY, probs.reshape(*batch, NUM_ACTIONS).to(obs.device))
        next_tensordict.set(MASK_KEY, mask.reshape(batch).to(obs.device))
        return next_tensordict

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        if reset is None:
            self.teacher.reset()
        else:
            self.teacher.reset(reset.reshape(-1).nonzero()[:, 0].tolist())
        return self._call(tensordict_reset)

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        return self._call(tensordict)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        shape = observation_spec.shape
        device = observation_spec.device
        observation_spec[PROBS_KEY] = Bounded(
            0.0, 1.0, shape=(*shape, NUM_ACTIONS), dtype=torch.float32, device=device
        )
        observation_spec[MASK_KEY] = Categorical(2, shape=shape, dtype=torch.bool, device=device)
        return observation_spec
