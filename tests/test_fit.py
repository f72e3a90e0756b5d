"""``llm4teach fit`` / ``evaluate`` end to end on a tiny budget: artifacts and clear errors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from fit_args import tiny_fit_args
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.metrics import (
    EVAL_GREEDY,
    EVAL_TEACHER,
    GREEDY_SUCCESS,
    TEACHER,
    TIME_CPU,
    TIME_EVAL_CPU,
    TIME_STARTUP_CPU,
    TIME_WALL,
    TRAIN_LAMBDA,
)
from llm4teach.training.checkpointing import load_checkpoint


def _fail(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = exc.value.code if isinstance(exc.value.code, str) else capsys.readouterr().err
    return str(message)


def _mtimes(artifact_uri: str) -> dict[Path, int]:
    """Every file of a local artifact store's run folder and when it was written."""
    folder = Path(urlparse(artifact_uri).path)
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_fit_logs_to_mlflow_and_writes_safe_checkpoints(in_tmp, capsys):
    main(["fit", *tiny_fit_args(in_tmp, total_frames=256)])
    ckpts = in_tmp / "run" / "checkpoints"
    checkpoint = load_checkpoint(ckpts / "last.ckpt")  # weights_only=True
    assert int(checkpoint["state_dict"]["frames"]) == 256
    assert list(ckpts.glob("best-*.ckpt")) and not list(ckpts.glob("*.tmp"))

    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    run = client.get_run(checkpoint["mlflow_run_id"])
    assert run.data.params["data.task"] == "SimpleDoorKey"
    assert run.data.params["model.ppo.minibatch_size"] == "32"
    # Lightning's settings only where they differ from their defaults (all in config.yaml)
    trainer = {k for k in run.data.params if k.startswith("trainer.")}
    assert trainer == {"trainer.default_root_dir", "trainer.enable_progress_bar"}
    history = client.get_metric_history(run.info.run_id, EVAL_GREEDY)
    assert [m.step for m in history] == [128, 256]  # against frames
    lambdas = client.get_metric_history(run.info.run_id, TRAIN_LAMBDA)
    assert [m.step for m in lambdas] == [64, 128, 192, 256]  # once per update
    assert client.get_metric_history(run.info.run_id, EVAL_TEACHER)
    assert client.get_metric_history(run.info.run_id, TEACHER + "hits")
    # the clock beside every evaluation: the teacher's at frame 0, then each epoch's
    clock = {name: [m.value for m in sorted(client.get_metric_history(run.info.run_id, name),
                                             key=lambda m: (m.step, m.value))]
             for name in (TIME_CPU, TIME_WALL, TIME_EVAL_CPU)}
    for values in clock.values():
        assert len(values) == 3 and values == sorted(values) and values[0] > 0
    assert clock[TIME_EVAL_CPU][-1] < clock[TIME_CPU][-1]
    # the start-up, once, at frame 0: after the teacher's evaluation, before any frame
    (startup,) = client.get_metric_history(run.info.run_id, TIME_STARTUP_CPU)
    assert startup.step == 0 and clock[TIME_CPU][0] <= startup.value < clock[TIME_CPU][1]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "learning_curve.png", "checkpoints"} <= artifacts

    # a second fresh run into the same folder refuses instead of overwriting
    before = (ckpts / "last.ckpt").read_bytes()
    message = _fail(["fit", *tiny_fit_args(in_tmp, total_frames=256)], capsys)
    assert "already holds checkpoints" in message and "--ckpt_path last" in message
    assert (ckpts / "last.ckpt").read_bytes() == before

    main(["evaluate", "--ckpt", str(ckpts / "last.ckpt"), "--episodes", "2"])
    assert GREEDY_SUCCESS in capsys.readouterr().out

    # continuing it against another store names the problem and the fix
    elsewhere = {"--tracking.tracking_uri": f"sqlite:///{in_tmp}/other/mlflow.db"}
    message = _fail(["fit", *tiny_fit_args(in_tmp, 384, **elsewhere), "--ckpt_path", "last"],
                    capsys)
    assert f"MLflow run {run.info.run_id} is not in the store" in message
    assert "--tracking.tracking_uri" in message

    # continuing a run whose frame budget is spent: one line, and the run is left as it was
    uploaded = _mtimes(run.info.artifact_uri)
    capsys.readouterr()
    main(["fit", *tiny_fit_args(in_tmp, total_frames=256), "--ckpt_path", "last"])
    assert capsys.readouterr().out == (f"{in_tmp}/run already finished at 256 frames (budget "
                                       f"256): raise --budget.total_frames to train on\n")
    assert (ckpts / "last.ckpt").read_bytes() == before
    assert len(client.get_metric_history(run.info.run_id, EVAL_GREEDY)) == 2
    again = client.get_run(run.info.run_id)
    assert (again.info.status, again.info.end_time) == ("FINISHED", run.info.end_time)
    assert _mtimes(run.info.artifact_uri) == uploaded  # nothing uploaded again


