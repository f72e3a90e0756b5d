"""Held-out episodes: the one seed set and the one loop that plays a policy on them.

Episode ``i`` of every held-out evaluation, student or teacher, in every domain, is reset
with seed ``HELD_OUT_SEED + i`` (``2**32 + i``). Training envs are seeded with 32-bit
words (``SeedSequence``), so a held-out episode never meets a training one. Success means
a positive return (the door opened; the apple reached the sink).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from llm4teach.envs.batch import Observation
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherTransform
from llm4teach.teacher.planners import TablePlanner

HELD_OUT_SEED = 2**32

Policy = Callable[[Observation, np.ndarray], Sequence[int] | np.ndarray | torch.Tensor]


class EpisodeEnv(Protocol):
    """One env as the held-out loop steps it: every observation is a dict of arrays."""

    def reset(self, seed: int) -> Observation: ...

    def step(self, action: int) -> tuple[Observation, float, bool, bool]: ...


def play(envs: Sequence[EpisodeEnv], policy: Policy, episodes: int,
         first_seed: int = HELD_OUT_SEED) -> dict[str, float]:
    """Play ``episodes`` held-out episodes side by side: success rate, mean return, mean length.

    Env ``i`` plays episode ``i`` (``len(envs)`` must be at least ``episodes``).
    ``policy(batch, live)`` gets every env's current observation stacked per key and the mask
    of the episodes still running, and returns the actions of those, so a network runs once
    per step on the running episodes only. Episode ``i`` is reset with seed
    ``first_seed + i`` (``llm4teach teacher export`` plays other episodes than the held-out
    ones).
    """
    if len(envs) < episodes:
        raise ValueError(f"play needs {episodes} envs for {episodes} episodes, got {len(envs)}")
    first = [envs[i].reset(first_seed + i) for i in range(episodes)]
    batch = {key: np.stack([o[key] for o in first]) for key in first[0]}
    returns, lengths = np.zeros(episodes), np.zeros(episodes)
    live = np.ones(episodes, dtype=bool)
    while live.any():
        running = np.flatnonzero(live)
        actions = np.asarray(policy(batch, live)).tolist()
        for i, action in zip(running, actions, strict=True):
            obs, reward, terminated, truncated = envs[i].step(action)
            for key, value in obs.items():
                batch[key][i] = value
            returns[i] += reward
            lengths[i] += 1
            live[i] = not (terminated or truncated)
    return {"success": float((returns > 0).mean()), "return": float(returns.mean()),
            "length": float(lengths.mean())}


@torch.no_grad()
def play_student(student: ActorCritic, envs: Sequence[EpisodeEnv], episodes: int,
                 sampled: bool, seed: int = 0) -> dict[str, float]:
    """The student on the held-out episodes: greedy (its most likely action) or sampled (its
    draws, from a generator seeded ``seed``: the same numbers wherever they are played)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(student.parameters()).device

    def act(batch: Observation, live: np.ndarray) -> torch.Tensor:
        logits = student.logits(torch.from_numpy(batch["observation"][live]).to(device)).cpu()
        if not sampled:
            return logits.argmax(-1)
        return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)

    return play(envs, act, episodes)


class Beside(Protocol):
    """Another process, idle while this one evaluates: it plays the sampled episodes while
    this one plays the greedy ones (``training/ahead.py``'s collector process)."""

    played_cpu_s: float  # CPU seconds its plays took so far (what else it does is not counted)

    def play_sampled(self, episodes: int, seed: int) -> Callable[[], dict[str, float]]:
        """Start ``play_student(..., sampled=True, seed=seed)`` with this process's weights;
        the call returned waits for its numbers."""
        ...


def evaluate_student(student: ActorCritic, envs: Sequence[EpisodeEnv], episodes: int,
                     seed: int, beside: Beside | None = None) -> dict[str, float]:
    """``student_greedy_*`` and ``student_sampled_*`` on the held-out episodes.

    The modes play one after the other on the same envs, or at once with ``beside``
    playing the sampled one: the numbers are the same either way, as each mode's batches
    and draws are its own. ``seed`` seeds the sampled mode's draws.
    """
    elsewhere = beside.play_sampled(episodes, seed) if beside is not None else None
    greedy = play_student(student, envs, episodes, sampled=False)
    sampled = elsewhere() if elsewhere is not None else play_student(student, envs, episodes,
                                                                     sampled=True, seed=seed)
    return {**{f"student_greedy_{k}": v for k, v in greedy.items()},
            **{f"student_sampled_{k}": v for k, v in sampled.items()}}


def evaluate_teacher(teacher: TeacherTransform, envs: Sequence[EpisodeEnv],
                     episodes: int) -> dict[str, float]:
    """``teacher_*``: the teacher acting alone (drawing from ``pi_T``) on the held-out episodes.

    It plays a fork of the teacher (its own per-episode state and random stream, the
    same plans and counters), so a run's training teacher is left as it was, and the
    number equals ``llm4teach teacher`` with the same settings. Only the running
    episodes are asked about, each with its own env's per-episode state.
    """
    player = teacher.teacher.fork()

    def act(batch: Observation, live: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(live)
        return player.sample_actions({key: batch[key][rows] for key in player.in_keys}, None,
                                     rows)

    metrics = {f"teacher_{k}": v for k, v in play(envs, act, episodes).items()}
    if isinstance(player.planner, TablePlanner):  # a user's table that knew no text: an error
        player.planner.check_matched(episodes)
    return metrics
