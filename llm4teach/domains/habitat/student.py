"""Visual actor-critic for egocentric RGB + depth (the Habitat domain's student).

A small strided CNN (Nature-DQN shaped, narrower) shared by the actor and the critic
(``ActorCritic``, a TorchRL ``ActorValueOperator``), so a PPO step encodes each image
once. Images arrive as uint8 ``[..., 4, H, W]`` and are scaled inside the network,
which keeps rollouts four times smaller than float and lets autocast (``bf16-mixed``,
``16-mixed``) cover the convolutions.
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn

from llm4teach.domains.minigrid.student import ActorCritic, assemble


class VisualEncoder(nn.Module):
    """uint8 ``[..., C, H, W]`` -> float ``[..., features]``; any leading batch dims."""

    def __init__(self, image_shape: tuple[int, int, int], features: int = 256):
        super().__init__()
        channels, side = image_shape[0], min(image_shape[1:])
        # Nature-DQN strides from 36 pixels up; gentler ones keep small images (16..35) alive.
        (k1, s1), (k2, s2) = ((8, 4), (4, 2)) if side >= 36 else ((4, 2), (3, 2))
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, k1, stride=s1), nn.ReLU(),
            nn.Conv2d(32, 64, k2, stride=s2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, *image_shape)).shape[-1]
        self.head = nn.Sequential(nn.Linear(flat, features), nn.ReLU())
        self.features = features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        x = image.reshape(-1, *image.shape[-3:]).float() / 255.0
        return self.head(self.conv(x)).reshape(*lead, self.features)


def make_visual_actor_critic(
    image_shape: tuple[int, int, int], num_actions: int, features: int = 256, hidden: int = 64
) -> ActorCritic:
    """Shared encoder (``observation`` -> ``hidden``), a categorical policy head
    (``logits``, ``action`` and its log-probability) and a value head (``state_value``):
    the same ``ActorCritic`` as the memory-map student, so the same trainer runs it.
    """
    encoder = TensorDictModule(
        VisualEncoder(image_shape, features), in_keys=["observation"], out_keys=["hidden"]
    )
    return assemble(encoder, features, num_actions, hidden)
