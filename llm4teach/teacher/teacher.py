"""Teacher: a batch of observations -> the teacher's action distribution (spec 2.3).

``pi_T(a|s) = sum over plans of p(plan | text(s)) * 1[action of plan in s = a]`` (soft), or
the one-hot action of one sampled plan (hard). A plan that does not parse, names an
object not seen, or has no step left to do yields no action; its mass goes to the
fallback: action 6 ("done", the reference) or no opinion (``teacher_mask`` False).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.describe import Describer, Scene, agent_states, object_cells
from llm4teach.teacher.grammar import Plan, parse_plan
from llm4teach.teacher.planners import Planner, make_planner
from llm4teach.teacher.skills import (
    DIR_VEC,
    DONE,
    DROP,
    FINISHED,
    OPEN,
    PICKUP,
    TOGGLE,
    UNREACHABLE,
    facing_goals,
    first_actions,
    passable,
    unseen,
)

NUM_ACTIONS = 7
MEMO_LIMIT = 100_000
Parsed = list[tuple[Plan | None, float]]


class _Entry(NamedTuple):
    """What one observation (with its episode state) resolves to; memoised by obs bytes."""

    dist: Parsed
    actions: tuple[int | None, ...]
    row: np.ndarray  # the soft distribution before the fallback
    state: tuple  # the describer's state after describing this observation


class Teacher:
    """Acts on memory-map observations with a planner's plans and the skills.

    Keeps one ``Describer`` per env (TwoDoor's door numbers); call ``reset(indices)`` at
    episode starts. Plans are asked once per distinct text; an observation seen before
    (same bytes, same episode state) is answered from a memo without any search. The
    memo holds at most ``memo_limit`` observations; it is emptied when full.

    Example:
        >>> from llm4teach.envs import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> probs, mask = Teacher("SimpleDoorKey").act_probs(obs[None])
        >>> probs.shape, bool(mask[0])
        ((1, 7), True)
    """

    def __init__(
        self, task: str, config: TeacherConfig | None = None, planner: Planner | None = None,
        memo_limit: int = MEMO_LIMIT,
    ) -> None:
        self.task = task
        self.memo_limit = memo_limit
        self.config = config or TeacherConfig()
        self.planner = planner if planner is not None else make_planner(task, self.config)
        self.stats = self.planner.stats
        self._describers: list[Describer] = []
        self._plans: dict[str, Parsed] = {}
        self._memo: dict[tuple[bytes, tuple], _Entry] = {}
        self._rng = np.random.default_rng(self.config.seed)

    def reset(self, indices: list[int] | None = None) -> None:
        """Forget per-episode state (door numbers) of ``indices`` (all envs when None)."""
        for i in range(len(self._describers)) if indices is None else indices:
            if i < len(self._describers):
                self._describers[i].reset()

    def describe(self, obs: np.ndarray) -> list[Scene]:
        """Scenes of a batch ``[N, W, H, 4]``; env ``i`` keeps its own door numbering."""
        self._grow(len(obs))
        return [self._describers[i](o) for i, o in enumerate(obs)]

    def plans(self, texts: list[str]) -> list[Parsed]:
        """Parsed plan distributions; the planner is asked once for all new distinct texts."""
        new = list(dict.fromkeys(t for t in texts if t not in self._plans))
        if new:
            for text, dist in zip(new, self.planner.plan(new), strict=True):
                total = sum(dist.values())
                self._plans[text] = [(parse_plan(p), q / total) for p, q in dist.items() if q > 0]
        return [self._plans[t] for t in texts]

    def act_probs(self, obs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs float32 [N, 7], mask bool [N])`` for a batch ``[N, W, H, 4]``."""
        obs = obs.numpy() if isinstance(obs, torch.Tensor) else np.asarray(obs)
        self._grow(len(obs))
        keys = [(o.tobytes(), d.state) for o, d in zip(obs, self._describers, strict=False)]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        if missing:
            if len(self._memo) + len(missing) > self.memo_limit:
                self._memo.clear()  # bounded memory; this batch is resolved afresh
                missing = list(range(len(keys)))
            self._resolve_batch(obs, missing, keys)
        entries = [self._memo[key] for key in keys]
        for describer, key, entry in zip(self._describers, keys, entries, strict=False):
            if entry.state != key[1]:
                describer.restore(entry.state)
        if self.config.mode == "hard":
            probs = np.stack([self._sample_row(e) for e in entries])
        else:
            probs = np.stack([e.row for e in entries])
        mass = probs.sum(axis=1)
        self.stats.fallbacks += int((mass == 0).sum())
        if self.config.fallback == "noop":
            probs[:, DONE] += np.clip(1.0 - mass, 0.0, None)
            mask = np.ones(len(obs), dtype=bool)
        else:
            mask = mass > 0
            probs[~mask] = 1.0
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32), mask

    def sample_actions(self, obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """Actions drawn from ``pi_T`` for a batch (evaluation: the teacher as the policy)."""
        probs, _ = self.act_probs(obs)
        cum = probs.cumsum(axis=1)
        draws = self._rng.random(len(probs))[:, None] * cum[:, -1:]
        return np.minimum((draws >= cum).sum(axis=1), NUM_ACTIONS - 1)

    # ------------------------------------------------------------------ internals
    def _grow(self, n: int) -> None:
        while len(self._describers) < n:
            self._describers.append(Describer(self.task))

    def _sample_row(self, entry: _Entry) -> np.ndarray:
        row = np.zeros(NUM_ACTIONS)
        if entry.dist:
            weights = np.array([q for _, q in entry.dist])
            action = entry.actions[self._rng.choice(len(weights), p=weights / weights.sum())]
            if action is not None:
                row[action] = 1.0
        return row

    def _resolve_batch(self, obs: np.ndarray, missing: list[int], keys: list) -> None:
        """Describe, plan and act for the observations not in the memo, with one search."""
        sub = obs[missing]
        starts = agent_states(sub)
        found = object_cells(sub, starts)
        scenes = [self._describers[i].scene(*f) for i, f in zip(missing, found, strict=True)]
        plans = self.plans([s.text for s in scenes])
        queries: dict[tuple[int, str], tuple] = {}
        for j, (scene, dist) in enumerate(zip(scenes, plans, strict=True)):
            for plan, _ in dist:
                _collect(j, starts[j], scene, plan, queries)
        results = self._search(sub, starts, queries)
        for j, i in enumerate(missing):
            acts = tuple(_resolve(j, sub[j], scenes[j], p, results) for p, _ in plans[j])
            row = np.zeros(NUM_ACTIONS)
            for (_, q), a in zip(plans[j], acts, strict=True):
                if a is not None:
                    row[a] += q
            self._memo[keys[i]] = _Entry(plans[j], acts, row, self._describers[i].state)

    def _search(self, obs: np.ndarray, starts: np.ndarray, queries: dict) -> dict:
        """First actions of all explore/go-to queries of a batch, in one path search."""
        if not queries:
            return {}
        envs = np.array([j for j, _ in queries])
        free = passable(obs[envs], starts[envs], self.config.lava == "passable")
        targets = unseen(obs[envs])
        for q, ((_, obj), cells) in enumerate(queries.items()):
            if obj:  # a go-to: the object's cells instead of the frontier
                targets[q] = False
                for x, y in cells:
                    targets[q, x + 1, y + 1] = True
        actions = first_actions(facing_goals(free, targets), free, starts[envs])
        return dict(zip(queries, actions.tolist(), strict=True))


def _collect(j: int, start: np.ndarray, scene: Scene, plan: Plan | None, queries: dict) -> None:
    """Path searches a plan may need, up to the first step sure to act without one."""
    front = (int(start[0]) + DIR_VEC[start[2]][0], int(start[1]) + DIR_VEC[start[2]][1])
    for verb, obj in plan or ():
        if verb == "explore":
            queries[j, ""] = ()  # finished only if no frontier is reachable: keep going
        elif verb == "drop":
            if scene.held == obj:
                return
        elif obj == scene.held and verb in ("go to", "pick up"):
            continue
        elif obj not in scene.objects or verb == "pick up":
            return
        elif verb == "go to" and front not in scene.objects[obj]:
            queries[j, obj] = scene.objects[obj]
            return


def _resolve(j: int, obs: np.ndarray, scene: Scene, plan: Plan | None, results) -> int | None:
    """The action of the first unfinished step of ``plan``; None when there is none."""
    for verb, obj in plan or ():
        if verb == "explore":
            action = results[j, ""]
            if action >= 0:
                return action
            continue
        if verb == "drop":
            if scene.held == obj:
                return DROP
            continue
        if obj == scene.held and verb in ("go to", "pick up"):
            continue
        if obj not in scene.objects:
            return None  # names an object not seen yet
        if verb == "go to":
            action = results.get((j, obj), FINISHED)
            if action == UNREACHABLE:
                return None
            if action != FINISHED:
                return action
        elif verb == "pick up":
            return PICKUP
        elif any(obs[x, y, 2] != OPEN for x, y in scene.objects[obj]):  # open
            return TOGGLE
    return None
