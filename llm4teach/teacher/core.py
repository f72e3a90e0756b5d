"""What the teacher of every domain shares: plans per distinct text, soft or hard, the fallback.

``pi_T(a|s) = sum over plans of p(plan | text(s)) * 1[action of plan in s = a]`` (soft), or
the one-hot action of one sampled plan (hard: one draw per step from the teacher's
generator, seeded by ``config.seed``; training restarts it at every epoch: ``seed``).
A plan that does not parse, names an object not seen, or has no step left to do yields
no action; its mass goes to the fallback: the domain's no-op action (``noop``, the
reference's choice: MiniGrid's action 6 "done") or no opinion (``mask``: ``teacher_mask``
False and a uniform row).

A domain subclasses ``PlanTeacher`` with its ``grammar``, ``num_actions``, ``noop``
(None when its actions have none), ``in_keys`` (the observation keys it reads) and
``_resolve``: each observation's plan distribution and each plan's action. The planner
comes built (the domain's ``make_teacher`` builds it for the grammar with
``make_planner``): a teacher never sees a task name. MiniGrid's is
``llm4teach.domains.minigrid.teacher.Teacher``, Habitat's
``llm4teach.domains.habitat.teacher.SkillTeacher``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import Grammar, Plan
from llm4teach.teacher.planners import Planner, RankSharedPlanner
from llm4teach.teacher.planners.background import BackgroundPlanner

Parsed = list[tuple[Plan | None, float]]  # (parsed plan or None, normalised probability)
# the plans of a text the background planner has not answered yet (compared by identity)
UNANSWERED: Parsed = []
Array = np.ndarray | torch.Tensor
# a batch as the teacher reads it: its ``in_keys``' arrays (or the first key's alone)
Observations = Mapping[str, Array] | Array


class Resolved(NamedTuple):
    """One observation's plans, the action of each (None: none), and the soft row."""

    dist: Parsed
    actions: tuple[int | None, ...]
    row: np.ndarray  # sum of each acting plan's probability on its action, before the fallback


