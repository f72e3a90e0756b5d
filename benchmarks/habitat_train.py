"""Visual student on the small Habitat-style world: learning with/without the teacher,
and training frames/s per precision (``32-true``, ``bf16-mixed``, ``16-mixed``).

The same recipe as the MiniGrid trainer (TorchRL ``Collector``, ``GAE``, ``ClipPPOLoss``
plus the trainer's ``TeacherDistillLoss``: ``lambda * KL(teacher || student)`` on the
steps where the teacher has an opinion),
run under Lightning Fabric so that the precision is Lightning's own plugin. A frame is
one skill decision. Prints one JSON line per update and writes a JSON summary.

    python benchmarks/habitat_train.py --config configs/habitat_tidy.yaml --out run.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from lightning.fabric import Fabric
from torchrl.collectors import Collector
from torchrl.envs import ExplorationType, TransformedEnv, set_exploration_type
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

from llm4teach.envs.habitat import SkillBatchEnv
from llm4teach.student.visual import make_visual_actor_critic
from llm4teach.teacher.habitat import SkillTeacher, SkillTeacherTransform
from llm4teach.training.distill import TeacherDistillLoss


def make_env(args: argparse.Namespace, seed: int, teacher: bool) -> TransformedEnv:
    env = SkillBatchEnv(num_envs=args.num_envs, seed=seed, resolution=args.resolution)
    return TransformedEnv(env, SkillTeacherTransform(enabled=teacher))


@torch.no_grad()
def evaluate(policy, args: argparse.Namespace, episodes: int) -> dict[str, float]:
    """Success rate and mean return of the sampled policy on held-out seeds."""
    env = SkillBatchEnv(num_envs=episodes, seed=10_000, resolution=args.resolution)
    with set_exploration_type(ExplorationType.RANDOM):  # sampled, as the spec evaluates
        td = env.rollout(env.envs[0].max_skills, policy, break_when_any_done=False)
    reward, done = td["next", "reward"][..., 0], td["next", "done"][..., 0]
    first_done = done.cumsum(-1).cumsum(-1) == 1  # the first done step of each episode
    returns = (reward * first_done).sum(-1)
    return {"success": float((returns > 0).float().mean()), "return": float(returns.mean())}


@torch.no_grad()
def teacher_as_policy(args: argparse.Namespace, episodes: int) -> dict[str, float]:
    """The same evaluation with the teacher acting (sampling pi_T)."""
    teacher = SkillTeacher()

    def act(td):
        probs, _ = teacher.act_probs(td["scene"])
        td["action"] = torch.multinomial(torch.from_numpy(probs), 1).squeeze(-1)
        return td

    return evaluate(act, args, episodes)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    fabric = Fabric(accelerator="cpu", devices=1, precision=args.precision)
    env = make_env(args, args.seed, teacher=args.lam > 0)
    model = make_visual_actor_critic(env.observation_spec["observation"].shape[1:],
                                     env.action_spec.n)
    policy, value = model.get_policy_operator(), model.get_value_operator()
    loss_module = ClipPPOLoss(policy, value, clip_epsilon=0.2, entropy_coeff=0.001,
                              critic_coeff=0.5, normalize_advantage=True, clip_value=0.2)
    gae = GAE(gamma=0.99, lmbda=0.95, value_network=value, average_gae=False)
    distill = TeacherDistillLoss(policy)  # the trainer's own teacher term
    optimizer = fabric.setup_optimizers(torch.optim.Adam(model.parameters(), lr=args.lr))
    collector = Collector(env, policy, frames_per_batch=args.frames_per_batch,
                          total_frames=args.frames)
    history, frames, train_seconds = [], 0, 0.0
    start = time.perf_counter()
    for update, batch in enumerate(collector):
        t0 = time.perf_counter()
        lam = args.lam * max(args.lam_floor, 1 - frames / args.lam_decay_frames)
        distill.coef.fill_(lam)
        frames += batch.numel()
        with torch.no_grad(), fabric.autocast():
            gae(batch)
        flat = batch.reshape(-1)
        for _ in range(args.epochs):
            for idx in torch.randperm(flat.numel()).split(args.minibatch):
                mb = flat[idx]
                with fabric.autocast():
                    losses = loss_module(mb)
                    loss = losses["loss_objective"] + losses["loss_critic"]
                    loss = loss + losses["loss_entropy"] + distill(mb)["loss_distill"]
                optimizer.zero_grad()
                fabric.backward(loss)
                fabric.clip_gradients(model, optimizer, max_norm=0.5)
                optimizer.step()
        collector.update_policy_weights_()
        train_seconds += time.perf_counter() - t0
        done = batch["next", "done"][..., 0]
        ended = batch["next", "reward"][..., 0][done]
        row = {"update": update, "frames": frames, "lambda": round(lam, 4),
               "episodes": int(done.sum()),
               "success": float((ended > 0).float().mean()) if len(ended) else None,
               "fps": round(frames / (time.perf_counter() - start), 1)}
        history.append(row)
        print(json.dumps(row), flush=True)
    wall = time.perf_counter() - start
    collector.shutdown()
    return {
        "args": vars(args), "history": history,
        "frames_per_second": frames / wall,
        "update_frames_per_second": frames / train_seconds,
        "final_eval": evaluate(policy, args, args.eval_episodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML of defaults (e.g. configs/habitat_tidy.yaml); flags win")
    parser.add_argument("--precision", default="32-true",
                        choices=["32-true", "bf16-mixed", "16-mixed"])
    parser.add_argument("--frames", type=int, default=40_000)
    parser.add_argument("--frames-per-batch", type=int, default=512)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minibatch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lam", type=float, default=1.0, help="0: no teacher (plain PPO)")
    parser.add_argument("--lam-floor", type=float, default=0.1)
    parser.add_argument("--lam-decay-frames", type=float, default=60_000)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-eval", action="store_true",
                        help="only evaluate the teacher acting, no training")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.config is not None:
        settings = yaml.safe_load(args.config.read_text())
        unknown = set(settings) - set(vars(args))
        if unknown:
            parser.error(f"{args.config}: unknown settings {sorted(unknown)}")
        parser.set_defaults(**settings)
        args = parser.parse_args()
    result = (teacher_as_policy(args, args.eval_episodes) if args.teacher_eval
              else train(args))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, default=str))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
