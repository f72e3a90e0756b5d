"""PPO + distillation update throughput of the visual student per precision plugin.

The trainer's own update (``PPOTeacherModule.advantages`` and ``.losses`` on the
``TidyHabitat`` task): one batch is collected once; then update passes (3 epochs of
minibatches, as in training) alternate between the precisions, round after round, so
that a shared machine's load drift hits every precision alike. Reports the median
frames/s per precision and the speed-up over ``32-true``.

    python benchmarks/habitat_precision.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from lightning.fabric import Fabric
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.teacher import TeacherConfig
from llm4teach.training import PPOTeacherModule

TASK = "TidyHabitat"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--frames-per-batch", type=int, default=512)
    parser.add_argument("--minibatch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    args = parser.parse_args()
    torch.manual_seed(0)
    domain = resolve(TASK)
    module = PPOTeacherModule(task=TASK)
    module.loss.distill_coef.fill_(1.0)
    env = TransformedEnv(domain.make_env(args.num_envs, seed=0),
                         domain.make_teacher(TeacherConfig(fallback="mask")))
    with torch.no_grad():
        batch = env.rollout(args.frames_per_batch // args.num_envs, module.student,
                            break_when_any_done=False)
    fabrics = {p: Fabric(accelerator="cpu", devices=1, precision=p) for p in args.precisions}
    optimizer = module.configure_optimizers()
    seconds: dict[str, list[float]] = {p: [] for p in args.precisions}
    for _ in range(args.rounds + 1):  # the first round warms up and is not counted
        for precision, fabric in fabrics.items():
            start = time.perf_counter()
            rollout = batch.clone()
            with fabric.autocast():
                module.advantages(rollout)
            flat = rollout.reshape(-1)
            for _ in range(args.epochs):
                for idx in torch.randperm(flat.numel()).split(args.minibatch):
                    with fabric.autocast():
                        loss = module.losses(flat[idx])["loss"]
                    optimizer.zero_grad()
                    fabric.backward(loss)
                    optimizer.step()
            seconds[precision].append(time.perf_counter() - start)
    frames = batch.numel()
    fps = {p: frames / statistics.median(s[1:]) for p, s in seconds.items()}
    base = fps.get("32-true")
    print(json.dumps({"frames_per_batch": frames, "threads": torch.get_num_threads(),
                      "update_frames_per_second": {p: round(v, 1) for p, v in fps.items()},
                      "speedup_vs_fp32": {p: round(v / base, 2) for p, v in fps.items()}
                      if base else None}))


if __name__ == "__main__":
    main()
