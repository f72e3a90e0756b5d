"""Where a trained student departs from its teacher: KL(pi_T || pi_S) per state text.

Collects ``--frames`` on-policy frames with the checkpoint's student acting (the real
collector and teacher transform, fresh training-distribution episodes), then groups the
steps by the teacher's state text. A student that copies its teacher everywhere has a
KL near 0 in every row; large rows are where it learned something else, for better
(LavaDoorKey: around the lava its teacher walks into) or worse.

    python benchmarks/teacher_disagreement.py \\
        --ckpt runs/ColoredDoorKey-soft-seed0/checkpoints/last.ckpt \\
        --config configs/coloreddoorkey.yaml
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
import yaml
from torchrl.envs import TransformedEnv

from llm4teach.domains.minigrid import Describer
from llm4teach.teacher import TeacherConfig
from llm4teach.training.data import make_collector
from llm4teach.training.evaluation import load_module
from llm4teach.training.loss import teacher_kl


def disagreement(ckpt: str, teacher: TeacherConfig, frames: int, seed: int) -> list[dict]:
    """Rows per state text, most total KL first: steps, mean KL, argmax agreement."""
    torch.manual_seed(seed)
    module = load_module(ckpt)
    task, student = module.hparams.task, module.student
    env = TransformedEnv(module.domain.make_env(16, seed), module.domain.make_teacher(teacher))
    collector = make_collector(env, student, frames)
    rollout = collector.next()  # [envs, time], every env starting a fresh episode
    collector.shutdown()
    texts = _texts(task, rollout["observation"].numpy(), rollout["next", "done"][..., 0])
    batch = rollout.reshape(-1)
    probs, mask = batch["teacher_probs"], batch["teacher_mask"]
    with torch.no_grad():
        log_student = student.logits(batch["observation"]).log_softmax(-1)
    kl = teacher_kl(probs, log_student)
    agree = log_student.argmax(-1) == probs.argmax(-1)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        if mask[i]:
            groups[text].append(i)
    rows = [{"text": text, "steps": len(idx), "kl": float(kl[idx].mean()),
             "agreement": float(agree[idx].float().mean())} for text, idx in groups.items()]
    return sorted(rows, key=lambda r: -r["kl"] * r["steps"])


def _texts(task: str, obs: np.ndarray, done: torch.Tensor) -> list[str]:
    """State texts in ``rollout.reshape(-1)`` order, one describer per env, reset per
    episode (TwoDoor's door numbers belong to the episode, as the teacher's)."""
    texts = []
    for env_obs, env_done in zip(obs, done.tolist(), strict=True):
        describer = Describer(task)
        for frame, ended in zip(env_obs, env_done, strict=True):
            texts.append(describer(frame).text)
            if ended:
                describer.reset()
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint of llm4teach fit")
    parser.add_argument("--config", help="the run's config, for its data.teacher settings")
    parser.add_argument("--frames", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    teacher = {}
    if args.config:
        with open(args.config) as f:
            teacher = (yaml.safe_load(f).get("data") or {}).get("teacher") or {}
    rows = disagreement(args.ckpt, TeacherConfig(**teacher), args.frames, args.seed)
    steps = sum(r["steps"] for r in rows)
    mean = sum(r["kl"] * r["steps"] for r in rows) / steps
    print(f"{steps} judged steps, mean KL(teacher || student) {mean:.3f}\n")
    print("| state text | share of steps | mean KL | argmax agrees |\n|---|---:|---:|---:|")
    for r in rows:
        share = r["steps"] / steps
        print(f"| `{r['text']}` | {share:.0%} | {r['kl']:.2f} | {r['agreement']:.0%} |")


if __name__ == "__main__":
    main()
