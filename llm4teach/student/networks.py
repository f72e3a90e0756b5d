"""Actor-critic student networks on the memory-map observation.

The reference student runs three 3x3 convolutions (16, 32, 64 channels, padding 1, no
pooling) on the raw integer codes, then separate actor and critic heads
(Linear 64, ReLU, Linear). Raw codes make "key" (5) look numerically close to "door"
(4); the ``embedding`` encoder looks each code up in a learned table first, so the
convolutions see categories, not magnitudes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import ProbabilisticActor, ValueOperator

ENCODERS = ("embedding", "conv")
CODES_PER_CHANNEL = 16  # MiniGrid object (0..10), colour (0..5), state (0..2), direction (0..4)


class ConvBody(nn.Module):
    """Memory map ``[..., W, H, 4]`` (uint8) -> features ``[..., channels[-1] * W * H]``.

    ``embedding``: each channel's code indexes its own part of one table of
    ``embed_dim``-vectors; the four vectors of a cell are concatenated. ``conv``: the
    raw codes as floats (the reference). ``channels``: the 3x3 convolutions (padding 1,
    no pooling); the reference's 16, 32, 64 costs about three times 16, 16, 16 on a CPU.
    """

    def __init__(self, width: int, height: int, encoder: str = "embedding", embed_dim: int = 8,
                 channels: Sequence[int] = (16, 32, 64)):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        self.encoder = encoder
        in_channels = 4
        if encoder == "embedding":
            self.embed = nn.Embedding(4 * CODES_PER_CHANNEL, embed_dim)
            self.register_buffer(
                "offsets", torch.arange(4) * CODES_PER_CHANNEL, persistent=False
            )
            in_channels = 4 * embed_dim
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be positive integers, got {channels!r}")
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(in_channels, out, 3, padding=1), nn.ReLU()]
            in_channels = out
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.out_features = channels[-1] * width * height

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-3]
        obs = obs.reshape(-1, *obs.shape[-3:])
        if self.encoder == "embedding":
            codes = obs.long().clamp(max=CODES_PER_CHANNEL - 1) + self.offsets
            x = self.embed(codes).flatten(-2)  # [B, W, H, 4 * embed_dim]
        else:
            x = obs.float()
        return self.convs(x.permute(0, 3, 1, 2)).reshape(*lead, -1)


class Float32(nn.Module):
    """Cast to float32: under bf16/fp16 autocast the log-probs, PPO ratio, values and
    advantages must not be computed in half precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def _head(features: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, out),
                         Float32())


class ActorCritic(nn.Module):
    """The student's two TorchRL modules; they share the convolutional body.

    ``actor`` reads ``observation`` and writes ``logits``, ``action`` and the log-prob
    under TorchRL's default key (``actor.log_prob_keys``); ``critic`` writes
    ``state_value``. ``parameters()`` yields the shared body once.
    """

    def __init__(self, actor: ProbabilisticActor, critic: ValueOperator) -> None:
        super().__init__()
        self.actor = actor
        self.critic = critic


def make_actor_critic(
    obs_shape: tuple[int, ...],
    num_actions: int = 7,
    encoder: str = "embedding",
    hidden: int = 64,
    embed_dim: int = 8,
    channels: Sequence[int] = (16, 32, 64),
) -> ActorCritic:
    """Build the student for observations of shape ``(W, H, 4)``.

    Example:
        >>> from tensordict import TensorDict
        >>> net = make_actor_critic((10, 10, 4))
        >>> td = TensorDict(observation=torch.zeros(2, 10, 10, 4, dtype=torch.uint8),
        ...                 batch_size=[2])
        >>> net.critic(net.actor(td))["state_value"].shape
        torch.Size([2, 1])
    """
    width, height = int(obs_shape[0]), int(obs_shape[1])
    body = ConvBody(width, height, encoder=encoder, embed_dim=embed_dim, channels=channels)
    actor_net = nn.Sequential(body, _head(body.out_features, num_actions, hidden))
    critic_net = nn.Sequential(body, _head(body.out_features, 1, hidden))
    actor = ProbabilisticActor(
        TensorDictModule(actor_net, in_keys=["observation"], out_keys=["logits"]),
        in_keys=["logits"],
        distribution_class=torch.distributions.Categorical,
        return_log_prob=True,
    )
    critic = ValueOperator(critic_net, in_keys=["observation"])
    return ActorCritic(actor, critic)
