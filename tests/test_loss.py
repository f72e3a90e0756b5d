"""The student's loss: TorchRL's clipped PPO terms, and the teacher term KL(teacher || student)."""

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import ClipPPOLoss

from llm4teach.domains.minigrid.student import make_actor_critic
from llm4teach.training import PPOTeacherLoss


def _batch(net, n=6, seed=0):
    """A minibatch as the update sees it: the collector's keys, GAE's, the teacher's."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 11, (n, 10, 10, 4), dtype=torch.uint8, generator=g)
    with torch.no_grad():
        td = net(TensorDict(observation=obs, batch_size=[n]))
    td["action_log_prob"] = td["action_log_prob"] + 0.3 * torch.randn(n, generator=g)
    td["state_value"] = td["state_value"] + torch.randn(n, 1, generator=g)
    td.update(advantage=torch.randn(n, 1, generator=g), value_target=torch.randn(n, 1, generator=g),
              teacher_probs=torch.rand(n, 7, generator=g).softmax(-1),
              teacher_mask=torch.tensor([True, False] * (n // 2)))
    return td


def _student_log_probs(net, td):
    return net.logits(td["observation"]).log_softmax(-1)


@pytest.mark.parametrize("clip_value", [0.2, 0.0])
def test_ppo_terms_and_gradients_equal_torchrl_clip_ppo_loss(clip_value):
    torch.manual_seed(0)
    net = make_actor_critic((10, 10, 4))
    td = _batch(net, n=8)
    ours = PPOTeacherLoss(net, clip_epsilon=0.2, clip_value=clip_value, entropy_coef=0.01,
                          value_coef=0.5)(td)
    theirs = ClipPPOLoss(net.get_policy_operator(), net.get_value_operator(), clip_epsilon=0.2,
                         clip_value=clip_value, entropy_coeff=0.01, critic_coeff=0.5,
                         normalize_advantage=False, functional=False)(td.clone())
    for key in ("loss_objective", "loss_critic", "loss_entropy", "entropy", "kl_approx",
                "clip_fraction"):
        torch.testing.assert_close(ours[key], theirs[key].reshape(()), msg=key)
    assert 0.0 < float(ours["clip_fraction"]) < 1.0  # the batch exercises both sides of the clip

    def grads(terms):
        net.zero_grad()
        sum(terms[k] for k in ("loss_objective", "loss_critic", "loss_entropy")).backward()
        return [p.grad.clone() for p in net.parameters()]

    for a, b in zip(grads(PPOTeacherLoss(net, clip_value=clip_value, entropy_coef=0.01)(td)),
                    grads(ClipPPOLoss(net.get_policy_operator(), net.get_value_operator(),
                                      clip_value=clip_value, entropy_coeff=0.01, critic_coeff=0.5,
                                      normalize_advantage=False, functional=False)(td.clone())),
                    strict=True):
        torch.testing.assert_close(a, b)


def test_kl_matches_the_definition_on_masked_steps():
    torch.manual_seed(0)
    net = make_actor_critic((10, 10, 4))
    td = _batch(net)
    out = PPOTeacherLoss(net, distill_coef=2.5)(td)
    p, log_s = td["teacher_probs"], _student_log_probs(net, td)
    kl = (p * (p.log() - log_s)).sum(-1)[td["teacher_mask"]].mean()
    torch.testing.assert_close(out["kl_teacher"], kl.detach())
    torch.testing.assert_close(out["loss_distill"], 2.5 * kl)


def test_gradient_equals_the_reference_cross_entropy():
    torch.manual_seed(0)
    net = make_actor_critic((10, 10, 4))
    td = _batch(net)
    PPOTeacherLoss(net, distill_coef=1.0)(td)["loss_distill"].backward()
    kl_grads = [p.grad.clone() for p in net.get_policy_operator().parameters()]
    net.zero_grad()
    p, m = td["teacher_probs"], td["teacher_mask"]
    (-(p * _student_log_probs(net, td)).sum(-1)[m].mean()).backward()
    grads = [p.grad for p in net.get_policy_operator().parameters()]
    for a, b in zip(kl_grads, grads, strict=True):
        torch.testing.assert_close(a, b)


def test_nothing_to_learn_costs_nothing():
    net = make_actor_critic((10, 10, 4))
    td = _batch(net)
    assert float(PPOTeacherLoss(net, distill_coef=0.0)(td)["loss_distill"]) == 0.0
    td["teacher_mask"] = torch.zeros(6, dtype=torch.bool)
    assert float(PPOTeacherLoss(net, distill_coef=1.0)(td)["loss_distill"]) == 0.0
    assert float(PPOTeacherLoss(net, distill_coef=1.0)(td.exclude("teacher_probs"))
                 ["loss_distill"]) == 0.0


def test_student_equal_to_teacher_has_zero_kl_and_full_agreement():
    net = make_actor_critic((10, 10, 4))
    td = _batch(net)
    td["teacher_probs"] = _student_log_probs(net, td).exp().detach()
    out = PPOTeacherLoss(net, distill_coef=1.0)(td)
    assert abs(float(out["kl_teacher"])) < 1e-5
    assert float(out["teacher_agreement"]) == 1.0


def test_keys_are_configurable():
    net = make_actor_critic((10, 10, 4))
    td = _batch(net).rename_key_("teacher_probs", "pi_t").rename_key_("advantage", "adv")
    loss = PPOTeacherLoss(net, distill_coef=1.0)
    loss.set_keys(teacher_probs="pi_t", advantage="adv")
    assert "pi_t" in loss.in_keys and "adv" in loss.in_keys
    assert float(loss(td)["loss_distill"]) > 0
