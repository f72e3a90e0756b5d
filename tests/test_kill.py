"""Kill -9 a fit at random points, five times in each mode, and resume it each time: the end is
the uninterrupted run's, bit for bit, in one MLflow run with one point per step.

The fits run as the ``llm4teach`` command in their own processes (SIGKILL leaves no chance
to clean up). Each kill waits for an event of the run folder (the MLflow run id written at
the start, or a new checkpoint) and then a random delay drawn from a fixed seed: two kills land
before the first checkpoint (start-up, the teacher's evaluation, the first epoch), the
others just after a checkpoint and mid-run.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from fit_args import tiny_fit_args
from mlflow.tracking import MlflowClient

from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit

TOTAL_FRAMES = 1536  # 12 epochs of 2 updates: the five kills land well before the end
# (event, longest delay in s): the run id file is written before the teacher's evaluation
# and the first epoch, so "started" kills land before the first checkpoint
MODES = ("soft", "hard")
KILLS = [("started", 0.0), ("started", 2.0), ("checkpoint", 1.0), ("started", 4.0),
         ("checkpoint", 0.3)]


def _last(folder: Path) -> Path:
    return folder / "run/checkpoints/last.ckpt"


def _event_seen(folder: Path, event: str, since: float) -> bool:
    path = folder / "run/mlflow_run_id" if event == "started" else _last(folder)
    return path.is_file() and path.stat().st_mtime > since


def _kill_at(args: list[str], folder: Path, event: str, delay: float) -> int:
    """Start ``llm4teach fit ARGS``, SIGKILL it ``delay`` s after ``event``; its exit code."""
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "llm4teach", "fit", *args], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and not _event_seen(folder, event, started):
            time.sleep(0.02)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()


def _steps(folder: Path, run_id: str) -> dict[str, list[int]]:
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    return {key: [m.step for m in client.get_metric_history(run_id, key)]
            for key in client.get_run(run_id).data.metrics}


def _kill_chain(args: list[str], folder: Path, seed: str) -> list[int]:
    """The fit of ``args`` started and killed at each of ``KILLS``, resumed after each."""
    rng, codes = random.Random(seed), []
    folder.mkdir()
    for event, longest in KILLS:
        resume = ["--ckpt_path", "last"] if (folder / "run/mlflow_run_id").is_file() else []
        codes.append(_kill_at([*args, *resume], folder, event, rng.uniform(0, longest)))
    return codes


@pytest.mark.slow
def test_killed_ten_times_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    """Five kills per mode; the two modes' chains run side by side (a core each), while
    this process trains their uninterrupted references."""
    args = {mode: tiny_fit_args(tmp_path / mode, TOTAL_FRAMES, **{"--data.teacher.mode": mode})
            for mode in MODES}
    with ThreadPoolExecutor(len(MODES)) as pool:
        chains = {mode: pool.submit(_kill_chain, args[mode], tmp_path / mode, f"kill-{mode}")
                  for mode in MODES}
        for mode in MODES:
            whole = tmp_path / f"{mode}-whole"
            whole.mkdir()
            monkeypatch.chdir(whole)
            fit(tiny_fit_args(whole, TOTAL_FRAMES, **{"--data.teacher.mode": mode}))
        codes = {mode: chain.result() for mode, chain in chains.items()}
    for mode in MODES:
        assert codes[mode] == [-signal.SIGKILL] * len(KILLS), f"{mode}: exits {codes[mode]}"
        killed, whole = tmp_path / mode, tmp_path / f"{mode}-whole"
        monkeypatch.chdir(killed)
        fit([*args[mode], "--ckpt_path", "last"])

        done, reference = load_checkpoint(_last(killed)), load_checkpoint(_last(whole))
        assert int(done["state_dict"]["frames"]) == TOTAL_FRAMES
        for key, value in reference["state_dict"].items():
            assert torch.equal(done["state_dict"][key], value), f"{mode}: {key}"
        run_id = done["mlflow_run_id"]
        assert run_id == (killed / "run/mlflow_run_id").read_text().strip()
        client = MlflowClient(f"sqlite:///{killed}/mlruns/mlflow.db")
        assert client.get_run(run_id).info.status == "FINISHED"
        assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 1
        assert _steps(killed, run_id) == _steps(whole, reference["mlflow_run_id"])
        assert not list((killed / "run/checkpoints").glob("*.tmp*"))


def _checkpoint_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "run/checkpoints").glob("*.ckpt"))


def _best(folder: Path) -> tuple[str, float]:
    """The best checkpoint's file name and score, as the run's last checkpoint tracks them."""
    states = load_checkpoint(_last(folder))["callbacks"]
    (best,) = [s for s in states.values() if isinstance(s, dict) and s.get("monitor")]
    return Path(best["best_model_path"]).name, float(best["best_model_score"])


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_best_checkpoint_survives_resumes(tmp_path, monkeypatch):
    """SIGTERM (docker stop, Slurm, Kubernetes) just after each of three epochs' checkpoints:
    each process exits 143 with the line saying how to continue, its MLflow run KILLED.
    Continued to the end, the run is the uninterrupted one: weights, steps, and the best
    checkpoint (the one file beside last.ckpt, the same epoch and score)."""
    total = 768  # 6 epochs: three stops, three epochs after them
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    whole.mkdir(), stopped.mkdir()
    monkeypatch.chdir(whole)
    fit(tiny_fit_args(whole, total))
    args = tiny_fit_args(stopped, total)
    for stop in range(3):
        started, resume = time.time(), ["--ckpt_path", "last"] if stop else []
        process = subprocess.Popen(
            [sys.executable, "-m", "llm4teach", "fit", *args, *resume], cwd=stopped,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            while process.poll() is None and not _event_seen(stopped, "checkpoint", started):
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 128 + signal.SIGTERM, err
        assert err.splitlines()[-1] == (
            f"llm4teach fit: error: stopped by SIGTERM; the checkpoints in {stopped}/run/"
            "checkpoints are kept: continue the run with the same command and --ckpt_path last")
        run_id = (stopped / "run/mlflow_run_id").read_text().strip()
        client = MlflowClient(f"sqlite:///{stopped}/mlruns/mlflow.db")
        assert client.get_run(run_id).info.status == "KILLED"
        assert len(_checkpoint_files(stopped)) <= 2
    monkeypatch.chdir(stopped)
    fit([*args, "--ckpt_path", "last"])

    done, reference = load_checkpoint(_last(stopped)), load_checkpoint(_last(whole))
    for key, value in reference["state_dict"].items():
        assert torch.equal(done["state_dict"][key], value), key
    assert client.get_run(run_id).info.status == "FINISHED"
    assert _steps(stopped, run_id) == _steps(whole, reference["mlflow_run_id"])
    assert _checkpoint_files(stopped) == _checkpoint_files(whole)
    assert len(_checkpoint_files(stopped)) == 2  # last and one best
    assert _best(stopped) == _best(whole)
