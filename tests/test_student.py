"""The student networks: shapes, TorchRL's default keys, every encoder, strides, frames."""

import numpy as np
import pytest
import torch
from minigrid.core.constants import DIR_TO_VEC
from tensordict import TensorDict

from llm4teach.domains.minigrid import make_gym_env
from llm4teach.domains.minigrid.student import ConvBody, make_actor_critic


@pytest.mark.parametrize("frame", ["map", "agent"])
@pytest.mark.parametrize("encoder", ["onehot", "embedding", "conv"])
@pytest.mark.parametrize("size", [10, 20])
def test_actor_critic_keys_and_shapes(encoder, size, frame):
    torch.manual_seed(0)
    net = make_actor_critic((size, size, 4), encoder=encoder, frame=frame)
    obs = torch.randint(0, 11, (3, 5, size, size, 4), dtype=torch.uint8)
    td = net(TensorDict(observation=obs, batch_size=[3, 5]))
    assert "hidden" not in td  # rollouts never carry the features
    assert td["action"].shape == (3, 5) and td["action"].dtype == torch.int64
    assert td["logits"].shape == (3, 5, 7)
    assert td["state_value"].shape == (3, 5, 1)
    log_prob = td[net.actor_head.log_prob_keys[0]]
    expected = td["logits"].log_softmax(-1).gather(-1, td["action"][..., None])[..., 0]
    torch.testing.assert_close(log_prob, expected)
    torch.testing.assert_close(net.logits(obs), td["logits"])
    torch.testing.assert_close(net.value(obs), td["state_value"])


def test_actor_and_critic_share_the_body():
    net = make_actor_critic((10, 10, 4))
    actor = {id(p) for p in net.get_policy_operator().parameters()}
    critic = {id(p) for p in net.get_value_operator().parameters()}
    assert actor & critic and actor != critic


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="encoder must be one of onehot, embedding, conv"):
        make_actor_critic((10, 10, 4), encoder="lstm")


@pytest.mark.parametrize(("size", "strides", "cells"), [(10, (2,), 25), (10, (1, 2), 25),
                                                        (20, (2, 2), 25), (9, (2,), 25)])
def test_strides_shrink_the_features_the_heads_read(size, strides, cells):
    body = ConvBody(size, size, encoder="onehot", channels=(16,) * len(strides), strides=strides)
    assert body.out_features == 16 * cells
    obs = torch.randint(0, 11, (2, size, size, 4), dtype=torch.uint8)
    assert body(obs).shape == (2, body.out_features)


def test_strides_must_match_channels():
    with pytest.raises(ValueError, match="one positive integer per channel"):
        make_actor_critic((10, 10, 4), channels=(16, 16), strides=(2,))


def _turned_neighbours(body, obs, x, y, direction):
    """(ahead, right) of the agent at (x, y) in the turned map, as (object, colour) codes."""
    turned = body.turn(torch.from_numpy(obs[None]))[0].numpy()
    (tx,), (ty,) = np.nonzero(turned[..., 3] != 4)
    assert turned[tx, ty, 3] == 3  # the agent faces up, whichever way it faced
    side = turned.shape[0]
    ahead = tuple(turned[tx, ty - 1, :2]) if ty > 0 else None
    right = tuple(turned[tx + 1, ty, :2]) if tx + 1 < side else None
    return ahead, right


def _coded_map(width: int, height: int, x: int, y: int, direction: int) -> np.ndarray:
    """A map whose every cell holds its own codes (x + 1, y + 1), the agent at (x, y)."""
    obs = np.zeros((width, height, 4), dtype=np.uint8)
    obs[..., 0], obs[..., 1] = np.meshgrid(np.arange(width) + 1, np.arange(height) + 1,
                                           indexing="ij")
    obs[..., 3] = 4
    obs[x, y, 3] = direction
    return obs


@pytest.mark.parametrize(("width", "height"), [(4, 4), (5, 3), (3, 6)])
def test_agent_frame_puts_ahead_up_and_right_right_for_every_direction(width, height):
    """Every cell holds its own codes (x, y); the cell ahead of the agent must land above it
    and the cell on its right to its right, in square and padded non-square maps."""
    body = ConvBody(width, height, frame="agent", channels=(4,))
    assert body.out_features == 4 * max(width, height) ** 2
    for x in range(width):
        for y in range(height):
            for direction in range(4):
                obs = _coded_map(width, height, x, y, direction)
                fx, fy = DIR_TO_VEC[direction]
                ahead, right = _turned_neighbours(body, obs, x, y, direction)
                for (dx, dy), seen in (((fx, fy), ahead), ((-fy, fx), right)):
                    nx, ny = x + dx, y + dy
                    inside = 0 <= nx < width and 0 <= ny < height
                    assert seen == ((nx + 1, ny + 1) if inside else (0, 0) if seen else None)


def test_agent_frame_on_real_minigrid_states():
    body = ConvBody(10, 10, frame="agent", channels=(4,))
    env, rng = make_gym_env("SimpleDoorKey"), np.random.default_rng(0)
    for episode in range(5):
        obs, _ = env.reset(seed=episode)
        for _ in range(30):
            obs, *_ = env.step(int(rng.integers(0, 3)))
            agent = env.unwrapped
            (x, y), direction = agent.agent_pos, agent.agent_dir
            fx, fy = DIR_TO_VEC[direction]
            ahead, right = _turned_neighbours(body, obs, x, y, direction)
            assert ahead == tuple(obs[x + fx, y + fy, :2])
            assert right == tuple(obs[x - fy, y + fx, :2])


def test_unknown_frame_is_a_clear_error():
    with pytest.raises(ValueError, match="frame must be one of map, agent"):
        make_actor_critic((10, 10, 4), frame="ego")
