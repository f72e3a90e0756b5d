"""MLflow runs named after what they are, in the store ``MLFLOW_TRACKING_URI`` names."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from llm4teach.training.artifacts import MLflowTracking


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