def test_bad_config_field_is_one_clear_line(in_tmp, capsys):
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--model.student.encoder", "lstm"], capsys)
    assert "model.student.encoder" in message and "embedding" in message
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--data.frames_per_batch", "66"], capsys)
    assert message.startswith("llm4teach fit: error: data frames_per_batch (66) must be a multiple")
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--data.teacher.mode", "medium"], capsys)
    assert "teacher mode must be one of soft, hard" in message
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--data.num_env", "4"], capsys)  # a typo
    assert message == "llm4teach fit: error: unrecognized arguments: --data.num_env 4"
    assert not (in_tmp / "run" / "checkpoints").exists()


def test_missing_or_corrupt_checkpoint_is_one_clear_line(in_tmp, capsys):
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--ckpt_path", "last"], capsys)
    assert message == f"llm4teach fit: error: no run to continue in {in_tmp}/run " \
                      f"({in_tmp}/run/checkpoints/last.ckpt does not exist): start it without " \
                      "--ckpt_path"
    ckpts = in_tmp / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "last.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    message = _fail(["fit", *tiny_fit_args(in_tmp), "--ckpt_path", "last"], capsys)
    assert message.startswith("llm4teach fit: error: checkpoint") and "unreadable" in message
    assert "\n" not in message
    assert (ckpts / "last.ckpt").read_bytes() == b"PK\x03\x04 not really a checkpoint"
    message = _fail(["evaluate", "--ckpt", str(in_tmp / "nope.ckpt")], capsys)
    assert message == f"llm4teach evaluate: error: checkpoint {in_tmp}/nope.ckpt does not exist"


def test_fit_starts_quietly(in_tmp, caplog):
    """No notices about Lightning's own API or its cloud logger, no MLflow migration lines."""
    import logging
    import warnings

    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", *tiny_fit_args(in_tmp, total_frames=128)])
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "dataloader_iter" in m or "Here be dragons" in m]
    for notice in ("litlogger", "TPU available", "Creating it", "Creating initial MLflow"):
        assert notice not in caplog.text


def test_an_epoch_shorter_than_the_episodes_is_named_with_its_fix(in_tmp, recwarn):
    """4 envs x 128 frames per epoch: 32 steps between the envs' resets, where SimpleDoorKey's
    episodes last up to 150; 640 frames (10 rollouts of 16 steps) give each env 160."""
    from llm4teach.training.cli import fit

    fit(tiny_fit_args(in_tmp, total_frames=128))
    cut = [str(w.message) for w in recwarn if "never trains on" in str(w.message)]
    assert cut and "each of the 4 envs 32 steps per epoch" in cut[0]
    assert "Raise data.epoch_frames to 640 or more" in cut[0]
    recwarn.clear()
    fit(tiny_fit_args(in_tmp / "long", total_frames=640, **{"--data.epoch_frames": "640"}))
    assert not [w for w in recwarn if "never trains on" in str(w.message)]
