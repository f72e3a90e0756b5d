"""An LLM teacher that answers on a worker thread: collection never waits, unanswered steps
have no opinion (counted), answers arrive for later steps, failures surface in one line."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from fit_args import tiny_fit_args
from helpers import Recording, teacher_of
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.domains.minigrid import make_gym_env
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.planners.background import BATCH, BackgroundPlanner


def llm_config(model, tmp_path, **kw) -> TeacherConfig:
    return TeacherConfig(backend="hf", model=str(model), method="logits", prompt="ours",
                         cache_path=str(tmp_path / "plans.sqlite"), **kw)


def observations(n: int) -> np.ndarray:
    """The first observations of ``n`` SimpleDoorKey episodes (seeds 0..n-1)."""
    env = make_gym_env("SimpleDoorKey")
    return np.stack([env.reset(seed=seed)[0] for seed in range(n)])


@pytest.mark.parametrize("fallback", ["mask", "noop"])
def test_unanswered_steps_have_no_opinion_then_the_waiting_teachers(tiny_llm, tmp_path,
                                                                      fallback):
    obs = observations(4)
    waiting = teacher_of("SimpleDoorKey", llm_config(tiny_llm, tmp_path / "w",
                                                     fallback=fallback))
    expected = waiting.act_probs(obs)
    teacher = teacher_of("SimpleDoorKey", llm_config(tiny_llm, tmp_path / "b",
                                                     fallback=fallback))
    teacher.plan_in_background()
    assert isinstance(teacher.planner, BackgroundPlanner)

    probs, mask = teacher.act_probs(obs)  # the worker has not answered: no opinion anywhere
    assert not mask.any() and np.allclose(probs, 1 / 7)
    assert (teacher.stats.pending, teacher.stats.fallbacks) == (4, 0)

    twin = teacher.fork()  # the evaluation's teacher waits for every answer
    assert [np.array_equal(a, b) for a, b in zip(twin.act_probs(obs), expected,
                                                 strict=True)] == [True, True]
    assert [np.array_equal(a, b) for a, b in zip(teacher.act_probs(obs), expected,
                                                 strict=True)] == [True, True]
    assert teacher.stats.pending == 4  # answered once, as the waiting teacher was asked
    assert teacher.stats.model_calls == waiting.stats.model_calls > 0
    teacher.close()


def test_a_failing_model_is_one_line_on_the_next_question(tmp_path):
    teacher = teacher_of("SimpleDoorKey", llm_config(tmp_path / "no-model", tmp_path))
    teacher.plan_in_background()
    obs = observations(1)
    teacher.act_probs(obs)  # queued: the worker fails loading the model
    with pytest.raises(ValueError, match="no-model"):
        teacher.fork().act_probs(obs)
    with pytest.raises(ValueError, match="no-model"):
        teacher.act_probs(observations(2))
    teacher.close()


def test_a_waiting_question_goes_ahead_of_polled_ones():
    gate = threading.Event()  # holds the worker in its first batch until the question came
    recording = Recording(lambda text: {"explore": 1.0} if gate.wait() else {})
    worker = BackgroundPlanner(recording)
    polled = [f"polled {i}" for i in range(3 * BATCH)]
    assert worker.poll(polled) == [None] * len(polled)
    threading.Timer(0.1, gate.set).start()
    assert worker.plan(["waited"]) == [{"explore": 1.0}]
    # the worker may have taken the first batch before the question came; never a later one
    assert recording.texts.index("waited") <= BATCH
    assert worker.plan(polled) == [{"explore": 1.0}] * len(polled)
    worker.close()
    assert sorted(recording.texts) == sorted([*polled, "waited"])  # each asked once


def test_a_table_teacher_stays_as_it_is():
    teacher = teacher_of("SimpleDoorKey")
    teacher.plan_in_background()
    assert not teacher.polls and not isinstance(teacher.planner, BackgroundPlanner)


def test_closing_keeps_the_batch_in_flight_and_refuses_new_questions(tiny_llm, tmp_path):
    teacher = teacher_of("SimpleDoorKey", llm_config(tiny_llm, tmp_path))
    teacher.plan_in_background()
    teacher.act_probs(observations(1))
    teacher.close()
    planner = teacher.planner.planner
    assert planner.stats.model_calls in (0, 1)  # the batch was in flight or not yet taken
    with pytest.raises(RuntimeError, match="closed"):
        teacher.act_probs(observations(3))


@pytest.mark.slow
@pytest.mark.parametrize("wait", ["true", "false"])
def test_a_fit_logs_how_long_collection_waited_and_what_was_unanswered(tiny_llm, tmp_path,
                                                                        wait):
    main(["fit", *tiny_fit_args(tmp_path), "--data.teacher.backend", "hf",
          "--data.teacher.model", str(tiny_llm), "--data.teacher.prompt", "ours",
          "--data.teacher.cache_path", str(tmp_path / "plans.sqlite"),
          "--data.teacher.wait", wait])
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("SimpleDoorKey").experiment_id])[0]
    metrics = run.data.metrics
    assert metrics["teacher/model_calls"] > 0 and metrics["teacher/wait_seconds"] > 0
    if wait == "true":
        assert metrics["teacher/pending"] == 0


@pytest.mark.slow
def test_a_fit_stops_at_the_rollout_after_its_model_failed(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["fit", *tiny_fit_args(tmp_path), "--data.teacher.backend", "hf",
              "--data.teacher.model", str(tmp_path / "no-model"), "--evaluation.teacher",
              "false", "--data.teacher.cache_path", str(tmp_path / "plans.sqlite")])
    assert str(exc.value.code).startswith("llm4teach fit: error:")
    assert "no-model" in str(exc.value.code) and "\n" not in str(exc.value.code).strip()


def test_a_pickled_worker_answers_with_a_thread_of_its_own():
    from llm4teach.domains.minigrid.grammar import MINIGRID
    from llm4teach.teacher.planners import TablePlanner

    text = "Agent sees <key>, holds <nothing>."
    worker = BackgroundPlanner(TablePlanner({"states": {text: {"go to <key>": 1.0}}}, MINIGRID))
    assert worker.poll([text]) == [None]
    twin = pickle.loads(pickle.dumps(worker))
    assert twin.plan([text]) == worker.plan([text]) == [{"go to <key>": 1.0}]
    worker.close()
    twin.close()
