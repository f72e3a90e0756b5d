"""``llm4teach teacher``: the training evaluation's episodes and loop; TeacherConfig's settings."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from fit_args import tiny_fit_args
from helpers import planner_of
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.metrics import EVAL_TEACHER
from llm4teach.training.checkpointing import load_checkpoint

CONFIGS = Path(__file__).parents[1] / "configs"


@pytest.mark.slow
def test_teacher_command_prints_the_fits_eval_teacher_success(in_tmp, capsys):
    # TwoDoor (per-episode door numbers) in hard mode (a random stream): the fit's teacher has
    # annotated the collector's first reset before it is evaluated, the command's has not
    settings = {"--data.task": "TwoDoor", "--data.teacher.mode": "hard",
                "--evaluation.episodes": "40"}
    main(["fit", *tiny_fit_args(in_tmp, total_frames=64, **settings)])
    run_id = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["mlflow_run_id"]
    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    (logged,) = client.get_metric_history(run_id, EVAL_TEACHER)
    capsys.readouterr()

    main(["teacher", "--task", "TwoDoor", "--teacher.mode", "hard", "--episodes", "40"])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.split()[:4] == ["TwoDoor", "hard", "episodes", "40"]
    assert f"success {logged.value:6.1%}" in line


def test_teacher_command_takes_a_fit_config(capsys):
    main(["teacher", "--config", str(CONFIGS / "lavadoorkey.yaml"), "--episodes", "3"])
    assert capsys.readouterr().out.split()[:4] == ["LavaDoorKey", "soft", "episodes", "3"]


def test_teacher_command_leaves_a_fit_configs_wait_to_the_fit(tmp_path, capsys):
    config = tmp_path / "fit.yaml"
    config.write_text("data:\n  task: SimpleDoorKey\n  teacher: {mode: hard, wait: true}\n")
    main(["teacher", "--config", str(config), "--episodes", "2"])
    assert capsys.readouterr().out.split()[:4] == ["SimpleDoorKey", "hard", "episodes", "2"]


@pytest.mark.parametrize("args, message", [
    (["--teacher.mode", "both"], "teacher mode must be one of soft, hard"),
    (["--teacher.lava", "through"], "teacher lava must be one of"),
    (["--task", "NoSuchTask"], "valid tasks: SimpleDoorKey"),
    (["--config", "missing.yaml"], "missing.yaml"),
    (["--episodes", "0"], "--episodes must be a positive integer"),
    (["--teacher.wait", "true"], "unrecognized arguments: --teacher.wait"),  # a fit's setting
])
def test_teacher_command_errors_are_one_line(args, message, in_tmp):
    with pytest.raises(SystemExit) as exc:
        main(["teacher", *args, "--episodes", "1"] if "--episodes" not in args
             else ["teacher", *args])
    assert isinstance(exc.value.code, str) and "\n" not in exc.value.code
    assert exc.value.code.startswith("llm4teach teacher: error: ") and message in exc.value.code


def test_a_missing_model_folder_is_one_line_on_stderr(tmp_path):
    out = subprocess.run([sys.executable, "-m", "llm4teach", "teacher", "--teacher.backend", "hf",
                          "--teacher.model", str(tmp_path / "nope"), "--episodes", "1"],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "does not exist" in out.stderr


def test_every_counter_the_command_prints_is_named_in_one_line_of_its_help(capsys):
    main(["teacher", "--task", "SimpleDoorKey", "--episodes", "2"])
    printed = capsys.readouterr().out.splitlines()[-1]
    names = [item.split()[0] for item in
             printed.removeprefix("teacher counters: ").split(" (")[0].split(", ")]
    with pytest.raises(SystemExit):
        main(["teacher", "--help"])
    help_lines = capsys.readouterr().out.splitlines()
    for name in names:
        (line,) = [h for h in help_lines if h.split()[:1] == [name]]
        assert len(line.split()) > 4, f"{name}: {line!r} says nothing"


def test_teacher_texts_lists_the_texts_a_tasks_episodes_meet(capsys):
    main(["teacher", "texts", "--task", "SimpleDoorKey", "--episodes", "20",
          "--policy", "teacher"])
    out = capsys.readouterr()
    rows = [line.split(None, 1) for line in out.out.splitlines()]
    counts = {text: int(n) for n, text in rows}
    assert counts["Agent sees <door>, holds <key>."] == 20  # every solved episode passes there
    assert set(counts) <= set(planner_of("SimpleDoorKey").states)  # the table's texts
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    assert f"{len(counts)} distinct state texts in 20 episodes" in out.err


def test_a_task_without_a_table_warns_and_names_the_fixes(capsys):
    with pytest.warns(UserWarning, match=r"no plan table teaches MiniGrid-KeyCorridorS3R1-v0: "
                                         r"every step falls back.*--data.teacher.backend hf.*"
                                         r"llm4teach teacher texts --task"):
        main(["teacher", "--task", "MiniGrid-KeyCorridorS3R1-v0", "--episodes", "2"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # listing a task's texts is the fix: no warning there
        main(["teacher", "texts", "--task", "MiniGrid-KeyCorridorS3R1-v0", "--episodes", "2"])
    assert "Mission: pick up the" in capsys.readouterr().out
