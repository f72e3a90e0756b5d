"""The teacher term of the loss: ``lambda * KL(pi_T || pi_S)`` on the steps the teacher judged.

The reference minimises the cross-entropy ``-sum pi_T log pi_S``; the KL differs from
it by the teacher's entropy, a constant, so the gradient is the same and the logged
value reads as a distance (0 = the student copies the teacher).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import ProbabilisticTensorDictSequential
from tensordict.utils import NestedKey
from torchrl.objectives import LossModule


def teacher_kl(probs: torch.Tensor, log_student: torch.Tensor) -> torch.Tensor:
    """Per-step ``KL(pi_T || pi_S)`` (``[...]``) from ``pi_T`` and ``log pi_S`` (``[..., A]``);
    the teacher's zeros add nothing (``0 log 0 = 0``)."""
    return (probs * (probs.clamp_min(1e-12).log() - log_student)).sum(-1)


class TeacherDistillLoss(LossModule):
    """Masked ``KL(teacher || student)``, weighted by the coefficient ``coef`` (lambda).

    ``coef`` is a buffer, so it is saved with the module's weights; the trainer's lambda
    schedule is the only thing that changes it. Steps whose ``teacher_mask`` is False
    (or a batch without teacher keys, or ``coef == 0``) add nothing and cost no forward
    pass. Besides ``loss_distill`` it reports ``kl_teacher`` and ``teacher_agreement``
    (the student's argmax equals the teacher's) over the masked steps.

    Keys (``set_keys``): ``teacher_probs``, ``teacher_mask``; the actor reads its own
    in-keys.

    Example:
        >>> from llm4teach.student import make_actor_critic
        >>> net = make_actor_critic((10, 10, 4))
        >>> loss = TeacherDistillLoss(net.get_policy_operator(), coef=1.0)
        >>> td = TensorDict(observation=torch.zeros(3, 10, 10, 4, dtype=torch.uint8),
        ...                 teacher_probs=torch.full((3, 7), 1 / 7),
        ...                 teacher_mask=torch.tensor([True, True, False]), batch_size=[3])
        >>> out = loss(td)
        >>> sorted(out.keys())
        ['kl_teacher', 'loss_distill', 'teacher_agreement']
    """

    @dataclass
    class _AcceptedKeys:
        teacher_probs: NestedKey = "teacher_probs"
        teacher_mask: NestedKey = "teacher_mask"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(self, actor_network: ProbabilisticTensorDictSequential, coef: float = 0.0):
        super().__init__()
        self.actor_network = actor_network
        self.register_buffer("coef", torch.tensor(float(coef)))

    @property
    def in_keys(self) -> list[NestedKey]:
        return [*self.actor_network.in_keys, self.tensor_keys.teacher_probs,
                self.tensor_keys.teacher_mask]

    @property
    def out_keys(self) -> list[str]:
        return ["loss_distill", "kl_teacher", "teacher_agreement"]

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass  # no value estimator: nothing to forward

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        probs = tensordict.get(self.tensor_keys.teacher_probs, None)
        mask = tensordict.get(self.tensor_keys.teacher_mask, None)
        zero = self.coef.new_zeros(())
        if probs is None or mask is None or not mask.any() or self.coef == 0:
            return TensorDict(loss_distill=zero, kl_teacher=zero, teacher_agreement=zero)
        dist = self.actor_network.get_dist(tensordict.copy())
        log_student = dist.logits  # normalised log-probabilities
        kl = teacher_kl(probs, log_student)
        weight = mask.to(kl.dtype)
        count = weight.sum()
        kl_mean = (kl * weight).sum() / count
        agree = (log_student.argmax(-1) == probs.argmax(-1)).to(kl.dtype)
        return TensorDict(
            loss_distill=self.coef * kl_mean,
            kl_teacher=kl_mean.detach(),
            teacher_agreement=(agree * weight).sum() / count,
        )
