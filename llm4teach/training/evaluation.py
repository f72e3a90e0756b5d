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
from llm4teach.domains.held_out import evaluate_student, evaluate_teacher


class Evaluation(Callback):
    """Every epoch end (every ``data.epoch_frames`` frames), evaluate on ``episodes`` held-out
    episodes and log ``eval/...`` against frames; the teacher is evaluated once, at the start.

    ``eval/student_greedy_success`` is what the best checkpoint is chosen by. Beside the
    numbers it logs ``time/cpu_s`` and ``time/wall_s`` of this process (``llm4teach.clock``), so a
    curve can be read against what a user waits for (startup and evaluations included),
    and ``time/eval_cpu_s``, the CPU seconds this process's evaluations took so far.
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
        # What a schedule gates on (HandoverSchedule): the same numbers on every rank.
        self.teacher_success: float | None = None
        self.evaluations = 0
        self.latest: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"teacher_done": self._teacher_done, "teacher_success": self.teacher_success,
                "evaluations": self.evaluations, "latest": dict(self.latest)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._teacher_done = bool(state_dict["teacher_done"])
        # checkpoints written before these were kept have none
        self.teacher_success = state_dict.get("teacher_success")
        self.evaluations = int(state_dict.get("evaluations", 0))
        self.latest = dict(state_dict.get("latest", {}))

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.teacher or self._teacher_done:
            return
        metrics = None
        if trainer.is_global_zero:  # rank 0 runs it, the others receive its numbers
            start, envs = time.process_time(), pl_module.domain.episode_envs(self.episodes)
            metrics = evaluate_teacher(trainer.datamodule.teacher, envs, self.episodes)
            self._eval_cpu += time.process_time() - start
            self._log(trainer, pl_module, metrics)
        metrics = trainer.strategy.broadcast(metrics, src=0)
        self.teacher_success = float(metrics["teacher_success"])
        self._teacher_done = True

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Ranks hold identical weights: rank 0 evaluates, the others receive its numbers.
        metrics = None
        if trainer.is_global_zero:
            start, envs = time.process_time(), pl_module.domain.episode_envs(2 * self.episodes)
            metrics = evaluate_student(pl_module.student, envs, self.episodes,
                                       seed=int(pl_module.updates))
            self._eval_cpu += time.process_time() - start
        metrics = trainer.strategy.broadcast(metrics, src=0)
        self.evaluations, self.latest = self.evaluations + 1, metrics
        self._log(trainer, pl_module, metrics)
        for mode in ("greedy", "sampled"):  # for the best checkpoint's monitor (the loggers
            pl_module.log(f"eval/student_{mode}_success",  # have them; the bar reads latest)
                          metrics[f"student_{mode}_success"], logger=False, batch_size=1)

    def _log(self, trainer: Trainer, pl_module: LightningModule,
             metrics: dict[str, float]) -> None:
        frames = int(pl_module.frames)
        cpu, wall = process_seconds()
        clock = {"time/cpu_s": cpu, "time/wall_s": wall, "time/eval_cpu_s": self._eval_cpu}
        for logger in trainer.loggers:
            logger.log_metrics({**{f"eval/{k}": v for k, v in metrics.items()}, **clock},
                               step=frames)


def load_module(path: str | Path) -> LightningModule:
    """The ``PPOTeacherModule`` of a checkpoint (safe loader), its student ready to act."""
    from llm4teach.training.checkpointing import load_checkpoint
    from llm4teach.training.module import PPOTeacherModule

    checkpoint = load_checkpoint(path)
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    module = PPOTeacherModule(**hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return module


def evaluate_checkpoint(path: str, episodes: int = 100) -> dict[str, float]:
    """Load a checkpoint with the safe loader and evaluate its student (``llm4teach evaluate``)."""
    if episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {episodes}")
    module = load_module(path)
    envs = module.domain.episode_envs(2 * episodes)
    return {"frames": float(module.frames),
            **evaluate_student(module.student, envs, episodes, seed=0)}
