"""lambda schedules: values, units, validation, checkpoint state."""

import io

import pytest
import torch

from llm4teach.training.schedules import (
    ConstantSchedule,
    ExponentialSchedule,
    LinearSchedule,
    NoTeacher,
    ReferenceSchedule,
)


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
