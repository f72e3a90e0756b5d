"""Schedules of lambda, the weight of the teacher term (the distill coefficient).

A schedule says what lambda is after ``t`` units of its ``unit``, ``updates`` (PPO updates
done) or ``frames`` (environment frames collected), and what the PPO step's learning rate is
multiplied by (1 but for ``HandoverSchedule``); nothing else. ``ScheduleCallback``, the one
place a schedule acts, writes both into the module (``pl_module.loss.distill_coef``, the one
place lambda lives, and ``pl_module.lr_scale``) and switches the data module's teacher with
lambda. Every schedule is non-increasing and never negative, so once lambda is 0 it stays 0
and the rollouts skip the teacher for good.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER

Unit = Literal["updates", "frames"]
UNITS = ("updates", "frames")
# Held-out success is a share of episodes, logged as float32: shares that are equal (or a
# min_delta apart) compare so within this.
TIE = 1e-6


def _check(name: str, value: float, low: float = 0.0, high: float = float("inf")) -> None:
    if not low <= value <= high:
        raise ValueError(f"schedule {name} must be in [{low}, {high}], got {value!r}")


class LambdaSchedule:
    """Base: ``value(t)`` is lambda after ``t`` units; subclasses define ``value``.

    ``needs`` names the logged held-out metrics a schedule reads (``observe``); a fit
    refuses a schedule whose metrics its evaluation does not log.
    """

    needs: tuple[str, ...] = ()

    def __init__(self, unit: Unit = "updates") -> None:
        if unit not in UNITS:
            raise ValueError(f"schedule unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self.unit = unit

    def value(self, t: int) -> float:
        raise NotImplementedError

    def lr_scale(self) -> float:
        """What the PPO step's learning rate is multiplied by."""
        return 1.0

    def observe(self, metrics: Mapping[str, float]) -> None:
        """The numbers logged at a held-out evaluation; a schedule of the clock reads none."""

    def settings(self) -> dict[str, Any]:
        """The constructor's arguments (plain values, so checkpoints load with weights_only)."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def state_dict(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **self.settings()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        configured = LambdaSchedule.state_dict(self)  # the settings, not a schedule's progress
        saved = {k: state_dict.get(k) for k in configured}
        if saved != configured:
            rank_zero_warn(
                f"the checkpoint's lambda schedule {saved} differs from the configured "
                f"{configured}; continuing with the configured one"
            )


class ScheduleCallback(Callback):
    """Where the run follows its lambda schedule, and nothing else does.

    At the start of a fit (after a checkpoint is restored, before the collector's first
    reset asks the teacher) and before every update: lambda for the module's counters into
    the module's distill coefficient, the schedule's lr scale into the module, and the data
    module's teacher on only while lambda > 0. At every epoch end, the held-out numbers
    ``Evaluation`` logged (``trainer.callback_metrics``, as ``EarlyStopping`` reads them) to
    the schedule, before the epoch's checkpoint: so this callback comes after ``Evaluation``
    in the trainer's. Its checkpoint state is the schedule's, under the schedule's name.
    """

    def __init__(self, schedule: LambdaSchedule) -> None:
        self.schedule = schedule

    @property
    def state_key(self) -> str:
        return type(self.schedule).__name__

    def apply(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Lambda and the lr scale into the module; the teacher annotates only while lambda > 0."""
        schedule = self.schedule
        t = int(pl_module.updates if schedule.unit == "updates" else pl_module.frames)
        lam = schedule.value(t)
        pl_module.loss.distill_coef.fill_(lam)
        pl_module.lr_scale = schedule.lr_scale()
        teacher = getattr(trainer.datamodule, "teacher_transform", None)
        if teacher is not None:
            teacher.enabled = lam > 0

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.apply(trainer, pl_module)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.apply(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.schedule.observe({k: float(v) for k, v in trainer.callback_metrics.items()})

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state_dict)


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


