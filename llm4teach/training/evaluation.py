"""Evaluation on a fixed held-out seed set: the student (greedy and sampled) and, once, the teacher.

Which envs the held-out episodes are played on is the task's domain's business, how they
are played is ``llm4teach.domains.held_out``'s (one loop, one seed set); this module
decides when, and logs the numbers against environment frames.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from llm4teach.clock import process_seconds
from llm4teach.domains.held_out import Beside, evaluate_student, evaluate_teacher
from llm4teach.metrics import (
    EVAL,
    EVAL_GREEDY,
    EVAL_SAMPLED,
    EVAL_TEACHER,
    GREEDY_SUCCESS,
    SAMPLED_SUCCESS,
    TEACHER_SUCCESS,
    TIME_CPU,
    TIME_EVAL_CPU,
    TIME_WALL,
)


class Evaluation(Callback):
    """Every epoch end (every ``data.epoch_frames`` frames), evaluate on ``episodes`` held-out
    episodes and log ``eval/...`` against frames; the teacher is evaluated once, at the start.

    ``eval/student_greedy_success`` is what the best checkpoint is chosen by; it, the sampled
    student's and the teacher's success are also logged for callbacks at every epoch end
    (``trainer.callback_metrics``: what a schedule gates on, the same on every rank). Beside the
    numbers it logs ``time/cpu_s`` and ``time/wall_s`` of this process (``llm4teach.clock``), so a
    curve can be read against what a user waits for (startup and evaluations included),
    and ``time/eval_cpu_s``, the CPU seconds the evaluations took so far (the collector
    process's plays of the sampled episodes included: ``training/ahead.py``).
    """

    def __init__(self, episodes: int = 100, teacher: bool = True) -> None:
        """How much is evaluated.

        Args:
            episodes: held-out episodes per evaluation
            teacher: also evaluate the teacher acting alone, once, at the start
        """
        if not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"evaluation episodes must be a positive integer, got {episodes!r}")
        self.episodes, self.teacher = episodes, teacher
        self._teacher_done = False
        self._eval_cpu = 0.0
        self.teacher_success: float | None = None
        self.latest: dict[str, float] = {}  # the last evaluation's numbers, for the progress bar

    def state_dict(self) -> dict[str, Any]:
        return {"teacher_done": self._teacher_done, "teacher_success": self.teacher_success,
                "latest": dict(self.latest)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._teacher_done = bool(state_dict["teacher_done"])
        self.teacher_success = state_dict["teacher_success"]
        self.latest = dict(state_dict["latest"])

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.teacher or self._teacher_done:
            return
        metrics = None
        if trainer.is_global_zero:  # rank 0 runs it, the others receive its numbers
            start, envs = time.process_time(), pl_module.domain.episode_envs(self.episodes)
            metrics = evaluate_teacher(trainer.datamodule.teacher_transform, envs, self.episodes)
            self._eval_cpu += time.process_time() - start
            self._log(trainer, pl_module, metrics)
        metrics = trainer.strategy.broadcast(metrics, src=0)
        self.teacher_success = float(metrics[TEACHER_SUCCESS])
        self._teacher_done = True

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Ranks hold identical weights: rank 0 evaluates, the others receive its numbers.
        metrics = None
        if trainer.is_global_zero:
            # the collector process, where there is one, plays the sampled episodes meanwhile
            beside = getattr(trainer.datamodule, "worker", None)
            start, envs = _evaluation_cpu(beside), pl_module.domain.episode_envs(self.episodes)
            metrics = evaluate_student(pl_module.student, envs, self.episodes,
                                       seed=int(pl_module.updates), beside=beside)
            self._eval_cpu += _evaluation_cpu(beside) - start
        metrics = trainer.strategy.broadcast(metrics, src=0)
        self.latest = metrics
        self._log(trainer, pl_module, metrics)
        # for callbacks: the best checkpoint's monitor and a schedule's gate (the loggers
        # have them already)
        gated = {EVAL_GREEDY: metrics[GREEDY_SUCCESS], EVAL_SAMPLED: metrics[SAMPLED_SUCCESS]}
        if self.teacher_success is not None:
            gated[EVAL_TEACHER] = self.teacher_success
        for name, value in gated.items():
            pl_module.log(name, value, logger=False, batch_size=1)

    def logged(self) -> tuple[str, ...]:
        """What each epoch end logs for callbacks to read (``trainer.callback_metrics``)."""
        return (EVAL_GREEDY, EVAL_SAMPLED, *((EVAL_TEACHER,) if self.teacher else ()))

    def _log(self, trainer: Trainer, pl_module: LightningModule,
             metrics: dict[str, float]) -> None:
        frames = int(pl_module.frames)
        cpu, wall = process_seconds()
        clock = {TIME_CPU: cpu, TIME_WALL: wall, TIME_EVAL_CPU: self._eval_cpu}
        for logger in trainer.loggers:
            logger.log_metrics({**{EVAL + k: v for k, v in metrics.items()}, **clock},
                               step=frames)


def _evaluation_cpu(beside: Beside | None) -> float:
    """CPU seconds of this process and of the plays ``beside`` made (not its collecting)."""
    return time.process_time() + (beside.played_cpu_s if beside is not None else 0.0)


def load_module(path: str | Path) -> LightningModule:
    """The ``PPOTeacherModule`` of a checkpoint (safe loader), its student ready to act."""
    from llm4teach.training.checkpointing import load_checkpoint
    from llm4teach.training.module import PPOTeacherModule

    checkpoint = load_checkpoint(path)
    module = PPOTeacherModule.from_hparams(checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    return module


def evaluate_checkpoint(path: str, episodes: int = 100) -> dict[str, float]:
    """Load a checkpoint with the safe loader and evaluate its student (``llm4teach evaluate``)."""
    if episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {episodes}")
    module = load_module(path)
    envs = module.domain.episode_envs(episodes)
    return {"frames": float(module.frames),
            **evaluate_student(module.student, envs, episodes, seed=0)}
