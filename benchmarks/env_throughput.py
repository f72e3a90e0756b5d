"""Environment frames/s: raw gymnasium loop vs the batched TorchRL env vs collectors.

All rows run in one process, one after another, on the same machine, so their ratios
are meaningful even on a noisy shared machine. Writes ``docs/generated/env_throughput.md``.

    python benchmarks/env_throughput.py [--task SimpleDoorKey] [--frames 30000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torchrl.collectors import Collector, MultiSyncCollector

from llm4teach.domains.minigrid import make_env, make_gym_env

from report import machine_line, write_generated

TASK = "SimpleDoorKey"


def raw_gymnasium(task: str, frames: int, clock: Callable[[], float] = time.perf_counter
                  ) -> float:
    """Steps per second of ``clock`` (wall by default) of one env, random actions."""
    env = make_gym_env(task)
    actions = np.random.default_rng(0).integers(0, 7, size=frames).tolist()
    env.reset(seed=0)
    start = clock()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return frames / (clock() - start)


def torchrl_env(task: str, frames: int, num_envs: int) -> float:
    env = make_env(task, num_envs=num_envs, seed=0)
    env.rollout(2, break_when_any_done=False)  # warm-up
    start = time.perf_counter()
    env.rollout(frames // num_envs, break_when_any_done=False)
    return frames // num_envs * num_envs / (time.perf_counter() - start)


def _env_factory(task: str, num_envs: int) -> Callable:
    def create():
        return make_env(task, num_envs=num_envs)

    return create


def collector(task: str, frames: int, num_envs: int, workers: int) -> float:
    per_worker = num_envs // workers
    if workers == 1:
        col = Collector(make_env(task, num_envs=num_envs, seed=0), policy=None,
                        frames_per_batch=num_envs * 32, total_frames=-1)
    else:
        col = MultiSyncCollector([_env_factory(task, per_worker)] * workers, policy=None,
                                 frames_per_batch=num_envs * 32, total_frames=-1)
        col.set_seed(0)
    batches = iter(col)
    next(batches)  # warm-up: worker start and first batch
    start, seen = time.perf_counter(), 0
    while seen < frames:
        seen += next(batches).numel()
    rate = seen / (time.perf_counter() - start)
    col.shutdown()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--frames", type=int, default=30_000)
    args = parser.parse_args()
    torch.manual_seed(0)

    raw = raw_gymnasium(args.task, args.frames)
    rows: list[tuple[str, float]] = [("raw gymnasium loop (1 env)", raw)]
    for n in (1, 8, 32):
        rows.append((f"TorchRL env, num_envs={n}", torchrl_env(args.task, args.frames, n)))
    rows.append(("Collector, num_envs=32, random policy", collector(args.task, args.frames, 32, 1)))
    rows.append(("MultiSyncCollector, 2 workers x 16 envs, random policy",
                 collector(args.task, args.frames, 32, 2)))

    table = ["| setup | frames/s | vs raw loop |", "|---|---:|---:|"]
    table += [f"| {name} | {rate:,.0f} | {rate / raw:.0%} |" for name, rate in rows]
    body = "\n".join([
        f"Task `{args.task}`, {args.frames:,} frames per row, all rows in one run.",
        machine_line(),
        "",
        *table,
    ])
    print(body)
    write_generated("env_throughput", "Environment throughput",
                    "python benchmarks/env_throughput.py", body)


if __name__ == "__main__":
    main()