class PlanTeacher:
    """A batch of observations -> the teacher's action distribution, from ``planner``.

    Plans are asked once per distinct text and parsed with the domain's grammar (plans
    that do not parse count as ``stats.parse_failures``). Evaluation plays the teacher
    without touching the training collector's state: ``fork()`` gives a twin with its
    own per-episode state and generator that shares the planner, the parsed plans and
    ``stats``; ``sample_actions(obs, rng)`` and ``act_probs(obs, rng)`` draw from a
    generator the caller owns.

    Training's teacher may ``plan_in_background``: an LLM then answers new texts on a
    worker thread while collection goes on, and a step whose text is not answered yet
    has no opinion (``teacher_mask`` False whatever the fallback, counted in
    ``stats.pending``). Its forks still wait for every answer. ``stats.wait_seconds``
    is the wall time this teacher (not its forks) spent waiting on its planner.
    """

    grammar: Grammar
    num_actions: int
    noop: int | None = None  # the action fallback "noop" gives the mass; None: refused
    default_fallback = "mask"  # the fallback when the config names none
    in_keys: tuple[str, ...] = ("observation",)  # what it reads of a step; the first is required

    def __init__(self, planner: Planner, config: TeacherConfig | None = None) -> None:
        self.config = config or TeacherConfig()
        self.fallback = self.config.fallback or self.default_fallback
        if self.fallback == "noop" and self.noop is None:
            raise ValueError(f"the {self.grammar.name} actions have no no-op action for "
                             "teacher fallback 'noop': use fallback 'mask'")
        self.planner = planner
        self.stats = self.planner.stats
        self._plans: dict[str, Parsed] = {}
        self._rng = np.random.default_rng(self.config.seed)
        self.polls = False  # asks without waiting (plan_in_background)
        self.collects = True  # counts its waits (forks do not)

    def seed(self, n: int) -> None:
        """Restart the teacher's own generator (hard mode's draws) from ``(config.seed, n)``.

        Training re-seeds it at every epoch start, as it does the envs and torch, so a run
        resumed from an epoch-end checkpoint draws the same plans as if never stopped.
        """
        self._rng = np.random.default_rng([self.config.seed, n])

    def reset(self, indices: list[int] | None = None) -> None:
        """Forget the per-episode state of envs ``indices`` (all when None); none by default."""

    def fork(self) -> PlanTeacher:
        """A twin with its own per-episode state and generator (seeded ``config.seed``),
        sharing the planner, plans and counters: the teacher as evaluation plays it."""
        twin = copy.copy(self)
        twin._rng = np.random.default_rng(self.config.seed)
        twin.polls = twin.collects = False
        return twin

    def plan_in_background(self) -> None:
        """Let a worker thread answer an LLM planner's new texts, so that acting never waits
        on the model (a table answers at once and stays as it is; under DDP rank 0's model
        answers every rank, and a rank waits for it)."""
        planner = self.planner
        if planner.asks_llm and not isinstance(planner, RankSharedPlanner | BackgroundPlanner):
            self.planner = BackgroundPlanner(planner)
        self.polls = isinstance(self.planner, BackgroundPlanner)

    def close(self) -> None:
        """Stop the background planner's worker, if any (its batch in flight is kept)."""
        if isinstance(self.planner, BackgroundPlanner):
            self.planner.close()

    def plans(self, texts: list[str]) -> list[Parsed]:
        """Parsed plan distributions; the planner is asked once for all new distinct texts
        (``UNANSWERED`` for those a background planner has not answered yet)."""
        new = list(dict.fromkeys(t for t in texts if t not in self._plans))
        if new:
            start = time.perf_counter()
            dists = self.planner.poll(new) if self.polls else self.planner.plan(new)
            if self.collects:
                self.stats.wait_seconds += time.perf_counter() - start
            for text, dist in zip(new, dists, strict=True):
                if dist is None:
                    continue
                total = sum(dist.values())
                parsed = [(self.grammar.parse_plan(p), q / total)
                          for p, q in dist.items() if q > 0]
                self.stats.parse_failures += sum(plan is None for plan, _ in parsed)
                self._plans[text] = parsed
        return [self._plans.get(t, UNANSWERED) for t in texts]

    def act_probs(
        self, obs: Observations, rng: np.random.Generator | None = None,
        envs: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(probs float32 [N, num_actions], mask bool [N])`` for a batch of observations.

        ``obs``: the batch's arrays under the teacher's ``in_keys`` (the first alone may be
        passed as an array; a later key that is absent is not read). Hard mode draws each
        step's plan from ``rng`` (the teacher's own when None). ``envs``: the env each row
        comes from, whose per-episode state it uses (row ``i`` is env ``i`` when None), so
        a caller can ask about the running episodes only.
        """
        batch = self.read(obs)
        n = len(batch[self.in_keys[0]])
        entries = self._resolve(batch, range(n) if envs is None else envs)
        if self.config.mode == "hard":
            rng = self._rng if rng is None else rng
            probs = np.stack([_sample_row(e, self.num_actions, rng) for e in entries])
        else:
            probs = np.stack([e.row for e in entries])
        mass = probs.sum(axis=1)
        pending = np.array([e.dist is UNANSWERED for e in entries], dtype=bool)
        self.stats.pending += int(pending.sum())
        self.stats.fallbacks += int(((mass == 0) & ~pending).sum())
        if self.fallback == "noop":
            probs[~pending, self.noop] += np.clip(1.0 - mass[~pending], 0.0, None)
            mask = ~pending
        else:
            mask = mass > 0
        probs[~mask] = 1.0
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32), mask

    def read(self, obs: Observations) -> dict[str, np.ndarray]:
        """The batch's ``in_keys`` as numpy arrays (those present)."""
        arrays = obs if isinstance(obs, Mapping) else {self.in_keys[0]: obs}
        return {key: value.numpy(force=True) if isinstance(value, torch.Tensor)
                else np.asarray(value) for key, value in arrays.items() if key in self.in_keys}

    def sample_actions(
        self, obs: Observations, rng: np.random.Generator | None = None,
        envs: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Actions drawn from ``pi_T`` for a batch (evaluation: the teacher as the policy),
        with ``rng`` (the teacher's own generator when None); arguments as ``act_probs``."""
        rng = self._rng if rng is None else rng
        probs, _ = self.act_probs(obs, rng, envs)
        cum = probs.cumsum(axis=1)
        draws = rng.random(len(probs))[:, None] * cum[:, -1:]
        return np.minimum((draws >= cum).sum(axis=1), self.num_actions - 1)

    # ------------------------------------------------------------------ for domains
    def _resolve(self, obs: dict[str, np.ndarray], envs: Sequence[int]) -> list[Resolved]:
        """Each observation's plans and their actions (``_entry``); the domain's part."""
        raise NotImplementedError

    def _entry(self, dist: Parsed, actions: tuple[int | None, ...]) -> Resolved:
        """``Resolved`` with the soft row of ``dist`` whose plans act ``actions``."""
        row = np.zeros(self.num_actions)
        for (_, q), action in zip(dist, actions, strict=True):
            if action is not None:
                row[action] += q
        return Resolved(dist, actions, row)


def _sample_row(entry: Resolved, num_actions: int, rng: np.random.Generator) -> np.ndarray:
    """Hard mode: the one-hot action of one plan drawn from ``entry``'s distribution."""
    row = np.zeros(num_actions)
    if entry.dist:
        weights = np.array([q for _, q in entry.dist])
        action = entry.actions[rng.choice(len(weights), p=weights / weights.sum())]
        if action is not None:
            row[action] = 1.0
    return row
