"""lambda schedules: values, units, validation, checkpoint state."""

import io

import numpy as np
import pytest
import torch
from fit_args import tiny_fit_args
from mlflow.tracking import MlflowClient

from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER, TRAIN_LAMBDA, TRAIN_LR
from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit
from llm4teach.training.schedules import (
    ConstantSchedule,
    ExponentialSchedule,
    HandoverSchedule,
    LinearSchedule,
    NoTeacher,
    ReferenceSchedule,
)

HANDOVER = "llm4teach.training.schedules.HandoverSchedule"


def test_reference_schedule_matches_the_paper():
    s = ReferenceSchedule()
    assert s.value(0) == 10.0
    assert s.value(1000) == pytest.approx(5.0)
    assert s.value(1980) == pytest.approx(0.1)
    assert s.value(2500) == pytest.approx(0.1)
    assert s.value(2999) == pytest.approx(0.1) and s.value(3000) == 0.0


def test_other_schedules():
    assert LinearSchedule(2.0, 0.0, 10).value(5) == pytest.approx(1.0)
    assert LinearSchedule(2.0, 0.5, 10).value(50) == pytest.approx(0.5)
    assert ExponentialSchedule(1.0, 0.5, 0.1).value(2) == pytest.approx(0.25)
    assert ExponentialSchedule(1.0, 0.5, 0.1).value(10) == pytest.approx(0.1)
    assert ConstantSchedule(0.3).value(10**6) == 0.3
    assert NoTeacher().value(0) == 0.0


@pytest.mark.parametrize("schedule", [ReferenceSchedule(unit="frames"), LinearSchedule(),
                                      ExponentialSchedule(), ConstantSchedule(), NoTeacher()])
