"""``llm4teach fit`` on the Habitat domain's task: the visual student, the skill teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
from extras import installed
from fit_args import tiny_fit_args
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.metrics import EVAL_SAMPLED, EVAL_TEACHER, GREEDY_SUCCESS, TRAIN_KL_TEACHER
from llm4teach.training.checkpointing import load_checkpoint

CONFIG = str(Path(__file__).parent.parent / "configs" / "habitat_tidy.yaml")


def _fit_args(tmp: Path, *extra: str) -> list[str]:
    return ["fit", "--config", CONFIG, *tiny_fit_args(tmp, total_frames=128),
            "--data.num_envs", "2", *extra]


@pytest.mark.slow
def test_fit_trains_the_visual_student_in_bf16_and_evaluates_it(in_tmp, capsys):
    main(_fit_args(in_tmp))  # the config asks for bf16-mixed
    checkpoint = load_checkpoint(in_tmp / "run" / "checkpoints" / "last.ckpt")
    assert int(checkpoint["state_dict"]["frames"]) == 128
    assert checkpoint["hyper_parameters"]["task"] == "TidyHabitat"

    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    run = client.get_run(checkpoint["mlflow_run_id"])
    assert run.data.params["trainer.precision"] == "bf16-mixed"
    history = client.get_metric_history(run.info.run_id, EVAL_SAMPLED)
    assert [m.step for m in history] == [128]
    teacher = client.get_metric_history(run.info.run_id, EVAL_TEACHER)
    assert len(teacher) == 1 and 0.0 <= teacher[0].value <= 1.0
    assert client.get_metric_history(run.info.run_id, TRAIN_KL_TEACHER)[0].value > 0

    main(["evaluate", "--ckpt", str(in_tmp / "run" / "checkpoints" / "last.ckpt"),
          "--episodes", "2"])
    assert GREEDY_SUCCESS in capsys.readouterr().out


def test_the_habitat_teacher_refuses_the_unpublished_paper_prompt_and_noop(in_tmp):
    with pytest.raises(SystemExit, match="paper's prompt for TidyHabitat is not published: set "
                                         "teacher prompt to ours"):
        main(_fit_args(in_tmp, "--data.teacher.backend", "hf", "--data.teacher.model", "m",
                       "--data.teacher.prompt", "paper"))
    with pytest.raises(SystemExit, match="no no-op action for teacher fallback 'noop': use "
                                         "fallback 'mask'"):
        main(_fit_args(in_tmp, "--data.teacher.fallback", "noop"))


def test_an_unknown_task_lists_the_habitat_task_too(in_tmp):
    with pytest.raises(SystemExit, match="valid tasks: SimpleDoorKey.*TidyHabitat"):
        main(_fit_args(in_tmp, "--data.task", "TidyHabitta"))


@pytest.mark.skipif(installed("habitat-lab"), reason="habitat-lab is installed here")
def test_the_habitat_lab_task_without_habitat_lab_says_how_to_get_it(in_tmp):
    with pytest.raises(SystemExit, match="runs through habitat-lab, which cannot be imported.*"
                                         "install the habitat extra.*or use task TidyHabitat"):
        main(_fit_args(in_tmp, "--data.task", "TidyHabitatLab"))
