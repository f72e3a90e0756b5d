"""Evaluation on a fixed held-out seed set: the student (greedy and sampled) and, once, the teacher.

Held-out episodes are reset with seeds ``2**32 + i``; training envs are seeded with
32-bit words (``SeedSequence``), so the two sets can never meet. Success means the
episode's return is positive (the door was opened).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from llm4teach.envs import make_gym_env
from llm4teach.student import ActorCritic

HELD_OUT_BASE = 2**32
Policy = Callable[[np.ndarray], np.ndarray]  # observations [N, W, H, 4] -> actions [N]


def run_episodes(task: str, policy: Policy, episodes: int, on_reset=None) -> dict[str, float]:
    """Play ``episodes`` held-out episodes side by side; success rate, mean return and length.

    ``on_reset`` (optional) is called once before the first step (a teacher forgets its
    per-episode state there).
    """
    envs = [make_gym_env(task) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=HELD_OUT_BASE + i)[0] for i, env in enumerate(envs)])
    if on_reset is not None:
        on_reset()
    returns, lengths = np.zeros(episodes), np.zeros(episodes)
    live = np.ones(episodes, dtype=bool)
    while live.any():
        actions = policy(obs)
        for i in np.flatnonzero(live):
            obs[i], reward, terminated, truncated, _ = envs[i].step(int(actions[i]))
            returns[i] += reward
            lengths[i] += 1
            live[i] = not (terminated or truncated)
    return {"success": float((returns > 0).mean()), "return": float(returns.mean()),
            "length": float(lengths.mean())}


def student_policy(student: ActorCritic, greedy: bool, generator: torch.Generator) -> Policy:
    """The student as a policy: argmax of the logits (greedy) or a sample."""

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        logits = student.logits(torch.from_numpy(obs))
        if greedy:
            return logits.argmax(-1).numpy()
        return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1).numpy()

    return act


def evaluate_student(student: ActorCritic, task: str, episodes: int, seed: int = 0
                     ) -> dict[str, float]:
    """Greedy and sampled student metrics, keyed ``student_greedy_*`` / ``student_sampled_*``."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for mode in ("greedy", "sampled"):
        policy = student_policy(student, mode == "greedy", generator)
        for key, value in run_episodes(task, policy, episodes).items():
            out[f"student_{mode}_{key}"] = value
    return out


class Evaluation(Callback):
    """Every epoch end (every ``data.epoch_frames`` frames), evaluate on ``episodes`` held-out
    episodes and log ``eval/...`` against frames; the teacher is evaluated once, at the start.

    ``eval/student_greedy_success`` is what the best checkpoint is chosen by.
    """

    def __init__(self, episodes: int = 100, teacher: bool = True) -> None:
        if not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"evaluation episodes must be a positive integer, got {episodes!r}")
        self.episodes, self.teacher = episodes, teacher
        self._teacher_done = False

    def state_dict(self) -> dict[str, bool]:
        return {"teacher_done": self._teacher_done}

    def load_state_dict(self, state_dict: dict[str, bool]) -> None:
        self._teacher_done = bool(state_dict["teacher_done"])

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.teacher or self._teacher_done:
            return
        if trainer.is_global_zero:  # only logged, so only rank 0 runs it
            teacher = trainer.datamodule.teacher
            metrics = run_episodes(pl_module.hparams.task, teacher.sample_actions,
                                   self.episodes, on_reset=teacher.reset)
            self._log(trainer, pl_module, {f"teacher_{k}": v for k, v in metrics.items()})
        self._teacher_done = True

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Ranks hold identical weights: rank 0 evaluates, the others receive its numbers.
        metrics = None
        if trainer.is_global_zero:
            metrics = evaluate_student(pl_module.student, pl_module.hparams.task, self.episodes,
                                       seed=int(pl_module.updates))
        metrics = trainer.strategy.broadcast(metrics, src=0)
        self._log(trainer, pl_module, metrics)
        pl_module.log("eval/student_greedy_success", metrics["student_greedy_success"],
                      prog_bar=True, logger=False, batch_size=1)

    @staticmethod
    def _log(trainer: Trainer, pl_module: LightningModule, metrics: dict[str, float]) -> None:
        frames = int(pl_module.frames)
        for logger in trainer.loggers:
            logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=frames)


def evaluate_checkpoint(path: str, episodes: int = 100) -> dict[str, float]:
    """Load a checkpoint with the safe loader and evaluate its student (``llm4teach evaluate``)."""
    from llm4teach.training.checkpointing import load_checkpoint
    from llm4teach.training.module import PPOTeacherModule

    if episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {episodes}")
    checkpoint = load_checkpoint(path)
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    module = PPOTeacherModule(**hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return {"frames": float(module.frames), **evaluate_student(
        module.student, module.hparams.task, episodes)}