def test_non_increasing_so_zero_is_for_good(schedule):
    values = [schedule.value(t) for t in range(0, 5000, 7)]
    assert all(a >= b >= 0 for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("make, field", [
    (lambda: ReferenceSchedule(unit="epochs"), "unit"),
    (lambda: LinearSchedule(start=0.0, end=1.0), "start"),
    (lambda: ExponentialSchedule(rate=1.5), "rate"),
    (lambda: ConstantSchedule(lam=-1.0), "lam"),
    (lambda: HandoverSchedule(factor=1.0), "factor"),
    (lambda: HandoverSchedule(off_below=0.0), "off_below"),
    (lambda: HandoverSchedule(patience=0), "patience"),
    (lambda: HandoverSchedule(lr_end=0.0), "lr_end"),
    (lambda: HandoverSchedule(off_below=0.01, end=0.1), "end"),
])
def test_invalid_settings_name_the_field(make, field):
    with pytest.raises(ValueError, match=f"schedule {field}"):
        make()


def test_state_is_plain_and_loads_with_weights_only():
    buffer = io.BytesIO()
    torch.save(ReferenceSchedule(unit="frames").state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state == {"name": "ReferenceSchedule", "start": 10.0, "step": 0.005, "floor": 0.1,
                     "off_after": 3000, "unit": "frames"}


def test_handover_steps_lambda_down_by_factor_to_off_and_the_lr_with_it():
    handover = HandoverSchedule(start=10.0, factor=0.1, off_below=0.01, lr_end=0.25)
    assert handover.lambdas() == [10.0, 1.0, 0.1, 0.01, 0.0]
    assert HandoverSchedule(start=1.0, factor=0.5, off_below=0.3).lambdas() == [1.0, 0.5, 0.0]
    assert handover.value(0) == 10.0 and handover.lr_scale() == 1.0
    kept = HandoverSchedule(start=10.0, factor=0.1, off_below=0.1, end=0.01)
    assert kept.lambdas() == [10.0, 1.0, 0.1, 0.01]  # the teacher never off


def _history(folder, run_id: str, key: str) -> list[tuple[int, float]]:
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_handover_gated_by_the_teacher_steps_at_each_evaluation_and_resumes(in_tmp):
    """reach 0: every evaluation finds the student at its teacher, so lambda and lr step down
    once per epoch (2 updates); a run continued from a checkpoint goes on from its step."""
    settings = {"--schedule": HANDOVER, "--schedule.reach": "0", "--model.optimiser.lr": "0.004"}
    fit(tiny_fit_args(in_tmp, total_frames=256, **settings))  # 2 epochs, then a checkpoint
    fit([*tiny_fit_args(in_tmp, total_frames=768, **settings), "--ckpt_path", "last"])
    checkpoint = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")
    run_id = checkpoint["mlflow_run_id"]
    lambdas = _history(in_tmp, run_id, TRAIN_LAMBDA)
    assert [step for step, _ in lambdas] == list(range(64, 769, 64))
    expected = [10.0, 1.0, 0.1, 0.01, 0.0, 0.0]  # per epoch of 2 updates
    np.testing.assert_allclose([lam for _, lam in lambdas], np.repeat(expected, 2), rtol=1e-6)
    lrs = [lr for _, lr in _history(in_tmp, run_id, TRAIN_LR)]
    scale = np.minimum(np.arange(6), 4) / 4
    np.testing.assert_allclose(lrs, np.repeat(0.004 * 0.25**scale, 2), rtol=1e-6)
    (state,) = [v for k, v in checkpoint["callbacks"].items() if "HandoverSchedule" in k]
    assert state["step"] == 4


def test_handover_without_reaching_the_teacher_steps_when_the_student_stalls(in_tmp):
    """An unreachable gate (reach 100): lambda steps down only after ``patience``
    evaluations without a new best student success (by ``min_delta``), as read from the
    run's own numbers."""
    fit(tiny_fit_args(in_tmp, total_frames=1024, **{
        "--schedule": HANDOVER, "--schedule.reach": "100", "--schedule.patience": "2",
        "--schedule.factor": "0.5", "--schedule.off_below": "1", "--schedule.start": "8",
        "--schedule.min_delta": "0.1"}))
    run_id = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["mlflow_run_id"]
    greedy = _history(in_tmp, run_id, EVAL_GREEDY)
    sampled = _history(in_tmp, run_id, EVAL_SAMPLED)
    expected, lam, best, stale = [8.0], 8.0, -1.0, 0
    for (_, g), (_, s) in zip(greedy[:-1], sampled[:-1], strict=True):
        success = max(g, s)
        best, stale = (success, 0) if success >= best + 0.1 - 1e-9 else (best, stale + 1)
        if stale >= 2 and lam > 0:
            lam, best, stale = (lam / 2 if lam > 1 else 0.0), success, 0
        expected.append(lam)
    lambdas = [lam for _, lam in _history(in_tmp, run_id, TRAIN_LAMBDA)]
    np.testing.assert_allclose(lambdas, np.repeat(expected, 2))
    assert lambdas[-1] < 8.0  # it did step down


def test_handover_keeps_a_teacher_at_keep_above(in_tmp):
    """reach 0 would step down at every evaluation; a teacher at keep_above is kept."""
    fit(tiny_fit_args(in_tmp, total_frames=512, **{
        "--schedule": HANDOVER, "--schedule.reach": "0", "--schedule.keep_above": "0"}))
    run_id = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["mlflow_run_id"]
    assert {lam for _, lam in _history(in_tmp, run_id, TRAIN_LAMBDA)} == {10.0}


def test_handover_refuses_a_run_that_does_not_evaluate_its_teacher(in_tmp):
    with pytest.raises(ValueError, match="evaluation.teacher true"):
        fit(tiny_fit_args(in_tmp, **{"--schedule": HANDOVER, "--evaluation.teacher": "false"}))


def test_handover_reads_logged_float32_success_as_the_shares_they_are():
    """Logged metrics are float32: 0.12 is then a little below 0.07 + 0.05, and still a new
    best by min_delta; a student at its teacher's share reaches it."""
    handover = HandoverSchedule(reach=1.0, patience=1, min_delta=0.05)
    logged = {EVAL_GREEDY: 0.07, EVAL_SAMPLED: 0.0, EVAL_TEACHER: 0.9}
    handover.observe({k: float(np.float32(v)) for k, v in logged.items()})
    handover.observe({**{k: float(np.float32(v)) for k, v in logged.items()},
                      EVAL_GREEDY: float(np.float32(0.12))})
    assert handover.step == 0 and handover.stale == 0  # a new best, not a stall
    handover.observe({EVAL_GREEDY: float(np.float32(0.9)), EVAL_SAMPLED: 0.0,
                      EVAL_TEACHER: float(np.float32(0.9))})
    assert handover.step == 1 and handover.value(10**6) == 1.0
