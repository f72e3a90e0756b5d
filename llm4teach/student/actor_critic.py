"""The student every domain shares: a body, an actor head and a critic head.

A domain supplies the body (MiniGrid's memory-map encoder, Habitat's visual one);
``assemble`` puts the two heads on it as one TorchRL ``ActorValueOperator``.
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import ActorValueOperator, ProbabilisticActor, ValueOperator


class Float32(nn.Module):
    """Cast to float32: under bf16/fp16 autocast the log-probs, PPO ratio, values and
    advantages must not be computed in half precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def _head(features: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, out),
                         Float32())


class ActorCritic(ActorValueOperator):
    """The student: a shared body (``observation`` -> ``hidden``), an actor head and a critic head.

    Called as a whole (the collector's policy) it encodes each observation once and
    writes ``logits``, ``action``, its log-prob (``actor_head.log_prob_keys``) and
    ``state_value``, never the large ``hidden`` features. PPO runs ``body`` once per
    minibatch and both heads on its ``hidden``: the convolutions are the cost, so a
    loss that ran the body per head would pay for them two or three times.
    """

    def __init__(self, body: TensorDictModule, actor_head: ProbabilisticActor,
                 critic_head: ValueOperator) -> None:
        super().__init__(body, actor_head, critic_head)
        self.select_out_keys("logits", "action", *actor_head.log_prob_keys, "state_value")

    @property
    def body(self) -> TensorDictModule:
        return self.module[0]

    @property
    def actor_head(self) -> ProbabilisticActor:
        return self.module[1]

    @property
    def critic_head(self) -> ValueOperator:
        return self.module[2]

    def heads(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits and state values of raw observations, the body run once (PPO)."""
        hidden = self.body.module(observation)
        return self.actor_head.module[0].module(hidden), self.critic_head.module(hidden)

    def logits(self, observation: torch.Tensor) -> torch.Tensor:
        """Action logits of raw observations ``[..., W, H, 4]`` (evaluation, no tensordict)."""
        return self.actor_head.module[0].module(self.body.module(observation))

    def value(self, observation: torch.Tensor) -> torch.Tensor:
        """State values ``[..., 1]`` of raw observations (bootstrapping)."""
        return self.critic_head.module(self.body.module(observation))


def assemble(body: TensorDictModule, features: int, num_actions: int, hidden: int
             ) -> ActorCritic:
    """The student around any ``body`` that writes ``features`` floats under ``hidden``."""
    actor_head = ProbabilisticActor(
        TensorDictModule(_head(features, num_actions, hidden), in_keys=["hidden"],
                         out_keys=["logits"]),
        in_keys=["logits"],
        distribution_class=torch.distributions.Categorical,
        return_log_prob=True,
    )
    critic_head = ValueOperator(_head(features, 1, hidden), in_keys=["hidden"])
    return ActorCritic(body, actor_head, critic_head)
