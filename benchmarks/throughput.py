"""End-to-end training frames/s and peak memory: our trainer vs a single-file PPO.

Rows, each in its own fresh process (so peak memory is that row's alone), one after
another in one run:
- the raw gymnasium env step rate (the ceiling);
- the single-file PPO of ``benchmarks/single_file_ppo.py`` (plain gymnasium vector
  envs and torch, no teacher), with the reference conv student;
- ``llm4teach fit`` with the same student, envs and PPO settings, with the soft table
  teacher and without a teacher, in float32 and bf16-mixed; and with the default
  (embedding) student, in one process and in two (DDP).
Every row uses one torch thread, 16 envs, 2048 frames per update, 3 epochs of 256-frame
minibatches. Writes ``docs/generated/throughput.md``.

    python benchmarks/throughput.py [--task SimpleDoorKey] [--frames 40960]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from llm4teach.metrics import TRAIN_FRAMES_PER_S

from report import machine_line, write_generated

NUM_ENVS, FRAMES_PER_BATCH, MINIBATCH = 16, 2048, 256


def _fit(task: str, frames: int, workdir: str, encoder: str, teacher: bool,
         processes: int = 1, precision: str = "32-true") -> tuple[float, float] | None:
    import torch
    from mlflow.tracking import MlflowClient

    from llm4teach.training.cli import fit

    torch.set_num_threads(1)
    tmp = workdir  # shared by the DDP ranks: Lightning re-runs this very command for rank 1
    args = [
        "--data.task", task, "--data.num_envs", str(NUM_ENVS),
        "--data.frames_per_batch", str(FRAMES_PER_BATCH), "--budget.total_frames", str(frames),
        "--data.epoch_frames", str(frames), "--model.student.encoder", encoder,
        "--model.ppo.minibatch_size", str(MINIBATCH), "--evaluation.episodes", "1",
        "--evaluation.teacher", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", tmp,
        "--tracking.tracking_uri", f"sqlite:///{tmp}/mlflow.db",
        "--tracking.artifact_root", f"{tmp}/artifacts",
        "--trainer.accelerator", "cpu", "--trainer.devices", str(processes),
        "--trainer.precision", precision,
    ]
    if processes > 1:
        args += ["--trainer.strategy", "ddp"]
    if not teacher:
        args += ["--schedule", "llm4teach.training.schedules.NoTeacher"]
    start = time.perf_counter()
    fit(args)
    seconds = time.perf_counter() - start
    if int(os.environ.get("LOCAL_RANK", 0)) != 0:
        return None  # rank 0 reports
    # steady state: the per-update rates the module logs, after the first update
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    run = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
    rates = [m.value for m in sorted(client.get_metric_history(
        run.info.run_id, TRAIN_FRAMES_PER_S), key=lambda m: m.step)][1:]
    steady = len(rates) / sum(1 / r for r in rates)
    return frames / seconds, steady


def _single_file(task: str, frames: int, workdir: str) -> tuple[float, float]:
    import torch

    from single_file_ppo import train

    torch.set_num_threads(1)
    start = time.perf_counter()
    result = train(task, frames, num_envs=NUM_ENVS, steps=FRAMES_PER_BATCH // NUM_ENVS,
                   minibatch=MINIBATCH)
    return result["frames"] / (time.perf_counter() - start), result["steady_frames_per_s"]


def _raw(task: str, frames: int, workdir: str) -> tuple[float, float]:
    from env_throughput import raw_gymnasium

    rate = raw_gymnasium(task, frames)
    return rate, rate


ROWS = {
    "raw gymnasium env step (no learning)": ("raw", {}),
    "single-file PPO, conv student, no teacher": ("single", {}),
    "llm4teach fit, conv student, no teacher": ("fit", {"encoder": "conv", "teacher": False}),
    "llm4teach fit, conv student, soft table teacher": ("fit", {"encoder": "conv",
                                                                "teacher": True}),
    "llm4teach fit, conv student, soft table teacher, bf16-mixed": (
        "fit", {"encoder": "conv", "teacher": True, "precision": "bf16-mixed"}),
    "llm4teach fit, embedding student (default), soft table teacher": (
        "fit", {"encoder": "embedding", "teacher": True}),
    "llm4teach fit, embedding student, soft table teacher, 2 processes (DDP, gloo)": (
        "fit", {"encoder": "embedding", "teacher": True, "processes": 2}),
}


def _one(name: str, task: str, frames: int, workdir: str) -> None:
    kind, kwargs = ROWS[name]
    run = {"raw": _raw, "single": _single_file, "fit": _fit}[kind]
    result = run(task, frames, workdir, **kwargs)
    if result is None:
        return
    rate, steady = result
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames_per_s": rate, "steady": steady, "peak_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="SimpleDoorKey")
    parser.add_argument("--frames", type=int, default=40_960)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return _one(args.one, args.task, args.frames, args.workdir)

    results = {}
    for name in ROWS:
        with tempfile.TemporaryDirectory() as workdir:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name, "--task", args.task,
                 "--frames", str(args.frames), "--workdir", workdir],
                capture_output=True, text=True, check=True,
            ).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
        print(f"{name}: {results[name]}", flush=True)

    base = results["single-file PPO, conv student, no teacher"]
    table = ["| setup | steady frames/s | vs single-file | end-to-end frames/s | vs single-file "
             "| peak RSS (MiB) |", "|---|---:|---:|---:|---:|---:|"]
    table += [f"| {name} | {r['steady']:,.0f} | {r['steady'] / base['steady']:.2f}x "
              f"| {r['frames_per_s']:,.0f} | {r['frames_per_s'] / base['frames_per_s']:.2f}x "
              f"| {r['peak_mib']:,.0f} |" for name, r in results.items()]
    body = "\n".join([
        f"Task `{args.task}`, {args.frames:,} training frames per row; each row in a fresh "
        f"process, all in one run. Steady: after the first update; end-to-end: the whole "
        f"call, env, model, logger and MLflow set-up included. One torch thread, "
        f"{NUM_ENVS} envs, {FRAMES_PER_BATCH} frames per update, 3 epochs, minibatch {MINIBATCH}.",
        machine_line(), "", *table,
    ])
    print(body)
    write_generated("throughput", "Training throughput", "python benchmarks/throughput.py", body)


if __name__ == "__main__":
    main()
