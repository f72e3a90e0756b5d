"""Time to held-out success of the README's main job, end to end, in frames, CPU-s and wall-s.

Each run is the whole ``llm4teach fit --config configs/simpledoorkey.yaml`` command (start-up,
the teacher's evaluation, every held-out evaluation, checkpoints and MLflow included) in its
own process and folder, with its own MLflow store. From the run's held-out evaluations
(``eval/student_*_success`` beside ``time/cpu_s`` and ``time/wall_s``, logged at every
evaluation) it reports the frames, CPU seconds and wall seconds at which greedy and sampled
success first reached 0.5, 0.8 and 0.9, and first rose above the teacher's own held-out
success (``eval/teacher_success``); from the process's own rusage, the end-to-end frames
per CPU-second; and, in the same run, the raw gymnasium step rate of the task and the CPU
seconds of importing the packages every fit is built on, alone (the floor under its
start-up). CPU seconds are the clock that load from other jobs does not change.

Methods: ``main`` (the config), ``ppo`` (``configs/simpledoorkey_ppo.yaml``), ``reference``
(the main job with the reference code's student and PPO update: the conv student on raw
codes as the map shows them, 16-32-64 channels at full resolution, 3 epochs of minibatch
128, learning rate 1e-3). ``--variant NAME="ARGS"`` adds the main job with extra ``fit``
arguments; ``--baseline DIR`` adds the main job of another checkout of this repository
(e.g. a ``git worktree`` of an older commit), run the same way on the first seed, for a
before/after ratio in one run; ``--one-core`` adds the main job pinned to one core
(``taskset -c 0``), for the wall time two cores save. A line gives main's wall seconds to
0.9 greedy over every other method's. The second table shows what each run spent before its
first frame (``time/startup_cpu_s``: imports, settings, the MLflow run, the teacher's
evaluation). ``--config`` times another task's config as the main job (and its variants).

    python benchmarks/time_to_success.py                         # main, 3 seeds
    python benchmarks/time_to_success.py --methods main ppo reference
    python benchmarks/time_to_success.py --seeds 0 --variant mb128="--model.ppo.minibatch_size 128"
    python benchmarks/time_to_success.py --baseline ../before --seeds 0 --frames 40960
    python benchmarks/time_to_success.py --one-core --variant in-process="--data.ahead false"
    python benchmarks/time_to_success.py --config twodoor.yaml --seeds 0 --frames 409600 \
        --variant in-process="--data.ahead false"

Writes ``docs/generated/time_to_success.md`` (another ``--config``:
``time_to_success_<its name>.md``; ``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from headline import headline, table_rows

from llm4teach.metrics import (
    EVAL_STUDENT,
    EVAL_TEACHER,
    TIME_CPU,
    TIME_EVAL_CPU,
    TIME_STARTUP_CPU,
    TIME_STARTUP_WALL,
    TIME_WALL,
)

from env_throughput import raw_gymnasium
from report import machine_line, write_generated

ROOT = Path(__file__).resolve().parent.parent
ONE_CORE = "main-one-core"  # the main job under taskset -c 0 (--one-core)
ABOVE = "above the teacher"
THRESHOLDS = (0.5, 0.8, 0.9, ABOVE)
MODES = ("greedy", "sampled")
REFERENCE = ["--model.student.encoder", "conv", "--model.student.channels", "[16, 32, 64]",
             "--model.student.frame", "map", "--model.student.strides", "null",
             "--model.ppo.minibatch_size", "128",
             "--model.ppo.epochs", "3", "--model.optimiser.lr", "1e-3"]
MAIN_CONFIG = "simpledoorkey.yaml"
STACK = "torch, tensordict, torchrl, lightning.pytorch, mlflow"  # what every fit imports
METHODS = {"main": (MAIN_CONFIG, []), "ppo": ("simpledoorkey_ppo.yaml", []),
           "reference": ("simpledoorkey.yaml", REFERENCE)}


@dataclass
class Run:
    """One finished fit: its evaluations and what its process cost."""

    method: str
    seed: int
    frames: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    evals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def teacher(self) -> float:
        """The teacher's held-out success, as the fit logged it at its start."""
        return self.evals[EVAL_TEACHER][0][1]

    def first(self, mode: str, threshold: float | str) -> tuple[int, float, float] | None:
        """(frames, CPU-s, wall-s) of the first evaluation at or above ``threshold``
        (``ABOVE``: above the teacher's success); the seconds are NaN for a checkout that
        did not log its clock (``--baseline``)."""
        clock = dict((step, (cpu, wall)) for (step, cpu), (_, wall) in zip(
            self.evals[TIME_CPU], self.evals[TIME_WALL], strict=True))
        for step, value in self.evals[EVAL_STUDENT[mode]]:
            if value > self.teacher if threshold == ABOVE else value >= threshold:
                return (step, *clock.get(step, (float("nan"), float("nan"))))
        return None


