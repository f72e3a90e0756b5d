"""Runs started together on one new MLflow sqlite store all open it."""

import multiprocessing

import pytest

from llm4teach.training.artifacts import MLflowTracking


def _open_store(uri: str, barrier, results) -> None:
    barrier.wait()  # every process opens the new store at the same moment
    try:
        logger = MLflowTracking(tracking_uri=uri, artifact_root=None,
                                experiment="together").make_logger("SimpleDoorKey")
        results.put(logger.experiment_id)
    except Exception as error:  # noqa: BLE001 - reported to the test, not hidden
        results.put(repr(error))


@pytest.mark.slow
def test_runs_started_together_share_one_new_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    workers = [ctx.Process(target=_open_store, args=(uri, barrier, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    ids = [results.get(timeout=5) for _ in workers]
    assert len(set(ids)) == 1 and ids[0].isdigit(), ids
