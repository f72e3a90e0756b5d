"""Compare training runs stored in MLflow: sample-efficiency tables and learning curves.

Reads the evaluation metric of each run (logged against environment frames), groups
runs (by default by their ``task`` and ``method`` tags, so the seeds of one method on one
task form one group, and two tasks are never averaged together), and
reports frames-to-threshold, final success, wall time and frames/s, as markdown and PNG.

Example:
    >>> report = compare(tracking_uri="sqlite:///mlruns/mlflow.db",
    ...                  experiments=["SimpleDoorKey"])          # doctest: +SKIP
    >>> print(report.markdown)                                    # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llm4teach.metrics import EVAL_GREEDY
from llm4teach.tracking import BRANCHED_AT

DEFAULT_METRIC = EVAL_GREEDY
DEFAULT_GROUP_BY = ("tags.task", "tags.method")
THRESHOLDS = (0.5, 0.8, 0.9)
# What each column of the table says, one line each (``llm4teach compare --help``).
COLUMNS = {
    "group": "the runs' values of the --group-by keys (task and method by default)",
    "runs": "runs in the group (its seeds)",
    "frames to N%": "frames at the first evaluation at or above N% (" + ", ".join(
        f"{t:.0%}" for t in THRESHOLDS) + "), mean ± std; 'k/n never': runs that did not",
    "final success": "the metric at each run's last evaluation, mean ± std",
    "wall time (s)": "the MLflow run's start to end",
    "frames/s": "frames the run trained (a branch: past its parent's) over its wall time",
}


@dataclass
class RunCurve:
    """One run's evaluation curve (frames, metric value) and its summary facts."""

    run_id: str
    group: str
    frames: np.ndarray
    values: np.ndarray
    wall_seconds: float
    start_frame: float = 0.0  # a branch starts at its parent's frame count

    def frames_to(self, threshold: float) -> float:
        """First evaluated frame count at which the metric reached ``threshold`` (nan: never)."""
        hits = np.nonzero(self.values >= threshold)[0]
        return float(self.frames[hits[0]]) if hits.size else math.nan

    @property
    def final(self) -> float:
        return float(self.values[-1]) if self.values.size else math.nan

    @property
    def frames_per_second(self) -> float:
        trained = float(self.frames[-1]) - self.start_frame if self.frames.size else math.nan
        return trained / self.wall_seconds if self.wall_seconds > 0 else math.nan


@dataclass
class Comparison:
    runs: list[RunCurve]
    rows: list[dict[str, object]] = field(default_factory=list)
    markdown: str = ""
    plot_path: Path | None = None


def _group_of(run, group_by: Sequence[str]) -> str:
    """The run's values of the ``group_by`` keys, joined by spaces (keys it lacks left out;
    its run name when it has none of them)."""
    values = []
    for key in group_by:
        kind, _, name = key.partition(".")
        source = {"tags": run.data.tags, "params": run.data.params}.get(kind)
        if source is None:
            raise ValueError(f"--group-by must look like tags.NAME or params.NAME, got {key!r}")
        values.append(source.get(name))
    return " ".join(v for v in values if v) or \
        run.data.tags.get("mlflow.runName", run.info.run_id[:8])