class HandoverSchedule(LambdaSchedule):
    """lambda steps down as the student catches up with its teacher; the PPO step with it.

    lambda is ``start`` until a held-out evaluation finds the student's success (the better
    of greedy and sampled) at ``reach`` times its teacher's or above, or finds no new best
    (``min_delta`` above the last: 100 episodes' success varies by about 0.05 by chance)
    for ``patience`` evaluations (a student that imitation alone takes no further); then it
    is multiplied by ``factor``, and again at each such evaluation, until it would fall below
    ``off_below``: there it is ``end``, 0 by default (the teacher switched off), or a small
    floor that keeps a pull towards the teacher (the paper's shape: a near-deterministic
    student left to the reward alone can collapse to an action that never succeeds, and
    nothing brings it back). The learning rate falls with it, by equal
    factors per step, from ``lr`` to ``lr_end * lr`` with the teacher off: once the reward
    alone drives the student, small steps keep what it copied. The gate reads the held-out
    numbers each evaluation logs (``observe``; the teacher's success is measured once, at the
    start, and logged with every evaluation); where it stands is in the checkpoint, so a
    continued run goes on from the same step.

    So it is a schedule of the evaluations, not of the clock: ``value(t)`` is lambda at the
    step the evaluations observed so far reached, whatever ``t``.

    A teacher whose held-out success is ``keep_above`` or more (when set) is kept at ``start``:
    there is no better policy for the reward to find, and a student handed over to it only loses
    some of what it copied. So one config serves a perfect recorded teacher and a weak LLM.

    Example:
        >>> HandoverSchedule(start=10.0, factor=0.1, off_below=0.01).lambdas()
        [10.0, 1.0, 0.1, 0.01, 0.0]
    """

    needs = (EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER)

    def __init__(
        self, start: float = 10.0, factor: float = 0.1, off_below: float = 0.01,
        reach: float = 1.0, patience: int = 5, min_delta: float = 0.05, lr_end: float = 0.25,
        end: float = 0.0, keep_above: float | None = None,
    ) -> None:
        super().__init__()
        _check("start", start)
        _check("factor", factor, high=1.0 - 1e-9)
        _check("off_below", off_below, low=1e-12, high=start)
        _check("reach", reach)
        _check("patience", patience, low=1)
        _check("min_delta", min_delta, high=1.0)
        _check("lr_end", lr_end, low=1e-6, high=1.0)
        _check("end", end, high=off_below)
        if keep_above is not None:
            _check("keep_above", keep_above, high=1.0)
        self.keep_above = keep_above
        self.start, self.factor, self.off_below = start, factor, off_below
        self.reach, self.patience, self.min_delta, self.lr_end = reach, patience, min_delta, lr_end
        self.end = end
        levels, lam = [], start
        while lam >= off_below * (1 - 1e-9):
            levels.append(round(lam, 12))
            lam *= factor
        self._levels = (*levels, end)
        self.steps = len(levels)  # steps down to the last level
        self.step, self.best, self.stale = 0, -1.0, 0

    def lambdas(self) -> list[float]:
        """lambda at each step of the handover, the last ``end`` (0: the teacher off)."""
        return list(self._levels)

    def value(self, t: int) -> float:
        """lambda at the handover's step; ``t`` is not read (the step moves in ``observe``)."""
        return self._levels[self.step]

    def lr_scale(self) -> float:
        return self.lr_end ** (self.step / self.steps)

    def observe(self, metrics: Mapping[str, float]) -> None:
        """Step down at most once per held-out evaluation."""
        teacher = metrics[EVAL_TEACHER]
        if self.keep_above is not None and teacher >= self.keep_above - TIE:
            return  # nothing better to hand over to
        student = max(metrics[EVAL_GREEDY], metrics[EVAL_SAMPLED])
        if student >= self.best + self.min_delta - TIE:
            self.best, self.stale = student, 0
        else:
            self.stale += 1
        reached = student >= self.reach * teacher - TIE
        if self.step < self.steps and (reached or self.stale >= self.patience):
            why = (f"the student's {student:.2f} reached {self.reach:g} x the teacher's "
                   f"{teacher:.2f}" if reached else
                   f"no better than {self.best:.2f} for {self.stale} evaluations")
            self.step, self.best, self.stale = self.step + 1, student, 0
            rank_zero_info(f"handover: {why}: lambda {self._levels[self.step - 1]:g} -> "
                           f"{self._levels[self.step]:g}, lr x {self.lr_scale():.3g}")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step": self.step, "best": self.best,
                "stale": self.stale}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.step = min(int(state_dict["step"]), self.steps)
        self.best, self.stale = float(state_dict["best"]), int(state_dict["stale"])
