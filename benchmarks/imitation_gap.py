"""How much of its teacher's success a student gets by copying it: behaviour cloning.

Collects ``--frames`` frames with the teacher acting (sampling pi_T, the training env and
teacher transform), fits the task's student to pi_T by cross-entropy (the distill term
alone, supervised, many passes), then lets the clone act on the held-out episodes of
training's evaluation, beside the teacher. A clone with a small KL but far less success
than its teacher says that copying cannot reach the teacher, let alone beat it: the
reward has to (ColoredDoorKey). Writes ``docs/generated/imitation_gap.md``.

    python benchmarks/imitation_gap.py [--tasks ColoredDoorKey SimpleDoorKey] [--frames 64000]
"""

from __future__ import annotations

import argparse
import time

import torch
from tensordict import TensorDictBase
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_student, evaluate_teacher
from llm4teach.metrics import GREEDY_SUCCESS, SAMPLED_SUCCESS, TEACHER_SUCCESS
from llm4teach.teacher import TeacherConfig
from llm4teach.training.loss import distill_terms
from llm4teach.training.module import PPOTeacherModule

from report import machine_line, write_generated

NUM_ENVS = 16
EPISODES = 100  # training's held-out evaluation


def teacher_frames(task: str, frames: int, seed: int) -> TensorDictBase:
    """``observation``, ``teacher_probs``, ``teacher_mask`` of ``frames`` teacher-acted steps."""
    domain = resolve(task)
    env = TransformedEnv(domain.make_env(NUM_ENVS, seed),
                         domain.make_teacher(TeacherConfig(seed=seed)))
    generator = torch.Generator().manual_seed(seed)
    td, steps = env.reset(), []
    for _ in range(frames // NUM_ENVS):
        td["action"] = torch.multinomial(td["teacher_probs"], 1, generator=generator)[:, 0]
        steps.append(td.select("observation", "teacher_probs", "teacher_mask").clone())
        _, td = env.step_and_maybe_reset(td)
    return torch.cat(steps)


def clone(task: str, frames: int, epochs: int, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    data = teacher_frames(task, frames, seed)
    held_out = teacher_frames(task, frames // 8, seed + 1)
    student = PPOTeacherModule(task=task).student  # the trainer's default student

    def kl(batch):  # the distill term (lambda 1) over the steps the teacher judged
        log_student = student.logits(batch["observation"]).log_softmax(-1)
        return distill_terms(log_student, batch["teacher_probs"], batch["teacher_mask"])[0]

    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(data)).split(256):
            loss = kl(data[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        held_out_kl = float(kl(held_out))
    domain = resolve(task)
    played = evaluate_student(student, domain.episode_envs(EPISODES), EPISODES, seed=seed)
    teacher = evaluate_teacher(domain.make_teacher(TeacherConfig()),
                               domain.episode_envs(EPISODES), EPISODES)
    return {"kl": held_out_kl, "teacher": teacher[TEACHER_SUCCESS],
            "sampled": played[SAMPLED_SUCCESS],
            "greedy": played[GREEDY_SUCCESS]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["ColoredDoorKey", "SimpleDoorKey"])
    parser.add_argument("--frames", type=int, default=64_000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for task in args.tasks:
        start = time.perf_counter()
        r = clone(task, args.frames, args.epochs, args.seed)
        print(f"{task}: {r} in {time.perf_counter() - start:.0f} s", flush=True)
        rows.append(f"| {task} | {r['kl']:.2f} | {r['teacher']:.2f} | {r['sampled']:.2f} | "
                    f"{r['greedy']:.2f} |")
    body = "\n".join([
        f"The student network fitted to the soft teacher's pi_T on {args.frames:,} "
        f"teacher-acted frames ({args.epochs} passes, batch 256, Adam 1e-3), then acting on "
        f"the {EPISODES} held-out episodes of training's evaluation. KL(pi_T || clone) is "
        f"on {args.frames // 8:,} other teacher-acted frames.", "",
        machine_line(), "",
        "| task | held-out KL | teacher success | clone success (sampled) | "
        "clone success (greedy) |", "|---|---:|---:|---:|---:|", *rows])
    command = "python benchmarks/imitation_gap.py " + " ".join(
        ["--tasks", *args.tasks, "--frames", str(args.frames), "--epochs", str(args.epochs)])
    write_generated("imitation_gap", "Imitation gap", command, body)


if __name__ == "__main__":
    main()
