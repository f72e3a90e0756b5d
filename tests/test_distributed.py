"""Several processes (DDP over gloo, on the CPU) and bf16 mixed precision."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fit_args import tiny_fit_args
from helpers import planner_of
from mlflow.tracking import MlflowClient
from shared_planner_worker import ASKS

from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.teacher.planners import TeacherStats
from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit

TESTS = Path(__file__).parent
BIN = Path(sys.executable).parent
SCRIPT = str(BIN / "llm4teach")
DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
LAUNCHERS = {  # how a user starts two processes; each runs the same `llm4teach fit`
    "trainer": [SCRIPT],
    "torchrun": [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", SCRIPT],
}


def _records(folder: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (folder / f"rank{rank}.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_process_ddp_fit_then_single_process_resume(in_tmp, launcher):
    args = tiny_fit_args(in_tmp, total_frames=384)  # 64 frames per rank per update: 3 updates
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [*LAUNCHERS[launcher], "fit", *args, *DDP,
         "--allow_module", "rank_recorder", "--trainer.callbacks+=rank_recorder.RankRecorder",
         "--trainer.callbacks.out", str(in_tmp)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = _records(in_tmp, 0), _records(in_tmp, 1)
    assert [r["update"] for r in rank0] == [r["update"] for r in rank1] == [1, 2, 3]
    assert [r["frames"] for r in rank0] == [128, 256, 384], "frames count both ranks"
    for a, b in zip(rank0, rank1, strict=True):
        assert a["weights"] == b["weights"], "gradients are averaged: weights agree"
        assert a["episodes"] != b["episodes"], "each rank plays its own episodes"

    last = in_tmp / "run/checkpoints/last.ckpt"
    assert int(load_checkpoint(last)["state_dict"]["frames"]) == 384
    store = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    runs = store.search_runs([e.experiment_id for e in store.search_experiments()])
    assert len(runs) == 1, "only rank 0 logs"

    # the rank-0 checkpoint continues in a single process, in the same MLflow run
    fit([*tiny_fit_args(in_tmp, total_frames=512), "--ckpt_path", "last"])
    assert int(load_checkpoint(last)["state_dict"]["frames"]) == 512
    runs = store.search_runs([e.experiment_id for e in store.search_experiments()])
    assert len(runs) == 1


@pytest.mark.slow
def test_bf16_mixed_fit_on_cpu(in_tmp):
    fit([*tiny_fit_args(in_tmp, total_frames=256), "--trainer.precision", "bf16-mixed"])
    state = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["state_dict"]
    weights = [v for k, v in state.items() if k.startswith("student.")]
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights)
    assert int(state["frames"]) == 256


@pytest.mark.slow
def test_ddp_hf_teacher_loads_one_model_that_answers_both_ranks(in_tmp):
    model = build_tiny_llm(in_tmp / "tiny_llm")
    cache = in_tmp / "plans.sqlite"
    teacher = {"--data.teacher.backend": "hf", "--data.teacher.model": str(model),
               "--data.teacher.method": "logits", "--data.teacher.cache_path": str(cache)}
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    subprocess.run(
        [SCRIPT, "fit", *tiny_fit_args(in_tmp, total_frames=256, **teacher), *DDP,
         "--allow_module", "planner_recorder",
         "--trainer.callbacks+=planner_recorder.PlannerRecorder",
         "--trainer.callbacks.out", str(in_tmp)],
        env={**os.environ, "PYTHONPATH": path}, check=True, capture_output=True, text=True,
        timeout=300,
    )
    rank0, rank1 = (json.loads((in_tmp / f"planner{r}.json").read_text()) for r in (0, 1))
    assert rank0["kind"] == rank1["kind"] == "RankSharedPlanner"
    assert rank0["model_loaded"] and not rank1["model_loaded"], "one model in the job"
    assert rank1["received"] > 0, "rank 1 planned with rank 0's answers"
    assert rank1["stats"]["model_calls"] == rank1["stats"]["misses"] == 0
    with sqlite3.connect(cache) as db:  # logits always plans: every text answered is cached
        distinct = db.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
    stats = rank0["stats"]
    assert stats["model_calls"] == stats["misses"] == distinct, "one model call per text"
    assert stats["hits"] > 0, "a text both ranks met was answered once, not twice"


@pytest.mark.slow
def test_rank_shared_planner_answers_questions_out_of_lockstep(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    worker = str(TESTS / "shared_planner_worker.py")
    ranks = [subprocess.Popen([sys.executable, worker, str(r), str(port), str(tmp_path)])
             for r in (0, 1)]
    try:
        assert [p.wait(timeout=120) for p in ranks] == [0, 0], "no deadlock, no error"
    finally:
        for p in ranks:
            p.kill()
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    table = planner_of("SimpleDoorKey")
    for rank, record in ((0, rank0), (1, rank1)):
        asked = [texts for questions in ASKS[rank] for texts in questions]
        assert record["kind"] == "RankSharedPlanner"
        assert record["answers"] == [table.plan(texts) for texts in asked]
    assert rank1["received"] == 2 + 1 + 2, "distinct texts per question"
    assert rank1["stats"] == TeacherStats().as_dict(), "rank 1's table was never asked"
    assert rank0["stats"]["hits"] == 3 + 4, "rank 0's table answered its 3 texts and rank 1's"
    assert rank0["stats"]["unknown_texts"] == 1
