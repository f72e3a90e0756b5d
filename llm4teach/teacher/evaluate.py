"""Teacher evaluation: the teacher acts (sampling ``pi_T``) on a fixed seed set.

This is the spec's teacher baseline: how well would the student do by copying it?
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from llm4teach.envs import make_gym_env
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.teacher import Teacher

EVAL_SEED = 1_000_000  # held out: training seeds come from SeedSequence(seed) words


@dataclass
class TeacherEvaluation:
    """Success rate, mean return and mean length of the teacher acting on ``episodes``."""

    task: str
    mode: str
    episodes: int
    success_rate: float
    mean_return: float
    mean_length: float
    stats: dict[str, float]

    def line(self) -> str:
        return (
            f"{self.task:16s} {self.mode:4s} episodes {self.episodes:4d}  "
            f"success {self.success_rate:6.1%}  return {self.mean_return:.3f}  "
            f"length {self.mean_length:6.1f}"
        )


def evaluate_teacher(
    task: str, config: TeacherConfig | None = None, episodes: int = 200, seed: int = EVAL_SEED
) -> TeacherEvaluation:
    """Run the teacher as the policy on episodes seeded ``seed, seed + 1, ...``.

    Example:
        >>> evaluate_teacher("SimpleDoorKey", episodes=2).episodes
        2
    """
    if episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    config = config or TeacherConfig()
    teacher = Teacher(task, replace(config, seed=seed))
    env = make_gym_env(task)
    returns, lengths = np.zeros(episodes), np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        teacher.reset()
        done = False
        while not done:
            action = int(teacher.sample_actions(obs[None])[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += reward
            lengths[episode] += 1
            done = terminated or truncated
    return TeacherEvaluation(
        task=task, mode=config.mode, episodes=episodes,
        success_rate=float((returns > 0).mean()), mean_return=float(returns.mean()),
        mean_length=float(lengths.mean()), stats=teacher.stats.as_dict(),
    )
