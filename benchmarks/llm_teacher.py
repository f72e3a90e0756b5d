"""A real LLM as the teacher: each method x prompt acting alone on held-out episodes.

For every (task, method, prompt) the teacher plays the held-out episodes a fit evaluates
it on (``llm4teach teacher``'s loop) with an empty answer cache, so every distinct state
text reaches the model once. Reported: success, distinct texts, the share of texts whose
answer gave a plan, and the model's CPU and wall seconds per text, end to end through the
planner (the prompt's fixed part, the state text, the candidates or the generation),
torch on one thread as in a fit. Writes ``docs/generated/llm_teacher.md``.

    python benchmarks/llm_teacher.py                      # SimpleDoorKey, every method x prompt
    python benchmarks/llm_teacher.py --tasks LavaDoorKey TwoDoor --methods logits --prompts ours
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import torch

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_teacher
from llm4teach.metrics import TEACHER_SUCCESS
from llm4teach.teacher import TeacherConfig

from report import machine_line, write_generated


def measure(task: str, model: str, method: str, prompt: str, temperature: float,
            episodes: int) -> dict[str, float]:
    """One teacher's held-out numbers and its model's cost."""
    config = TeacherConfig(backend="hf", model=model, method=method, prompt=prompt,
                           temperature=temperature, cache_path=":memory:")
    domain = resolve(task)
    transform = domain.make_teacher(config)
    start, cpu = time.perf_counter(), time.process_time()
    metrics = evaluate_teacher(transform, domain.episode_envs(episodes), episodes)
    stats = transform.stats
    texts = max(stats.model_calls, 1)
    return {"success": metrics[TEACHER_SUCCESS], "texts": stats.model_calls,
            "planned": 1 - stats.no_plan / texts,
            "cpu_per_text": stats.model_cpu_seconds / texts,
            "wall_per_text": stats.model_seconds / texts,
            "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["SimpleDoorKey"])
    parser.add_argument("--methods", nargs="+", default=["logits", "sample", "prompt"])
    parser.add_argument("--prompts", nargs="+", default=["paper", "ours"])
    parser.add_argument("--temperatures", nargs="+", type=float, default=[1.0],
                        help="softmax temperature of the scores (logits), of sampling (sample)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--name", default=None,
                        help="the report, docs/generated/llm_teacher/NAME.md (default: the tasks)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)  # transformers' generation notes
    machine = machine_line()
    rows = []
    for task, method, prompt, temperature in itertools.product(
            args.tasks, args.methods, args.prompts, args.temperatures):
        m = measure(task, args.model, method, prompt, temperature, args.episodes)
        rows.append(f"| {task} | {method} | {prompt} | {temperature:g} | {m['success']:.2f} | "
                    f"{m['texts']} | {m['planned']:.2f} | {m['cpu_per_text']:.2f} | "
                    f"{m['wall_per_text']:.2f} | {m['cpu_s']:.0f} / {m['wall_s']:.0f} |")
        print(rows[-1], flush=True)
    command = "python benchmarks/llm_teacher.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k != "name" or v is not None)
    body = (f"{machine}\n\nTeacher `--teacher.backend hf --teacher.model {args.model}`, "
            f"{args.episodes} held-out episodes each, an empty answer cache, torch on one "
            "thread. *planned*: the share of distinct texts whose answer gave a plan; "
            "*CPU-s / text* and *wall-s / text*: the model's time per distinct text through "
            "the planner; the last column is the whole evaluation (CPU-s / wall-s; the first "
            "row's includes loading the model, once per process).\n\n"
            "| task | method | prompt | temperature | success | texts | planned | CPU-s / text | "
            "wall-s / text | eval CPU-s / wall-s |\n"
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows))
    name = args.name or "-".join(args.tasks).lower()
    write_generated(f"llm_teacher/{name}", f"A real LLM as the teacher: {', '.join(args.tasks)}",
                    command, body)


if __name__ == "__main__":
    main()
