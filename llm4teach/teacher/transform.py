"""TeacherTransform: writes ``teacher_probs`` and ``teacher_mask`` next to every observation."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Bounded, Categorical, Composite
from torchrl.envs import Transform

from llm4teach.teacher.core import PlanTeacher

PROBS_KEY, MASK_KEY = "teacher_probs", "teacher_mask"


class TeacherTransform(Transform):
    """Annotates each step of a batched env with the teacher's distribution (on reset and step).

    Reads the teacher's ``in_keys`` (what its domain's texts are made from) and writes
    ``teacher_probs`` ``[*batch, teacher.num_actions]`` and ``teacher_mask`` ``[*batch]``.
    The whole batch goes through ``teacher.act_probs`` at once, so the planner is asked
    once per batch, for texts it has not answered. Partial resets (``_reset``) restart
    only those envs' per-episode state. ``enabled = False`` writes uniform probabilities
    and ``teacher_mask`` False without describing or planning (lambda reached 0).
    Picklable: build it in the worker's create-env function or pass it along.

    Example:
        >>> from torchrl.envs import TransformedEnv
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.domains.minigrid import make_env
        >>> from llm4teach.teacher import TeacherConfig
        >>> t = resolve("SimpleDoorKey").make_teacher(TeacherConfig())
        >>> td = TransformedEnv(make_env("SimpleDoorKey", num_envs=2), t).rollout(3)
        >>> td["teacher_probs"].shape, td["teacher_mask"].dtype
        (torch.Size([2, 3, 7]), torch.bool)
    """

    def __init__(self, teacher: PlanTeacher, enabled: bool = True) -> None:
        super().__init__(in_keys=list(teacher.in_keys), out_keys=[PROBS_KEY, MASK_KEY])
        self.teacher = teacher
        self.enabled = enabled

    @property
    def stats(self):
        """The teacher's counters (``TeacherStats``: hits, misses, model calls...)."""
        return self.teacher.stats

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        obs = next_tensordict.get(self.in_keys[0])
        batch, n = next_tensordict.batch_size, self.teacher.num_actions
        if self.enabled:
            flat = {key: value.reshape(batch.numel(), *value.shape[len(batch):]).cpu()
                    for key in self.in_keys
                    if (value := next_tensordict.get(key, None)) is not None}
            probs_np, mask_np = self.teacher.act_probs(flat)
            probs, mask = torch.from_numpy(probs_np), torch.from_numpy(mask_np)
        else:
            probs = torch.full((batch.numel(), n), 1.0 / n)
            mask = torch.zeros(batch.numel(), dtype=torch.bool)
        next_tensordict.set(PROBS_KEY, probs.reshape(*batch, n).to(obs.device))
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
        shape, device, n = observation_spec.shape, observation_spec.device, self.teacher.num_actions
        observation_spec[PROBS_KEY] = Bounded(
            0.0, 1.0, shape=(*shape, n), dtype=torch.float32, device=device
        )
        observation_spec[MASK_KEY] = Categorical(2, shape=shape, dtype=torch.bool, device=device)
        return observation_spec
