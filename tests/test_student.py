"""The student networks: shapes, TorchRL's default keys, every encoder, strides."""

import pytest
import torch
from tensordict import TensorDict

from llm4teach.student import make_actor_critic


@pytest.mark.parametrize("encoder", ["onehot", "embedding", "conv"])
@pytest.mark.parametrize("size", [10, 20])
def test_actor_critic_keys_and_shapes(encoder, size):
    torch.manual_seed(0)
    net = make_actor_critic((size, size, 4), encoder=encoder)
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
    from llm4teach.student.networks import ConvBody

    body = ConvBody(size, size, encoder="onehot", channels=(16,) * len(strides), strides=strides)
    assert body.out_features == 16 * cells
    obs = torch.randint(0, 11, (2, size, size, 4), dtype=torch.uint8)
    assert body(obs).shape == (2, body.out_features)


def test_strides_must_match_channels():
    with pytest.raises(ValueError, match="one positive integer per channel"):
        make_actor_critic((10, 10, 4), channels=(16, 16), strides=(2,))
