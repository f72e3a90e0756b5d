"""Teacher: a batch of observations -> the teacher's action distribution (spec 2.3).

``pi_T(a|s) = sum over plans of p(plan | text(s)) * 1[action of plan in s = a]`` (soft), or
the one-hot action of one sampled plan (hard). A plan that does not parse, names an
object not seen, or has no step left to do yields no action; its mass goes to the
fallback: action 6 ("done", the reference) or no opinion (``teacher_mask`` False).
"""

from __future__ import annotations

import numpy as np
import torch

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.describe import Describer, Scene, agent_state
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
    explore_goals,
    facing_goals,
    first_actions,
    passable,
    target_cells,
)

NUM_ACTIONS = 7
MEMO_LIMIT = 50_000
Parsed = list[tuple[Plan | None, float]]


class Teacher:
    """Acts on memory-map observations with a planner's plans and the skills.

    Keeps one ``Describer`` per env (TwoDoor's door numbers); call ``reset(indices)`` at
    episode starts. Plans are asked once per distinct text and kept for the process.

    Example:
        >>> from llm4teach.envs import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> probs, mask = Teacher("SimpleDoorKey").act_probs(obs[None])
        >>> probs.shape, bool(mask[0])
        ((1, 7), True)
    """

    def __init__(
        self, task: str, config: TeacherConfig | None = None, planner: Planner | None = None
    ) -> None:
        self.task = task
        self.config = config or TeacherConfig()
        self.planner = planner if planner is not None else make_planner(task, self.config)
        self.stats = self.planner.stats
        self._describers: list[Describer] = []
        self._plans: dict[str, Parsed] = {}
        self._memo: dict[tuple, tuple[int | None, ...]] = {}
        self._rng = np.random.default_rng(self.config.seed)

    # --------------------------------------------------------------------- describe
    def reset(self, indices: list[int] | None = None) -> None:
        """Forget per-episode state (door numbers) of ``indices`` (all envs when None)."""
        for i in range(len(self._describers)) if indices is None else indices:
            if i < len(self._describers):
                self._describers[i].reset()

    def describe(self, obs: np.ndarray) -> list[Scene]:
        """Scenes of a batch ``[N, W, H, 4]``; env ``i`` keeps its own door numbering."""
        while len(self._describers) < len(obs):
            self._describers.append(Describer(self.task))
        return [self._describers[i](o) for i, o in enumerate(obs)]

    # ------------------------------------------------------------------------- plan
    def plans(self, texts: list[str]) -> list[Parsed]:
        """Parsed plan distributions; the planner is asked once for all new distinct texts."""
        new = list(dict.fromkeys(t for t in texts if t not in self._plans))
        if new:
            for text, dist in zip(new, self.planner.plan(new), strict=True):
                total = sum(dist.values())
                self._plans[text] = [(parse_plan(p), q / total) for p, q in dist.items() if q > 0]
        return [self._plans[t] for t in texts]

    # -------------------------------------------------------------------------- act
    def plan_actions(self, obs: np.ndarray, scenes: list[Scene], plans: list[Parsed]) -> list:
        """For each env, the action of each of its plans (None: no action)."""
        out: list = [None] * len(obs)
        queries: dict[tuple[int, str], tuple] = {}
        todo = []
        for i, (o, scene, dist) in enumerate(zip(obs, scenes, plans, strict=True)):
            key = (o.tobytes(), scene.text, tuple(scene.objects.items()))
            if key in self._memo:
                out[i] = self._memo[key]
            else:
                todo.append((i, key))
                for plan, _ in dist:
                    self._collect(i, o, scene, plan, queries)
        results = self._search(obs, scenes, queries)
        if len(self._memo) > MEMO_LIMIT:
            self._memo.clear()
        for i, key in todo:
            acts = tuple(self._resolve(i, obs[i], scenes[i], p, results) for p, _ in plans[i])
            self._memo[key] = out[i] = acts
        return out

    def _collect(self, i: int, obs: np.ndarray, scene: Scene, plan: Plan | None, queries) -> None:
        """Path searches a plan may need: explore and every go-to not already done."""
        for verb, obj in plan or ():
            if verb == "explore":
                queries[i, ""] = ()
            elif (
                verb == "go to" and obj in scene.objects and obj != scene.held
                and _front(obs) not in scene.objects[obj]
            ):
                queries[i, obj] = scene.objects[obj]
                return

    def _search(self, obs: np.ndarray, scenes: list[Scene], queries: dict) -> dict:
        if not queries:
            return {}
        lava = self.config.lava == "passable"
        goals, frees, starts = [], [], []
        for i, obj in queries:
            start = agent_state(obs[i])
            free = passable(obs[i], start, lava)
            target = target_cells(obs[i].shape[:2], queries[i, obj])
            goals.append(facing_goals(free, target) if obj else explore_goals(obs[i], free))
            frees.append(free)
            starts.append(start)
        actions = first_actions(np.stack(goals), np.stack(frees), np.array(starts))
        return dict(zip(queries, actions.tolist(), strict=True))

    @staticmethod
    def _resolve(i: int, obs: np.ndarray, scene: Scene, plan: Plan | None, results) -> int | None:
        """The action of the first unfinished step of ``plan``; None when there is none."""
        for verb, obj in plan or ():
            if verb == "explore":
                action = results[i, ""]
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
                action = results.get((i, obj), FINISHED)
                if action == UNREACHABLE:
                    return None
                if action != FINISHED:
                    return action
            elif verb == "pick up":
                return PICKUP
            elif any(obs[x, y, 2] != OPEN for x, y in scene.objects[obj]):  # open
                return TOGGLE
        return None

    def act_probs(self, obs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs float32 [N, 7], mask bool [N])`` for a batch ``[N, W, H, 4]``."""
        obs = obs.numpy() if isinstance(obs, torch.Tensor) else np.asarray(obs)
        scenes = self.describe(obs)
        plans = self.plans([s.text for s in scenes])
        actions = self.plan_actions(obs, scenes, plans)
        probs = np.zeros((len(obs), NUM_ACTIONS), dtype=np.float64)
        for i, (dist, acts) in enumerate(zip(plans, actions, strict=True)):
            if self.config.mode == "hard" and dist:
                pick = self._rng.choice(len(dist), p=_normalised([q for _, q in dist]))
                dist, acts = [dist[pick]], [acts[pick]]
            for (_, q), a in zip(dist, acts, strict=True):
                if a is not None:
                    probs[i, a] += q
        mass = probs.sum(axis=1)
        self.stats.fallbacks += int((mass == 0).sum())
        if self.config.fallback == "noop":
            probs[:, DONE] += np.clip(1.0 - mass, 0.0, None)
            mask = np.ones(len(obs), dtype=bool)
        else:
            mask = mass > 0
            probs[~mask] = 1.0
        probs /= probs.sum(axis=1, keepdims=True)
        return probs.astype(np.float32), mask

    def sample_actions(self, obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """Actions drawn from ``pi_T`` for a batch (evaluation: the teacher as the policy)."""
        probs, _ = self.act_probs(obs)
        cum = probs.cumsum(axis=1)
        draws = self._rng.random(len(probs))[:, None] * cum[:, -1:]
        return np.minimum((draws >= cum).sum(axis=1), NUM_ACTIONS - 1)


def _front(obs: np.ndarray) -> tuple[int, int]:
    x, y, d = agent_state(obs)
    return x + DIR_VEC[d][0], y + DIR_VEC[d][1]


def _normalised(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()
