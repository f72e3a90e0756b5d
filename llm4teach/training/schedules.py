"""Schedules of lambda, the weight of the teacher term, as Lightning callbacks.

Each schedule is one small callback with an explicit ``unit``: ``updates`` (PPO
updates done) or ``frames`` (environment frames collected). At the start of a fit (after
a checkpoint is restored) and before every update it writes lambda into the module
(``pl_module.loss.distill_coef``, the one place lambda lives) and switches the data module's
teacher on or off with it. Every schedule is non-increasing and never negative, so once
lambda is 0 it stays 0 and the rollouts skip the teacher for good.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

Unit = Literal["updates", "frames"]
UNITS = ("updates", "frames")


def _check(name: str, value: float, low: float = 0.0, high: float = float("inf")) -> None:
    if not low <= value <= high:
        raise ValueError(f"schedule {name} must be in [{low}, {high}], got {value!r}")


class LambdaSchedule(Callback):
    """Base: ``value(t)`` is lambda after ``t`` units; subclasses only define ``value``."""

    def __init__(self, unit: Unit = "updates") -> None:
        if unit not in UNITS:
            raise ValueError(f"schedule unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self.unit = unit

    def value(self, t: int) -> float:
        raise NotImplementedError

    def apply(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Lambda for the module's counters; the teacher annotates rollouts only while it is > 0."""
        t = int(pl_module.updates if self.unit == "updates" else pl_module.frames)
        lam = self.value(t)
        pl_module.loss.distill_coef.fill_(lam)
        teacher = getattr(trainer.datamodule, "teacher", None)
        if teacher is not None:
            teacher.enabled = lam > 0

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.apply(trainer, pl_module)  # before the collector's first reset asks the teacher

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.apply(trainer, pl_module)

    def settings(self) -> dict[str, Any]:
        """The constructor's arguments (plain values, so checkpoints load with weights_only)."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def state_dict(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **self.settings()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict != self.state_dict():
            rank_zero_warn(
                f"the checkpoint's lambda schedule {state_dict} differs from the configured "
                f"{self.state_dict()}; continuing with the configured one"
            )


class ReferenceSchedule(LambdaSchedule):
    """The paper's: ``start`` less ``step`` per unit, floor ``floor``, 0 from ``off_after``."""

    def __init__(
        self, start: float = 10.0, step: float = 0.005, floor: float = 0.1,
        off_after: int = 3000, unit: Unit = "updates",
    ) -> None:
        super().__init__(unit)
        for name, value in (("start", start), ("step", step), ("floor", floor)):
            _check(name, value)
        _check("floor", floor, high=start)
        _check("off_after", off_after)
        self.start, self.step, self.floor, self.off_after = start, step, floor, off_after

    def value(self, t: int) -> float:
        return 0.0 if t >= self.off_after else max(self.start - self.step * t, self.floor)


class LinearSchedule(LambdaSchedule):
    """From ``start`` to ``end`` over ``duration`` units, then ``end``."""

    def __init__(
        self, start: float = 1.0, end: float = 0.0, duration: int = 100, unit: Unit = "updates"
    ) -> None:
        super().__init__(unit)
        _check("end", end)
        _check("start", start, low=end)
        _check("duration", duration, low=1)
        self.start, self.end, self.duration = start, end, duration

    def value(self, t: int) -> float:
        return self.start + (self.end - self.start) * min(t / self.duration, 1.0)


class ExponentialSchedule(LambdaSchedule):
    """``start * rate ** t``, never below ``floor``."""

    def __init__(
        self, start: float = 1.0, rate: float = 0.99, floor: float = 0.0, unit: Unit = "updates"
    ) -> None:
        super().__init__(unit)
        _check("start", start)
        _check("rate", rate, high=1.0)
        _check("floor", floor, high=start)
        self.start, self.rate, self.floor = start, rate, floor

    def value(self, t: int) -> float:
        return max(self.start * self.rate**t, self.floor)


class ConstantSchedule(LambdaSchedule):
    """lambda = ``value`` throughout."""

    def __init__(self, lam: float = 1.0, unit: Unit = "updates") -> None:
        super().__init__(unit)
        _check("lam", lam)
        self.lam = lam

    def value(self, t: int) -> float:
        return self.lam


class NoTeacher(LambdaSchedule):
    """lambda = 0: plain PPO, and the rollouts never consult the teacher."""

    def value(self, t: int) -> float:
        return 0.0
