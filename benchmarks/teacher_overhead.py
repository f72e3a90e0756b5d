"""Teacher overhead: collector frames/s with and without the table teacher, side by side,
and how often the ``hf`` backend (a tiny Llama) calls its model over 100k frames.

Runs alternate (without, with, without, with...) and each setup keeps its best run, so
load from other processes on a shared machine hits both sides alike. Writes the
``docs/generated/teacher_overhead.md``.

    python benchmarks/teacher_overhead.py [--task SimpleDoorKey] [--frames 40000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torchrl.collectors import Collector, MultiSyncCollector
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.domains.minigrid import make_env
from llm4teach.domains.minigrid.student import make_actor_critic
from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.teacher import TeacherConfig

from report import machine_line, write_generated

NUM_ENVS = 32


def env_factory(task: str, num_envs: int, config: TeacherConfig | None) -> Callable:
    def create():
        env = make_env(task, num_envs=num_envs, seed=0)
        return env if config is None else TransformedEnv(env, resolve(task).make_teacher(config))

    return create


def rate(task: str, frames: int, teacher: TeacherConfig | None, workers: int, policy) -> float:
    if workers == 1:
        col = Collector(env_factory(task, NUM_ENVS, teacher)(), policy=policy,
                        frames_per_batch=NUM_ENVS * 32, total_frames=-1,
                        auto_register_policy_transforms=False)
    else:
        col = MultiSyncCollector([env_factory(task, NUM_ENVS // workers, teacher)] * workers,
                                 policy=policy, frames_per_batch=NUM_ENVS * 32, total_frames=-1)
        col.set_seed(0)
    batches = iter(col)
    next(batches)  # warm-up: worker start and first batch
    start, seen = time.perf_counter(), 0
    while seen < frames:
        seen += next(batches).numel()
    result = seen / (time.perf_counter() - start)
    col.shutdown()
    return result


def hf_model_calls(task: str, frames: int) -> tuple[int, int, float]:
    """Model calls and distinct texts over ``frames`` frames with a tiny hf teacher."""
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_llm(Path(tmp) / "tiny")
        config = TeacherConfig(backend="hf", model=str(model), method="logits",
                               cache_path=str(Path(tmp) / "plans.sqlite"))
        env = env_factory(task, NUM_ENVS, config)()
        col = Collector(env, policy=None, frames_per_batch=NUM_ENVS * 64, total_frames=frames)
        for _ in col:
            pass
        col.shutdown()
        teacher = env.transform.teacher
        return teacher.stats.model_calls, len(teacher._plans), teacher.stats.model_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="SimpleDoorKey")
    parser.add_argument("--frames", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hf-frames", type=int, default=100_000)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # 2 shared cores: threads only fight the env loop for them
    student = make_actor_critic(make_env(args.task).observation_spec["observation"].shape[-3:])
    setups = [
        (f"Collector, {NUM_ENVS} envs, random policy", 1, None),
        (f"Collector, {NUM_ENVS} envs, the student (default embedding network) acting", 1,
         student),
        (f"MultiSyncCollector, 2 workers x {NUM_ENVS // 2} envs, random policy", 2, None),
    ]
    table = ["| setup | without teacher | with table teacher | ratio |", "|---|---:|---:|---:|"]
    for name, workers, policy in setups:
        best = {False: 0.0, True: 0.0}
        for _ in range(args.repeats):
            for on in (False, True):
                config = TeacherConfig(fallback="mask") if on else None  # as the configs
                best[on] = max(best[on], rate(args.task, args.frames, config, workers, policy))
        table.append(f"| {name} | {best[False]:,.0f} | {best[True]:,.0f} | "
                     f"{best[True] / best[False]:.0%} |")
        print(table[-1], flush=True)
    calls, texts, seconds = hf_model_calls(args.task, args.hf_frames)
    body = "\n".join([
        f"Task `{args.task}`, {args.frames:,} frames per run, best of {args.repeats} "
        "alternating runs per cell, frames/s, table teacher in soft mode with the configs' "
        "mask fallback, one torch thread.",
        machine_line(),
        "",
        *table,
        "",
        f"`hf` backend (tiny random Llama, logits method, fresh cache), {args.hf_frames:,} "
        f"frames with a random policy: **{calls} model calls** for **{texts} distinct state "
        f"texts** ({seconds:.2f} s in the model).",
    ])
    print(body)
    write_generated("teacher_overhead", "Teacher overhead",
                    "python benchmarks/teacher_overhead.py", body)


if __name__ == "__main__":
    main()
