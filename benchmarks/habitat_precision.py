"""PPO + distillation update throughput of the visual student per precision plugin.

One batch is collected once; then update passes (3 epochs of minibatches, as in
training) alternate between the precisions, round after round, so that a shared
machine's load drift hits every precision alike. Reports the median frames/s per
precision and the speed-up over ``32-true``.

    python benchmarks/habitat_precision.py [--resolution 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from habitat_train import make_env
from lightning.fabric import Fabric
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

from llm4teach.student.visual import make_visual_actor_critic
from llm4teach.training.distill import TeacherDistillLoss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--frames-per-batch", type=int, default=512)
    parser.add_argument("--minibatch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    args = parser.parse_args()
    torch.manual_seed(0)
    env = make_env(args, seed=0, teacher=True)
    model = make_visual_actor_critic(env.observation_spec["observation"].shape[1:],
                                     env.action_spec.n)
    policy, value = model.get_policy_operator(), model.get_value_operator()
    with torch.no_grad():
        batch = env.rollout(args.frames_per_batch // args.num_envs, policy,
                            break_when_any_done=False)
    loss_module = ClipPPOLoss(policy, value, clip_epsilon=0.2, entropy_coeff=0.001,
                              critic_coeff=0.5, normalize_advantage=True, clip_value=0.2)
    gae = GAE(gamma=0.99, lmbda=0.95, value_network=value, average_gae=False)
    distill = TeacherDistillLoss(policy, coef=1.0)
    fabrics = {p: Fabric(accelerator="cpu", devices=1, precision=p) for p in args.precisions}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds: dict[str, list[float]] = {p: [] for p in args.precisions}
    for _ in range(args.rounds + 1):  # the first round warms up and is not counted
        for precision, fabric in fabrics.items():
            start = time.perf_counter()
            with torch.no_grad(), fabric.autocast():
                gae(batch)
            flat = batch.reshape(-1)
            for _ in range(args.epochs):
                for idx in torch.randperm(flat.numel()).split(args.minibatch):
                    mb = flat[idx]
                    with fabric.autocast():
                        losses = loss_module(mb)
                        loss = (losses["loss_objective"] + losses["loss_critic"]
                                + losses["loss_entropy"] + distill(mb)["loss_distill"])
                    optimizer.zero_grad()
                    fabric.backward(loss)
                    optimizer.step()
            seconds[precision].append(time.perf_counter() - start)
    frames = batch.numel()
    fps = {p: frames / statistics.median(s[1:]) for p, s in seconds.items()}
    base = fps.get("32-true")
    print(json.dumps({"resolution": args.resolution, "frames_per_batch": frames,
                      "threads": torch.get_num_threads(),
                      "update_frames_per_second": {p: round(v, 1) for p, v in fps.items()},
                      "speedup_vs_fp32": {p: round(v / base, 2) for p, v in fps.items()}
                      if base else None}))


if __name__ == "__main__":
    main()
