"""MiniGrid's student: the actor-critic on the memory-map observation.

The reference student runs three 3x3 convolutions (16, 32, 64 channels, padding 1, no
pooling) on the raw integer codes, then separate actor and critic heads
(Linear 64, ReLU, Linear). Raw codes make "key" (5) look numerically close to "door"
(4); the ``embedding`` encoder looks each code up in a learned table first, so the
convolutions see categories, not magnitudes.

The map is allocentric: whether "forward" or "turn left" leads to the key depends on
which way the agent faces, so a student of the map as it is must learn each decision
four times. ``frame="agent"`` turns the map (a quarter turn per direction, exact) so that
the agent always faces up: ahead is up, left is left, in every state: one decision
serves every direction (measured: docs/log/2026-12-04-benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from tensordict.nn import TensorDictModule
from torch import nn

from llm4teach.domains.minigrid.memory_map import NO_DIRECTION
from llm4teach.student import ActorCritic, assemble

ENCODERS = ("onehot", "embedding", "conv")
FRAMES = ("map", "agent")
CODES_PER_CHANNEL = 16  # MiniGrid object (0..10), colour (0..5), state (0..2), direction (0..4)
UP = 3  # MiniGrid's direction code of "up" (-y); 0 is right (+x), then clockwise


def quarter_turns(width: int, height: int) -> np.ndarray:
    """``[4, S * S]`` source cells that turn a ``(W, H)`` map so that an agent facing
    direction ``d`` faces up: ``turned.flat[i] = map.flat[table[d, i]]`` with cells
    flattened as ``x * H + y``. The map is first padded to a square of side
    ``S = max(W, H)`` (source cell ``W * H`` is the padding), so every turn has one shape.
    """
    last = max(width, height) - 1
    x, y = np.meshgrid(np.arange(width), np.arange(height), indexing="ij")
    # where cell (x, y) lands when direction d turns to up (ahead of the agent is -y)
    lands = {0: (y, last - x), 1: (last - x, last - y), 2: (last - y, x), 3: (x, y)}
    table = np.full((4, (last + 1) ** 2), width * height, dtype=np.int64)
    for d, (tx, ty) in lands.items():
        table[d, (tx * (last + 1) + ty).reshape(-1)] = (x * height + y).reshape(-1)
    return table


class ConvBody(nn.Module):
    """Memory map ``[..., W, H, 4]`` (uint8) -> features ``[..., channels[-1] * W * H]``.

    ``embedding``: each channel's code indexes its own part of one table of
    ``embed_dim``-vectors; the four vectors of a cell are concatenated. ``conv``: the
    raw codes as floats (the reference). ``channels``: the 3x3 convolutions (padding 1);
    ``strides``: theirs (1 each by default, the reference's: no downsampling). A stride of
    2 in the last one quarters the features the heads read, which is most of the cost.
    ``frame``: ``map`` reads the map as it is (the reference); ``agent`` turns it first so
    that the agent faces up (a non-square map is padded to a square), and its cell shows
    only where it stands (direction code "up").
    """

    def __init__(self, width: int, height: int, encoder: str = "embedding", embed_dim: int = 8,
                 channels: Sequence[int] = (16, 32, 64), strides: Sequence[int] | None = None,
                 frame: str = "map"):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        if frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
        self.encoder, self.frame = encoder, frame
        turns = torch.from_numpy(quarter_turns(width, height)) if frame == "agent" else None
        self.register_buffer("turns", turns, persistent=False)
        if frame == "agent":
            width = height = max(width, height)
        in_channels = {"onehot": 4 * CODES_PER_CHANNEL, "embedding": 4 * embed_dim,
                       "conv": 4}[encoder]
        if encoder == "embedding":
            self.embed = nn.Embedding(4 * CODES_PER_CHANNEL, embed_dim)
        self.register_buffer("offsets", torch.arange(4) * CODES_PER_CHANNEL, persistent=False)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be positive integers, got {channels!r}")
        strides = tuple(strides) if strides is not None else (1,) * len(channels)
        if len(strides) != len(channels) or min(strides) < 1:
            raise ValueError(f"strides must be one positive integer per channel entry, got "
                             f"{strides!r} for channels {tuple(channels)!r}")
        layers: list[nn.Module] = []
        for out, stride in zip(channels, strides, strict=True):
            layers += [nn.Conv2d(in_channels, out, 3, padding=1, stride=stride), nn.ReLU()]
            in_channels = out
            width, height = (width - 1) // stride + 1, (height - 1) // stride + 1
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.out_features = channels[-1] * width * height

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-3]
        obs = obs.reshape(-1, *obs.shape[-3:])
        if self.frame == "agent":
            obs = self.turn(obs)
        if self.encoder == "conv":
            return self.convs(obs.float().permute(0, 3, 1, 2)).reshape(*lead, -1)
        codes = obs.long().clamp(max=CODES_PER_CHANNEL - 1) + self.offsets
        if self.encoder == "embedding":
            # index_select, not embed(codes): the same lookup, its backward 3x cheaper on CPU
            x = self.embed.weight.index_select(0, codes.reshape(-1))
            x = x.reshape(*codes.shape[:3], -1).permute(0, 3, 1, 2)  # [B, 4 * embed_dim, W, H]
        else:
            x = torch.zeros(obs.shape[0], 4 * CODES_PER_CHANNEL, *obs.shape[1:3],
                            device=obs.device)
            x.scatter_(1, codes.permute(0, 3, 1, 2), 1.0)  # [B, 64, W, H], four ones per cell
        return self.convs(x).reshape(*lead, -1)

    def turn(self, obs: torch.Tensor) -> torch.Tensor:
        """Maps ``[B, W, H, 4]`` -> ``[B, S, S, 4]``, each turned so its agent faces up."""
        cells = obs.reshape(obs.shape[0], -1, obs.shape[-1])
        direction = cells[..., 3]
        facing = direction.amin(-1).long() % 4  # the agent's cell holds it, every other 4
        marks = torch.where(direction < NO_DIRECTION, UP, NO_DIRECTION).to(cells.dtype)
        pad = cells.new_tensor([0, 0, 0, NO_DIRECTION]).expand(cells.shape[0], 1, 4)
        cells = torch.cat([torch.cat([cells[..., :3], marks.unsqueeze(-1)], -1), pad], 1)
        index = self.turns[facing].unsqueeze(-1).expand(-1, -1, cells.shape[-1])
        side = math.isqrt(self.turns.shape[1])
        return cells.gather(1, index).reshape(obs.shape[0], side, side, cells.shape[-1])


def make_actor_critic(
    obs_shape: tuple[int, ...],
    num_actions: int = 7,
    encoder: str = "embedding",
    hidden: int = 64,
    embed_dim: int = 8,
    channels: Sequence[int] = (16, 32, 64),
    strides: Sequence[int] | None = None,
    frame: str = "map",
) -> ActorCritic:
    """Build the student for observations of shape ``(W, H, 4)``.

    Example:
        >>> from tensordict import TensorDict
        >>> net = make_actor_critic((10, 10, 4))
        >>> td = net(TensorDict(observation=torch.zeros(2, 10, 10, 4, dtype=torch.uint8),
        ...                     batch_size=[2]))
        >>> td["action"].shape, td["state_value"].shape, "hidden" in td
        (torch.Size([2]), torch.Size([2, 1]), False)
    """
    width, height = int(obs_shape[0]), int(obs_shape[1])
    body = ConvBody(width, height, encoder=encoder, embed_dim=embed_dim, channels=channels,
                    strides=strides, frame=frame)
    return assemble(TensorDictModule(body, in_keys=["observation"], out_keys=["hidden"]),
                    body.out_features, num_actions, hidden)