def fit(method: str, config: str, extra: list[str], seed: int, frames: int | None,
        source: Path, store: Path, cpus: str | None = None) -> Run:
    """Run one ``llm4teach fit`` in a fresh folder; read its evaluations back from MLflow.

    Runs log to one ``store`` made before any is timed: a user's runs after the first find
    the store there (making one costs seconds of table migrations). ``cpus``: the cores
    the run may use (``taskset -c``), e.g. ``0`` for one.
    """
    from mlflow.tracking import MlflowClient

    uri, experiment = f"sqlite:///{store}/mlflow.db", f"{method}-seed{seed}"
    with tempfile.TemporaryDirectory(prefix="tts-") as tmp:
        args = [*(["taskset", "-c", cpus] if cpus else []), sys.executable, "-m",
                "llm4teach", "fit", "--config",
                str(source / "configs" / config), *extra,
                "--seed_everything", str(seed), "--data.seed", str(seed),
                "--trainer.default_root_dir", tmp, "--trainer.enable_progress_bar", "false",
                "--tracking.tracking_uri", uri, "--tracking.artifact_root", f"{store}/artifacts",
                "--tracking.experiment", experiment]
        if frames:
            args += ["--budget.total_frames", str(frames)]
        path = os.pathsep.join(p for p in (str(source), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path}  # this checkout first, then the user's
        log = Path(tmp) / "stderr.txt"
        start = time.perf_counter()
        with open(log, "w") as err:
            proc = subprocess.Popen(args, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
            # wait4: this run's own CPU time (rusage of all children would mix parallel runs)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise RuntimeError(f"{method} seed {seed} failed:\n{log.read_text()[-3000:]}")
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
        names = [EVAL_STUDENT[m] for m in MODES] + [
            EVAL_TEACHER, TIME_CPU, TIME_WALL, TIME_EVAL_CPU, TIME_STARTUP_CPU, TIME_STARTUP_WALL]
        evals = {name: sorted((m.step, m.value) for m in client.get_metric_history(
            run.info.run_id, name)) for name in names}
        return Run(method, seed, frames=evals[names[0]][-1][0],
                   cpu_s=usage.ru_utime + usage.ru_stime, wall_s=wall, evals=evals)


def import_seconds(modules: str = STACK, runs: int = 3) -> list[float]:
    """CPU seconds of a fresh Python when it has imported ``modules``: the floor under a
    fit's start-up that the packages it is built on set (the interpreter's exit, tearing
    the modules down, is left out, as a fit's start-up has none)."""
    code = f"import time; import {modules}; print(time.process_time())"
    return [float(subprocess.run([sys.executable, "-c", code], check=True, text=True,
                                 capture_output=True).stdout) for _ in range(runs)]


def _stat(values: list[float], fmt: str) -> str:
    values = [v for v in values if not np.isnan(v)]
    if not values:
        return "-"
    text = format(float(np.mean(values)), fmt)
    return text + (f" ± {format(float(np.std(values)), fmt)}" if len(values) > 1 else "")


def _ratio(mine: float, theirs: float) -> str:
    """``mine / theirs`` as ``0.61x``; ``-`` where some run of either never got there."""
    return "-" if np.isnan(mine) or np.isnan(theirs) else f"{mine / theirs:.2f}x"


def report(runs: list[Run], raw: float, seeds: int, config: str,
           imports: list[float]) -> str:
    lines = ["| method | mode | success | frames | CPU-s | wall-s | reached |",
             "|---|---|---:|---:|---:|---:|---:|"]
    methods = list(dict.fromkeys(r.method for r in runs))
    for method in methods:
        mine = [r for r in runs if r.method == method]
        for mode in MODES:
            for threshold in THRESHOLDS:
                hits = [h for h in (r.first(mode, threshold) for r in mine) if h]
                lines.append(
                    f"| {method} | {mode} | {threshold} | {_stat([h[0] for h in hits], ',.0f')} "
                    f"| {_stat([h[1] for h in hits], '.0f')} | {_stat([h[2] for h in hits], '.0f')}"
                    f" | {len(hits)}/{len(mine)} |")
    lines += ["", "| method | frames | CPU-s | wall-s | before the first frame CPU-s / wall-s "
              "| frames per CPU-s | of the raw env rate | evaluation's share of CPU "
              "| final greedy | final sampled |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method in methods:
        mine = [r for r in runs if r.method == method]
        rates = [r.frames / r.cpu_s for r in mine]
        final = {m: [r.evals[EVAL_STUDENT[m]][-1][1] for r in mine] for m in MODES}
        share = [r.evals[TIME_EVAL_CPU][-1][1] / r.cpu_s for r in mine
                 if r.evals[TIME_EVAL_CPU]]
        startup = [_stat([r.evals[key][0][1] for r in mine if r.evals[key]], ".1f")
                   for key in (TIME_STARTUP_CPU, TIME_STARTUP_WALL)]
        lines.append(
            f"| {method} | {_stat([r.frames for r in mine], ',.0f')} "
            f"| {_stat([r.cpu_s for r in mine], '.0f')} | {_stat([r.wall_s for r in mine], '.0f')}"
            f" | {' / '.join(startup)} | {_stat(rates, ',.0f')} | {np.mean(rates) / raw:.1%} "
            f"| {f'{np.mean(share):.0%}' if share else '-'} "
            f"| {_stat(final['greedy'], '.2f')} | {_stat(final['sampled'], '.2f')} |")
    if "main" in methods and len(methods) > 1:
        main_rate = np.mean([r.frames / r.cpu_s for r in runs if r.method == "main"])
        others = ", ".join(
            f"{main_rate / np.mean([r.frames / r.cpu_s for r in runs if r.method == m]):.2f}x "
            f"{m}" for m in methods if m != "main")
        lines += ["", f"End-to-end frames per CPU-s of main vs: {others}."]
    if "main" in methods and len(methods) > 1:
        def wall(method: str, threshold: float | str) -> float:
            hits = [r.first("greedy", threshold) for r in runs if r.method == method]
            return float(np.mean([h[2] for h in hits if h])) if all(hits) else float("nan")
        for threshold in (0.9, ABOVE):
            ratios = ", ".join(_ratio(wall("main", threshold), wall(m, threshold)) + f" {m}" + (
                " (`taskset -c 0`)" if m == ONE_CORE else "") for m in methods if m != "main")
            lines += ["", f"Wall seconds to {threshold} (greedy) of main over: **{ratios}**."]
    lines += ["", f"Importing the packages every fit is built on, alone in a fresh process "
              f"(`import {STACK}`, {len(imports)} times, up to the end of the imports): "
              f"**{_stat(imports, '.1f')} CPU-s**, part of every run's time before its first "
              f"frame."]
    if "main" in methods and config == MAIN_CONFIG:  # the README's sentence (tests/test_docs.py)
        lines += ["", headline(table_rows("\n".join(lines)), seeds)]
    teacher = _stat([r.teacher for r in runs], ".2f")
    return "\n".join([
        f"Config `configs/{config}`, {seeds} seed(s) per method, each run the whole "
        f"`llm4teach fit` "
        f"command in its own process (start-up, the teacher's evaluation, every held-out "
        f"evaluation of 100 greedy and 100 sampled episodes, checkpoints, MLflow). The first "
        f"table: the first held-out evaluation at or above each success level (above the "
        f"teacher: above its held-out success, {teacher}), mean ± sd "
        f"over the runs that reached it. Raw env rate: one gymnasium env of the task, random "
        f"actions, **{raw:,.0f} steps per CPU-s** in the same run.",
        machine_line(), "", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=["main"], choices=list(METHODS))
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="ARGS"',
                        help="the main job with extra fit arguments")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout of this repository: its main job, as 'baseline'")
    parser.add_argument("--one-core", action="store_true",
                        help=f"also run the main job on one core (taskset -c 0), as '{ONE_CORE}'")
    parser.add_argument("--config", default=MAIN_CONFIG,
                        help="the main job's config (in configs/); another than the README's "
                             "writes time_to_success_<its name>.md, main and its variants only")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--frames", type=int, help="override every run's frame budget")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (1: quiet timings)")
    parser.add_argument("--no-write", action="store_true",
                        help="print, do not write docs/generated/")
    args = parser.parse_args()

    config = args.config
    if config != MAIN_CONFIG and set(args.methods) - {"main"}:
        parser.error(f"--config {config}: only the main job (--methods main) and its variants")
    plans = [(m, *((config, []) if m == "main" else METHODS[m]), ROOT) for m in args.methods]
    for variant in args.variant:
        name, _, extra = variant.partition("=")
        plans.append((name, config, shlex.split(extra), ROOT))
    if args.baseline:
        plans.append(("baseline", config, [], args.baseline.resolve()))
    if args.one_core:
        plans.append((ONE_CORE, config, [], ROOT))
    task = yaml.safe_load((ROOT / "configs" / config).read_text())["data"]["task"]
    raw = raw_gymnasium(task, 30_000, clock=time.process_time)  # steps per CPU-s
    print(f"raw env: {raw:,.0f} steps per CPU-s", flush=True)
    imports = import_seconds()
    print(f"imports alone: {_stat(imports, '.1f')} CPU-s", flush=True)
    # the baseline (often several times slower) runs on the first seed only
    jobs = [(name, config, extra, seed, source) for seed in args.seeds
            for name, config, extra, source in plans
            if name != "baseline" or seed == args.seeds[0]]

    def one(job, store: Path):
        name, config, extra, seed, source = job
        run = fit(name, config, extra, seed, args.frames, source, store,
                  cpus="0" if name == ONE_CORE else None)
        print(f"{name} seed {seed}: {run.frames:,} frames, {run.cpu_s:.0f} CPU-s, "
              f"{run.wall_s:.0f} wall-s, {run.frames / run.cpu_s:,.0f} frames per CPU-s; "
              f"greedy 0.9 at {run.first('greedy', 0.9)}", flush=True)
        for mode in MODES:
            curve = " ".join(f"{v:.2f}" for _, v in run.evals[EVAL_STUDENT[mode]])
            print(f"  {mode}: {curve}", flush=True)
        return run

    with tempfile.TemporaryDirectory(prefix="tts-store-") as store:
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{store}/mlflow.db").search_experiments()  # create the tables
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(one, jobs, [Path(store)] * len(jobs)))
    body = report(runs, raw, len(args.seeds), config, imports)
    print(body)
    if not args.no_write:
        command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/time_to_success.py",
                                                               *sys.argv[1:]])
        name = "time_to_success" + ("" if config == MAIN_CONFIG else f"_{Path(config).stem}")
        write_generated(name, f"Time to success: {task}", command, body)


if __name__ == "__main__":
    main()
