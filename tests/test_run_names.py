"""MLflow runs named after what they are, in the store ``MLFLOW_TRACKING_URI`` names."""

from __future__ import annotations

import pytest
from fit_args import tiny_fit_args
from jsonargparse import Namespace
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.domains import short_name
from llm4teach.training.artifacts import MLflowTracking
from llm4teach.training.cli import method_tag


def test_run_named_task_method_seed_in_the_store_of_the_environment(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/env/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking = MLflowTracking(artifact_root=None, tags={"method": "soft"})
    logger = tracking.make_logger("SimpleDoorKey", seed=3)
    run = MlflowClient(uri).get_run(logger.run_id)
    assert run.info.run_name == "SimpleDoorKey-soft-seed3"
    assert run.data.tags["method"] == "soft"

    named = MLflowTracking(artifact_root=None, run_name="mine").make_logger("TwoDoor", seed=0)
    assert MlflowClient(uri).get_run(named.run_id).info.run_name == "mine"
    untagged = MLflowTracking(artifact_root=None).make_logger("TwoDoor", seed=False)
    assert MlflowClient(uri).get_run(untagged.run_id).info.run_name == "TwoDoor"


def test_tracking_uri_option_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env/mlflow.db")
    given = f"sqlite:///{tmp_path}/given/mlflow.db"
    assert MLflowTracking(tracking_uri=given).tracking_uri == given
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert MLflowTracking().tracking_uri == "sqlite:///mlruns/mlflow.db"


def test_every_spelling_of_a_task_logs_under_its_one_name():
    assert short_name("simpledoorkey") == short_name("LLM4Teach/SimpleDoorKey-v0") == \
        "SimpleDoorKey"
    assert short_name("MiniGrid-DoorKey-5x5-v0") == "MiniGrid-DoorKey-5x5-v0"


@pytest.mark.slow
def test_a_lower_case_task_trains_in_the_tasks_experiment(in_tmp):
    main(["fit", *tiny_fit_args(in_tmp, total_frames=128, **{"--data.task": "simpledoorkey"})])
    store = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    names = {e.name for e in store.search_experiments()} - {"Default"}
    assert names == {"SimpleDoorKey"}
    (run,) = store.search_runs([store.get_experiment_by_name("SimpleDoorKey").experiment_id])
    assert run.info.run_name == "SimpleDoorKey-soft-seed0"  # the method from the settings
    assert run.data.params["data.task"] == "SimpleDoorKey"


def _settings(schedule: str = "ReferenceSchedule", task: str = "SimpleDoorKey",
              **teacher: str | None) -> Namespace:
    teacher = {"backend": "table", "mode": "soft", "model": None, "plans": None, **teacher}
    return Namespace(schedule=Namespace(class_path=f"llm4teach.training.schedules.{schedule}"),
                     data=Namespace(task=task, teacher=Namespace(**teacher)))


def test_the_method_tag_says_what_the_run_does():
    assert method_tag(_settings()) == "soft"
    assert method_tag(_settings(mode="hard")) == "hard"
    assert method_tag(_settings("NoTeacher", mode="hard")) == "ppo"  # no teacher consulted
    assert method_tag(_settings(backend="hf", model="lmsys/vicuna-7b-v1.5")) == \
        "soft-hf-vicuna-7b-v1.5"
    assert method_tag(_settings(backend="openai", model="/models/Qwen2.5-7B")) == \
        "soft-openai-Qwen2.5-7B"
    assert method_tag(_settings(plans="tables/mine.json")) == "soft-table-mine"
    corridor = "MiniGrid-KeyCorridorS3R1-v0"  # no packaged table: not taught, not "soft"
    assert method_tag(_settings(task=corridor)) == "no-table"
    assert method_tag(_settings(task=corridor, backend="hf", model="smollm2")) == \
        "soft-hf-smollm2"


def _without(args: list[str], option: str) -> list[str]:
    at = args.index(option)
    return args[:at] + args[at + 2:]


@pytest.mark.slow
def test_runs_are_named_and_filed_by_what_they_do(in_tmp):
    """Two tasks and two methods from one config: four folders, four names, four tags."""
    base = _without(tiny_fit_args(in_tmp, total_frames=128), "--trainer.default_root_dir")
    runs = {("SimpleDoorKey", "soft"): [], ("LavaDoorKey", "soft"): ["--data.task", "LavaDoorKey"],
            ("SimpleDoorKey", "hard"): ["--data.teacher.mode", "hard"],
            ("SimpleDoorKey", "ppo"): ["--schedule", "llm4teach.training.schedules.NoTeacher"]}
    for extra in runs.values():
        main(["fit", *base, *extra])
    store = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    for task, method in runs:
        name = f"{task}-{method}-seed0"
        assert (in_tmp / "runs" / name / "checkpoints" / "last.ckpt").is_file()
        (run,) = store.search_runs([store.get_experiment_by_name(task).experiment_id],
                                   filter_string=f"tags.method = '{method}'")
        assert run.info.run_name == name and run.data.tags["task"] == task
