"""The teacher term: masked KL(teacher || student), weighted by lambda."""

import torch
from tensordict import TensorDict

from llm4teach.student import make_actor_critic
from llm4teach.training import TeacherDistillLoss


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 11, (n, 10, 10, 4), dtype=torch.uint8, generator=g)
    probs = torch.rand(n, 7, generator=g).softmax(-1)
    mask = torch.tensor([True, False] * (n // 2))
    return TensorDict(observation=obs, teacher_probs=probs, teacher_mask=mask, batch_size=[n])


def _student_log_probs(net, td):
    return net.logits(td["observation"]).log_softmax(-1)


def test_kl_matches_the_definition_on_masked_steps():
    torch.manual_seed(0)
    net = make_actor_critic((10, 10, 4))
    td = _batch()
    out = TeacherDistillLoss(net.get_policy_operator(), coef=2.5)(td)
    p, log_s = td["teacher_probs"], _student_log_probs(net, td)
    kl = (p * (p.log() - log_s)).sum(-1)[td["teacher_mask"]].mean()
    torch.testing.assert_close(out["kl_teacher"], kl.detach())
    torch.testing.assert_close(out["loss_distill"], 2.5 * kl)


def test_gradient_equals_the_reference_cross_entropy():
    torch.manual_seed(0)
    net = make_actor_critic((10, 10, 4))
    td = _batch()
    TeacherDistillLoss(net.get_policy_operator(), coef=1.0)(td)["loss_distill"].backward()
    kl_grads = [p.grad.clone() for p in net.get_policy_operator().parameters()]
    net.zero_grad()
    p, m = td["teacher_probs"], td["teacher_mask"]
    (-(p * _student_log_probs(net, td)).sum(-1)[m].mean()).backward()
    grads = [p.grad for p in net.get_policy_operator().parameters()]
    for a, b in zip(kl_grads, grads, strict=True):
        torch.testing.assert_close(a, b)


def test_nothing_to_learn_costs_nothing():
    policy = make_actor_critic((10, 10, 4)).get_policy_operator()
    td = _batch()
    assert float(TeacherDistillLoss(policy, coef=0.0)(td)["loss_distill"]) == 0.0
    td["teacher_mask"] = torch.zeros(6, dtype=torch.bool)
    assert float(TeacherDistillLoss(policy, coef=1.0)(td)["loss_distill"]) == 0.0
    assert float(TeacherDistillLoss(policy, coef=1.0)(td.exclude("teacher_probs"))
                 ["loss_distill"]) == 0.0


def test_student_equal_to_teacher_has_zero_kl_and_full_agreement():
    net = make_actor_critic((10, 10, 4))
    td = _batch()
    td["teacher_probs"] = _student_log_probs(net, td).exp().detach()
    out = TeacherDistillLoss(net.get_policy_operator(), coef=1.0)(td)
    assert abs(float(out["kl_teacher"])) < 1e-5
    assert float(out["teacher_agreement"]) == 1.0


def test_keys_are_configurable():
    net = make_actor_critic((10, 10, 4))
    td = _batch().rename_key_("teacher_probs", "pi_t")
    loss = TeacherDistillLoss(net.get_policy_operator(), coef=1.0)
    loss.set_keys(teacher_probs="pi_t")
    assert float(loss(td)["loss_distill"]) > 0
