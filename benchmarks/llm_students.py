"""Students taught by a real LLM, read from the sample-efficiency runs in MLflow.

For each task and each method of ``sample_efficiency.py`` whose teacher is an LLM (and the
baselines run beside them), per seed: the teacher's held-out success, the student's
greedy and sampled success at the end (and at the config's budget), the frames and the run's
CPU seconds until greedy success first reached 0.9 and until greedy and sampled success
first rose above the teacher's, and the LLM's share
of the run's CPU (the model's CPU seconds over the process's). Train the runs first:

    python benchmarks/sample_efficiency.py --tasks SimpleDoorKey --methods smollm2 ppo
    python benchmarks/llm_students.py --tasks SimpleDoorKey --methods smollm2 ppo

Writes ``docs/generated/llm_students/<tasks>.md``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER, TEACHER, TIME_CPU
from llm4teach.tracking import DEFAULT_TRACKING_URI

from report import machine_line, write_generated
from sample_efficiency import BUDGET, METHODS, experiment_name


def at(history: list[tuple[int, float]], frames: int) -> float | None:
    """The value logged at ``frames`` (the config's budget inside a longer run)."""
    return next((value for step, value in history if step == frames), None)


def run_row(client, run, budget: int) -> dict[str, Any]:  # noqa: ANN001 (MLflow objects)
    def history(key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))

    greedy, sampled, cpu = history(EVAL_GREEDY), history(EVAL_SAMPLED), dict(history(TIME_CPU))
    teacher = [v for _, v in history(EVAL_TEACHER)]
    teacher_success = teacher[0] if teacher else None

    def when(curve: list[tuple[int, float]], above: float | None,
             strictly: bool) -> tuple[int, float] | None:
        """(frames, CPU-s) of the first evaluation at (or strictly above) ``above``."""
        if above is None:
            return None
        step = next((s for s, v in curve if (v > above if strictly else v >= above)), None)
        return None if step is None else (step, cpu.get(step, float("nan")))

    llm = history(TEACHER + "model_cpu_seconds")
    total = max(cpu.values()) if cpu else None
    seed = run.data.tags.get("seed", "?")
    return {"seed": seed if run.info.status == "FINISHED" else f"{seed} (stopped)",
            "teacher": teacher_success,
            "greedy_budget": at(greedy, budget), "sampled_budget": at(sampled, budget),
            "frames": greedy[-1][0] if greedy else None,
            "greedy": greedy[-1][1] if greedy else None,
            "sampled": sampled[-1][1] if sampled else None,
            "to_09": when(greedy, 0.9, strictly=False),
            "above_greedy": when(greedy, teacher_success, strictly=True),
            "above_sampled": when(sampled, teacher_success, strictly=True),
            "llm_share": llm[-1][1] / total if llm and total else None, "cpu": total}


def point(found: tuple[int, float] | None) -> str:
    return "never" if found is None else f"{found[0]:,} ({found[1]:.0f})"


def cell(value: float | int | None, form: str) -> str:
    return "never" if value is None else format(value, form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["SimpleDoorKey"])
    parser.add_argument("--methods", nargs="+", default=["smollm2", "ppo"],
                        choices=list(METHODS))
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=DEFAULT_TRACKING_URI)
    lines = ["| task | method | seed | teacher | greedy / sampled at the config's budget | "
             "frames | greedy | sampled | 0.9 greedy: frames (CPU-s) | above the teacher, greedy "
             "| above the teacher, sampled | LLM share of CPU | run CPU-s |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for task in args.tasks:
        experiment = client.get_experiment_by_name(experiment_name(task))
        if experiment is None:
            continue
        for method in args.methods:
            runs = [r for r in client.search_runs([experiment.experiment_id],
                                                  f"tags.method = '{method}'")
                    if r.info.status != "RUNNING"]  # a stopped run: to its last evaluation
            budget = BUDGET[task]
            rows = sorted((run_row(client, r, budget) for r in runs), key=lambda r: str(r["seed"]))
            for r in rows:
                lines.append(
                    f"| {task} | {method} | {r['seed']} | {cell(r['teacher'], '.2f')} | "
                    f"{cell(r['greedy_budget'], '.2f')} / {cell(r['sampled_budget'], '.2f')} "
                    f"({budget:,}) | {cell(r['frames'], ',')} | {cell(r['greedy'], '.2f')} | "
                    f"{cell(r['sampled'], '.2f')} | {point(r['to_09'])} | "
                    f"{point(r['above_greedy'])} | {point(r['above_sampled'])} | "
                    f"{cell(r['llm_share'], '.1%')} | {cell(r['cpu'], '.0f')} |")
            if len(rows) > 1:
                greedy = [r["greedy"] for r in rows if r["greedy"] is not None]
                at_budget = [r["greedy_budget"] for r in rows if r["greedy_budget"] is not None]
                lines.append(f"| {task} | {method} | mean | | {np.mean(at_budget):.2f} ± "
                             f"{np.std(at_budget):.2f} | | {np.mean(greedy):.2f} ± "
                             f"{np.std(greedy):.2f} | | | | | | |")
            print(f"{task} {method}: {len(rows)} finished runs", flush=True)
    command = (f"python benchmarks/llm_students.py --tasks {' '.join(args.tasks)} "
               f"--methods {' '.join(args.methods)}")
    body = (f"{machine_line(load=False)}\n\nRuns of `python benchmarks/sample_efficiency.py "
            f"--tasks {' '.join(args.tasks)} --methods {' '.join(args.methods)}` (one process "
            "each, one torch thread); held-out success on 100 episodes at every evaluation; "
            "a stopped run (killed before its budget) is shown to its last evaluation; "
            "*teacher*: the teacher acting alone on the same episodes; CPU-s (in brackets) are "
            "the run's process from its start (imports, model load and the teacher's evaluation "
            "included); the LLM's share counts its answers, asked once per distinct state text "
            "and kept in the persistent cache (a later run with the same settings pays "
            "nothing).\n\n" + "\n".join(lines))
    write_generated(f"llm_students/{'-'.join(args.tasks).lower()}",
                    f"Students of a real LLM: {', '.join(args.tasks)}", command, body)


if __name__ == "__main__":
    main()
