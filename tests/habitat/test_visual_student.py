"""The visual student: shapes, autocast (bf16-mixed) and a short imitation of the teacher."""

import subprocess
import sys

import torch
from helpers import teacher_of
from lightning.fabric import Fabric
from torchrl.envs import TransformedEnv

from llm4teach.domains.habitat import SKILLS, SkillBatchEnv
from llm4teach.domains.habitat.student import VisualEncoder, make_visual_actor_critic
from llm4teach.teacher import TeacherTransform


def test_encoder_accepts_any_leading_batch_dims():
    encoder = VisualEncoder((4, 32, 32), features=16)
    out = encoder(torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8))
    assert out.shape == (2, 3, 16) and out.dtype == torch.float32


def test_bf16_mixed_imitation_lowers_the_kl_to_the_teacher():
    torch.manual_seed(0)
    env = TransformedEnv(SkillBatchEnv(num_envs=4, seed=0, resolution=32),
                         TeacherTransform(teacher_of("TidyHabitat")))
    batch = env.rollout(32, break_when_any_done=False).reshape(-1)
    model = make_visual_actor_critic((4, 32, 32), len(SKILLS), features=64)
    policy = model.get_policy_operator()
    fabric = Fabric(accelerator="cpu", devices=1, precision="bf16-mixed")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def kl() -> torch.Tensor:
        logits = policy.get_dist(batch.clone()).logits.float()
        probs = batch["teacher_probs"]
        return (probs * (probs.clamp_min(1e-8).log() - logits.log_softmax(-1))).sum(-1).mean()

    with torch.no_grad():
        before = kl()
    for _ in range(30):
        with fabric.autocast():
            loss = kl()
        optimizer.zero_grad()
        fabric.backward(loss)
        optimizer.step()
    with torch.no_grad(), fabric.autocast():  # the encoder runs in bf16, the heads end in fp32
        assert model.body(batch[:2].clone())["hidden"].dtype == torch.bfloat16
        assert policy.get_dist(batch[:2].clone()).logits.dtype == torch.float32
    with torch.no_grad():
        assert kl() < 0.7 * before


def test_main_package_never_imports_habitat():
    code = ("import sys, llm4teach.domains.minigrid, llm4teach.domains.habitat, "
            "llm4teach.domains.habitat.habitat_lab, llm4teach.domains.habitat.teacher; "
            "sys.exit(int(any(m in sys.modules for m in ('habitat', 'gym', 'habitat_sim'))))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
