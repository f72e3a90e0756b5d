"""A live LLM teacher, waited for or answering on a worker thread: what a fit costs in each case.

Each run is the whole ``llm4teach fit --config CONFIG`` command taught by SmolLM2 live
(``--data.teacher.backend hf --data.teacher.model smollm2``, an empty answer cache of its
own, so every text reaches the model), once with ``--data.teacher.wait true`` (collection
waits for every new text's answer) and once with ``false`` (the default: a worker answers
while training goes on), in its own process, the same seed, one after the other in the
same run. It reports the command's wall and CPU seconds, the wall seconds collection
waited on the LLM (``teacher/wait_seconds``) and their share of the run's wall time, the
steps left without an opinion because their text was not answered yet (``teacher/pending``),
the texts the model answered and its CPU seconds, and the held-out success at the end.

    python benchmarks/teacher_wait.py                                       # SimpleDoorKey
    python benchmarks/teacher_wait.py --task BabyAI-GoToLocal-v0 --frames 20480 --episodes 20 \
        --name gotolocal

Writes ``docs/generated/teacher_wait/<name>.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER, TEACHER

from report import machine_line, write_generated
from time_to_success import ROOT, fit

LLM = ["--data.teacher.backend", "hf", "--data.teacher.model", "smollm2",
       "--data.teacher.prompt", "ours", "--data.teacher.temperature", "0.5"]
READ = {"wait_s": TEACHER + "wait_seconds", "pending": TEACHER + "pending",
        "texts": TEACHER + "model_calls", "model_cpu": TEACHER + "model_cpu_seconds",
        "teacher": EVAL_TEACHER, "greedy": EVAL_GREEDY, "sampled": EVAL_SAMPLED}


def measure(wait: str, args: argparse.Namespace, store: Path) -> dict[str, float]:
    """One fit with ``--data.teacher.wait wait``; its clock and its last logged numbers."""
    from mlflow.tracking import MlflowClient

    extra = [*LLM, "--data.teacher.wait", wait, "--data.teacher.cache_path",
             str(store / f"plans-{wait}.sqlite"), "--evaluation.episodes", str(args.episodes),
             *(["--data.task", args.task] if args.task else [])]
    run = fit(f"wait-{wait}", args.config, extra, args.seed, args.frames, ROOT, store)
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    experiment = client.get_experiment_by_name(f"wait-{wait}-seed{args.seed}")
    (found,) = client.search_runs([experiment.experiment_id])
    last = found.data.metrics
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "frames": run.frames,
            **{name: last.get(key, float("nan")) for name, key in READ.items()}}


def report(rows: dict[str, dict[str, float]]) -> str:
    head = ("| wait | frames | wall-s | CPU-s | collection waited (s) | share of wall | "
            "pending steps | texts answered | model CPU-s | teacher | greedy | sampled |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = [f"| {wait} | {r['frames']:,} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
             f"{r['wait_s']:.1f} | {r['wait_s'] / r['wall_s']:.1%} | {r['pending']:,.0f} | "
             f"{r['texts']:.0f} | {r['model_cpu']:.0f} | {r['teacher']:.2f} | "
             f"{r['greedy']:.2f} | {r['sampled']:.2f} |" for wait, r in rows.items()]
    ratio = rows["false"]["wall_s"] / rows["true"]["wall_s"]
    return head + "\n".join(lines) + (
        f"\n\nWall time of the fit answering on a worker over the waiting one: **{ratio:.2f}x** "
        "(same seed, same run, one after the other).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="simpledoorkey.yaml",
                        help="a file of configs/ (default: the main job's)")
    parser.add_argument("--task", help="train this task instead of the config's")
    parser.add_argument("--frames", type=int, help="budget.total_frames (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=100,
                        help="held-out episodes per evaluation (the teacher's waits for the LLM)")
    parser.add_argument("--name", default="simpledoorkey", help="the report's file name")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teacher-wait-") as tmp:
        machine = machine_line()
        rows = {wait: measure(wait, args, Path(tmp)) for wait in ("true", "false")}
    task = args.task or args.config
    body = (f"Task {task}, seed {args.seed}, {args.episodes} held-out episodes per evaluation, "
            "each the whole `llm4teach fit --config "
            f"configs/{args.config}` command with `{' '.join(LLM)}` and an empty answer cache "
            "of its own (every text reaches the model). *collection waited*: "
            "`teacher/wait_seconds`, the wall seconds the collector spent in the planner (the "
            "teacher's held-out evaluation at the start waits in both and is not counted); "
            "*pending steps*: `teacher/pending`, the rows the collector's teacher annotated "
            "(steps, and the whole batch at a reset) before their text was answered, so "
            "without an opinion; *texts answered*, *model CPU-s*: the model's; success "
            "at the end on the held-out episodes (the teacher's: acting alone).\n"
            f"{machine}\n\n{report(rows)}")
    if args.no_write:
        print(body)
    else:
        command = "python benchmarks/teacher_wait.py" + (
            f" --config {args.config}" if args.config != "simpledoorkey.yaml" else "") + (
            f" --task {args.task}" if args.task else "") + (
            f" --frames {args.frames}" if args.frames else "") + (
            f" --episodes {args.episodes}" if args.episodes != 100 else "") + (
            f" --name {args.name}" if args.name != "simpledoorkey" else "")
        write_generated(f"teacher_wait/{args.name}", "A live LLM teacher: waited for, or "
                        "answering beside training", command, body)


if __name__ == "__main__":
    main()
