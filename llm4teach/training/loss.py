"""The student's loss: clipped PPO plus ``lambda * KL(pi_T || pi_S)``, in one pass over a minibatch.

``L = L_clip + c_v L_value - c_e H(pi_S) + lambda KL(pi_T || pi_S)`` (spec 3). The terms
are TorchRL's ``ClipPPOLoss`` terms (the same ratio clipping, smooth-L1 value loss with
value clipping, entropy bonus; a test holds them equal), computed here on plain tensors:
the student's body runs once per minibatch for both heads, and no distribution object or
intermediate TensorDict is built. With a small student TorchRL's generic loss cost about
as much per minibatch as the network itself.

The teacher term: the reference minimises the cross-entropy ``-sum pi_T log pi_S``; the
KL differs from it by the teacher's entropy, a constant, so the gradient is the same and
the logged value reads as a distance (0 = the student copies the teacher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torchrl.objectives import LossModule

from llm4teach.student import ActorCritic


def teacher_kl(probs: torch.Tensor, log_student: torch.Tensor) -> torch.Tensor:
    """Per-step ``KL(pi_T || pi_S)`` (``[...]``) from ``pi_T`` and ``log pi_S`` (``[..., A]``);
    the teacher's zeros add nothing (``0 log 0 = 0``)."""
    return (probs * (probs.clamp_min(1e-12).log() - log_student)).sum(-1)


def distill_terms(log_student: torch.Tensor, probs: torch.Tensor | None,
                  mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``KL(pi_T || pi_S)`` over the steps the teacher judged, and how often the
    student's argmax equals the teacher's there; both 0 where it judged none."""
    if probs is None or mask is None:
        zero = log_student.new_zeros(())
        return zero, zero
    weight = mask.to(log_student.dtype)
    count = weight.sum().clamp_min(1.0)
    kl = (teacher_kl(probs, log_student) * weight).sum() / count
    agree = (log_student.argmax(-1) == probs.argmax(-1)).to(weight.dtype)
    return kl, (agree * weight).sum().detach() / count


class PPOTeacherLoss(LossModule):
    """Clipped PPO with a value and an entropy term, and the teacher term weighted by lambda.

    ``distill_coef`` (lambda) is a buffer, saved with the weights; the trainer's lambda
    schedule is the only thing that changes it. Steps whose ``teacher_mask`` is False (or
    a batch without teacher keys) add nothing to the teacher term. Returns the terms
    ``loss_objective``, ``loss_critic``, ``loss_entropy``, ``loss_distill`` (their sum is
    the loss) and the diagnostics ``entropy``, ``kl_teacher``, ``teacher_agreement``
    (student argmax == teacher argmax on the judged steps), ``kl_approx``,
    ``clip_fraction``, ``explained_variance``.

    Keys (``set_keys``): ``action``, ``sample_log_prob``, ``advantage``, ``value_target``,
    ``value`` (the collector's state value, for value clipping), ``teacher_probs``,
    ``teacher_mask``; the observation is the student body's in-key.

    Example:
        >>> from llm4teach.domains.minigrid.student import make_actor_critic
        >>> net = make_actor_critic((10, 10, 4))
        >>> loss = PPOTeacherLoss(net, distill_coef=1.0)
        >>> td = net(TensorDict(observation=torch.zeros(3, 10, 10, 4, dtype=torch.uint8),
        ...                     batch_size=[3]))
        >>> td = td.update(advantage=torch.ones(3, 1), value_target=torch.zeros(3, 1),
        ...                teacher_probs=torch.full((3, 7), 1 / 7),
        ...                teacher_mask=torch.tensor([True, True, False]))
        >>> out = loss(td)
        >>> sorted(k for k in out.keys() if k.startswith("loss_"))
        ['loss_critic', 'loss_distill', 'loss_entropy', 'loss_objective']
    """

    @dataclass
    class _AcceptedKeys:
        action: NestedKey = "action"
        sample_log_prob: NestedKey = "action_log_prob"
        advantage: NestedKey = "advantage"
        value_target: NestedKey = "value_target"
        value: NestedKey = "state_value"
        teacher_probs: NestedKey = "teacher_probs"
        teacher_mask: NestedKey = "teacher_mask"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(self, student: ActorCritic, clip_epsilon: float = 0.2, clip_value: float = 0.2,
                 entropy_coef: float = 0.001, value_coef: float = 0.5,
                 distill_coef: float = 0.0) -> None:
        super().__init__()
        self.student = student
        self.clip_bounds = (math.log1p(-clip_epsilon), math.log1p(clip_epsilon))
        self.clip_value, self.entropy_coef, self.value_coef = clip_value, entropy_coef, value_coef
        self.register_buffer("distill_coef", torch.tensor(float(distill_coef)))

    @property
    def in_keys(self) -> list[NestedKey]:
        keys = self.tensor_keys
        return [*self.student.body.in_keys, keys.action, keys.sample_log_prob, keys.advantage,
                keys.value_target, keys.value, keys.teacher_probs, keys.teacher_mask]

    @property
    def out_keys(self) -> list[str]:
        return ["loss_objective", "loss_critic", "loss_entropy", "loss_distill", "entropy",
                "kl_teacher", "teacher_agreement", "kl_approx", "clip_fraction",
                "explained_variance"]

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass  # advantages come precomputed (GAE over the rollout): no estimator to forward

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        keys = self.tensor_keys
        logits, value = self.student.heads(tensordict.get(self.student.body.in_keys[0]))
        log_pi = logits.log_softmax(-1)  # [B, A]

        # Clipped surrogate on the probability ratio pi / pi_old (in log space).
        action = tensordict.get(keys.action)
        log_prob = log_pi.gather(-1, action.unsqueeze(-1)).squeeze(-1)  # [B]
        log_weight = log_prob - tensordict.get(keys.sample_log_prob)
        advantage = tensordict.get(keys.advantage).reshape_as(log_weight)
        clipped = log_weight.clamp(*self.clip_bounds)
        gain = torch.minimum(log_weight.exp() * advantage, clipped.exp() * advantage)

        # Value: smooth L1 to the GAE target, pessimistic over the clipped update.
        target, old = tensordict.get(keys.value_target), tensordict.get(keys.value)
        value = value.reshape_as(target)
        loss_value = F.smooth_l1_loss(value, target, reduction="none")
        if self.clip_value:
            value_clipped = old + (value - old).clamp(-self.clip_value, self.clip_value)
            loss_value = torch.maximum(
                loss_value, F.smooth_l1_loss(value_clipped, target, reduction="none"))

        entropy = -(log_pi.exp() * log_pi).sum(-1).mean()
        kl, agreement = distill_terms(log_pi, tensordict.get(keys.teacher_probs, None),
                                      tensordict.get(keys.teacher_mask, None))
        with torch.no_grad():
            explained = 1.0 - (target - value).var(correction=0) / (
                target.var(correction=0) + torch.finfo(target.dtype).eps)
        return TensorDict({
            "loss_objective": -gain.mean(),
            "loss_critic": self.value_coef * loss_value.mean(),
            "loss_entropy": -self.entropy_coef * entropy,
            "loss_distill": self.distill_coef * kl,
            "entropy": entropy.detach(),
            "kl_teacher": kl.detach(),
            "teacher_agreement": agreement,
            "kl_approx": -log_weight.detach().mean(),
            "clip_fraction": (clipped != log_weight).to(gain.dtype).mean(),
            "explained_variance": explained,
        }, batch_size=[])