def load_runs(
    tracking_uri: str,
    experiments: list[str] | None = None,
    run_ids: list[str] | None = None,
    filter_string: str = "",
    metric: str = DEFAULT_METRIC,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
) -> list[RunCurve]:
    """Read runs and their metric histories from any MLflow store or tracking server."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    if run_ids:
        runs = []
        for run_id in run_ids:
            try:
                runs.append(client.get_run(run_id))
            except MlflowException:
                raise ValueError(f"no run {run_id!r} in {tracking_uri}: pass a run id of that "
                                 "store (its run folder's mlflow_run_id file, or mlflow ui), "
                                 "or --experiment NAME") from None
    else:
        if not experiments:
            raise ValueError("name at least one experiment or run id to compare")
        found = {name: client.get_experiment_by_name(name) for name in experiments}
        missing = [name for name, exp in found.items() if exp is None]
        if missing:
            known = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise ValueError(f"no experiment named {', '.join(missing)} in {tracking_uri} "
                             f"(experiments there: {known})")
        try:
            runs = client.search_runs([exp.experiment_id for exp in found.values()],
                                      filter_string=filter_string, max_results=10_000)
        except MlflowException as err:
            reason = " ".join(err.message.split())[:160]
            raise ValueError(f"--filter {filter_string!r} is not an MLflow filter ({reason}): "
                             "write it as MLflow's search does, e.g. \"tags.method = 'soft'\"") \
                from None
    curves = []
    for run in runs:
        history = sorted(client.get_metric_history(run.info.run_id, metric), key=lambda m: m.step)
        if not history:
            continue
        end = run.info.end_time or max(m.timestamp for m in history)
        curves.append(RunCurve(
            run_id=run.info.run_id,
            group=_group_of(run, group_by),
            frames=np.array([m.step for m in history], dtype=float),
            values=np.array([m.value for m in history], dtype=float),
            wall_seconds=(end - run.info.start_time) / 1000.0,
            start_frame=float(run.data.tags.get(BRANCHED_AT, 0)),
        ))
    if not curves:
        raise ValueError(f"none of the selected runs logged the metric {metric!r}")
    return curves


def _mean_std(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "never"
    text = f"{np.mean(finite):,.0f}" if max(finite) > 1.5 else f"{np.mean(finite):.2f}"
    if len(finite) > 1:
        spread = np.std(finite)
        text += f" ± {spread:,.0f}" if max(finite) > 1.5 else f" ± {spread:.2f}"
    if len(finite) < len(values):
        text += f" ({len(values) - len(finite)}/{len(values)} never)"
    return text


def summarize(runs: list[RunCurve]) -> list[dict[str, object]]:
    """One row per group: mean ± std over its runs (seeds)."""
    rows = []
    for group in sorted({r.group for r in runs}):
        members = [r for r in runs if r.group == group]
        row: dict[str, object] = {"group": group, "runs": len(members)}
        for threshold in THRESHOLDS:
            row[f"frames to {threshold:.0%}"] = _mean_std([r.frames_to(threshold) for r in members])
        row["final success"] = _mean_std([r.final for r in members])
        row["wall time (s)"] = _mean_std([r.wall_seconds for r in members])
        row["frames/s"] = _mean_std([r.frames_per_second for r in members])
        rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, object]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def plot_curves(runs: list[RunCurve], path: Path, metric: str = DEFAULT_METRIC,
                references: dict[str, float] | None = None) -> Path:
    """Success vs frames, one line per group (mean over seeds) with a min–max band.

    ``references`` are drawn as dashed horizontal lines (e.g. the teacher's own success).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    for group in sorted({r.group for r in runs}):
        members = [r for r in runs if r.group == group]
        # from the first frame a run trained (a branch's curve starts at its parent's end)
        start = min(r.start_frame for r in members)
        grid = np.linspace(start, max(r.frames[-1] for r in members), 200)
        # a run's value holds from one evaluation to the next (step interpolation)
        stacked = np.stack([
            r.values[np.clip(np.searchsorted(r.frames, grid, side="right") - 1, 0, None)]
            for r in members
        ])
        line, = ax.plot(grid, stacked.mean(0), label=f"{group} (n={len(members)})")
        ax.fill_between(grid, stacked.min(0), stacked.max(0), alpha=0.2, color=line.get_color())
    levels: dict[float, list[str]] = {}  # equal levels share one line and one label
    for name, value in (references or {}).items():
        levels.setdefault(round(value, 2), []).append(name)
    ordered = sorted(levels)
    for i, value in enumerate(ordered):
        ax.axhline(value, linestyle="--", linewidth=1, color="grey")
        # a label goes under its line when the next level up would sit on top of it
        close = i + 1 < len(ordered) and ordered[i + 1] - value < 0.05
        ax.annotate(f"{', '.join(levels[value])} {value:.2f}", (0, value),
                    xytext=(2, -9 if close else 3), textcoords="offset points", fontsize=8,
                    color="dimgrey")
    ax.set_xlabel("environment frames")
    ax.set_ylabel(metric)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside: hides nothing
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare(
    tracking_uri: str,
    experiments: list[str] | None = None,
    run_ids: list[str] | None = None,
    filter_string: str = "",
    metric: str = DEFAULT_METRIC,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    out_dir: Path | None = None,
    references: dict[str, float] | None = None,
) -> Comparison:
    """Load, summarise and (with ``out_dir``) write ``compare.md`` and ``curves.png``."""
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder: name a folder for "
                         "compare.md and curves.png")
    runs = load_runs(tracking_uri, experiments, run_ids, filter_string, metric, group_by)
    rows = summarize(runs)
    result = Comparison(runs=runs, rows=rows, markdown=to_markdown(rows))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.plot_path = plot_curves(runs, out_dir / "curves.png", metric, references)
        (out_dir / "compare.md").write_text(
            f"{result.markdown}\n\n![{metric} vs frames](curves.png)\n"
        )
    return result
