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


def play(envs: Sequence[EpisodeEnv], policy: Policy, episodes: int, copies: int = 1,
         first_seed: int = HELD_OUT_SEED) -> list[dict[str, float]]:
    """Play ``copies`` x ``episodes`` held-out episodes side by side; per copy: success rate,
    mean return and mean length.

    Env ``c * episodes + i`` plays episode ``i`` for copy ``c`` (``len(envs)`` must be at
    least ``copies * episodes``). ``policy(batch, live)`` gets every env's current
    observation stacked per key and the mask of the episodes still running, and returns
    the actions of those, so a network runs once per step on the running episodes only.
    Episode ``i`` is reset with seed ``first_seed + i`` (``llm4teach teacher export`` plays
    other episodes than the held-out ones).
    """
    n = copies * episodes
    if len(envs) < n:
        raise ValueError(f"play needs {n} envs for {copies} x {episodes} episodes, got "
                         f"{len(envs)}")
    first = [envs[i].reset(first_seed + i % episodes) for i in range(n)]
    batch = {key: np.stack([o[key] for o in first]) for key in first[0]}
    returns, lengths = np.zeros(n), np.zeros(n)
    live = np.ones(n, dtype=bool)
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
    return [{"success": float((r > 0).mean()), "return": float(r.mean()),
             "length": float(length.mean())}
            for r, length in zip(returns.reshape(copies, episodes),
                                 lengths.reshape(copies, episodes), strict=True)]


@torch.no_grad()
def evaluate_student(student: ActorCritic, envs: Sequence[EpisodeEnv], episodes: int,
                     seed: int) -> dict[str, float]:
    """``student_greedy_*`` and ``student_sampled_*`` on the held-out episodes.

    Both modes play side by side (one student forward per step for every episode still
    running); ``seed`` seeds the sampled mode's draws.
    """
    generator = torch.Generator().manual_seed(seed)
    greedy = torch.arange(2 * episodes) < episodes  # copy 0 greedy, copy 1 sampled
    device = next(student.parameters()).device

    def act(batch: Observation, live: np.ndarray) -> torch.Tensor:
        logits = student.logits(torch.from_numpy(batch["observation"][live]).to(device)).cpu()
        actions = logits.argmax(-1)
        sampled = ~greedy[torch.from_numpy(live)]
        draws = torch.multinomial(logits[sampled].softmax(-1), 1, generator=generator)
        actions[sampled] = draws.squeeze(-1)
        return actions

    greedy_metrics, sampled_metrics = play(envs, act, episodes, copies=2)
    return {**{f"student_greedy_{k}": v for k, v in greedy_metrics.items()},
            **{f"student_sampled_{k}": v for k, v in sampled_metrics.items()}}


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

    metrics = {f"teacher_{k}": v for k, v in play(envs, act, episodes)[0].items()}
    if isinstance(player.planner, TablePlanner):  # a user's table that knew no text: an error
        player.planner.check_matched(episodes)
    return metrics
