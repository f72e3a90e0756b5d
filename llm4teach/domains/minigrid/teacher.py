"""MiniGrid's teacher: memory-map observations -> state texts -> plans -> primitive actions.

The shared part (plans, soft/hard, fallback) is ``PlanTeacher``
(``llm4teach.teacher.core``); here are the memo, the batched path search and the loop
that runs the skill set's interpreter (``skill_sets.py``: ours, generic or the
reference's) until every route it asks for is searched. Its fallback ``noop`` is action 6
("done").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm4teach.domains.minigrid.batch_env import MISSION_KEY, decode_missions
from llm4teach.domains.minigrid.describe import (
    GOAL_NAME,
    Describer,
    Scene,
    agent_states,
    object_cells,
)
from llm4teach.domains.minigrid.interpret import PENDING, Route
from llm4teach.domains.minigrid.skill_sets import SkillSet, skill_set
from llm4teach.domains.minigrid.skills import (
    DIR_VEC,
    DONE,
    FINISHED,
    facing_goals,
    first_actions,
    passable,
    unseen,
)
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.core import UNANSWERED, PlanTeacher, Resolved
from llm4teach.teacher.planners import Planner

NUM_ACTIONS = 7
MEMO_LIMIT = 100_000


class Teacher(PlanTeacher):
    """Acts on memory-map observations with a planner's plans and the skills.

    Keeps one ``Describer`` per env (TwoDoor's door numbers); call ``reset(indices)`` at
    episode starts (a ``fork`` starts with fresh ones). An observation seen before (same
    bytes, same mission, same episode state) is answered from a memo without any search.
    The memo, shared with forks, holds at most ``memo_limit`` observations; it is emptied
    when full. ``num_actions`` is the env's (Dynamic-Obstacles has 3): a plan step whose
    action the env lacks gives no action, and without action 6 there is no ``noop``.
    ``skills`` is the variant it acts as (``skill_set(task, config.skills)`` when None).

    Example:
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.domains.minigrid import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> teacher = resolve("SimpleDoorKey").make_teacher(TeacherConfig()).teacher
        >>> probs, mask = teacher.act_probs(obs[None])
        >>> probs.shape, bool(mask[0])
        ((1, 7), True)
    """

    num_actions = NUM_ACTIONS
    noop = DONE
    in_keys = ("observation", MISSION_KEY)

    def __init__(
        self, task: str, planner: Planner, config: TeacherConfig | None = None,
        skills: SkillSet | None = None, memo_limit: int = MEMO_LIMIT,
        num_actions: int = NUM_ACTIONS,
    ) -> None:
        config = config or TeacherConfig()
        self.task = task
        self.skills = skills or skill_set(task, config.skills)
        self.grammar = self.skills.grammar
        self.default_fallback = self.skills.fallback
        self.lava = config.lava or self.skills.lava
        self.num_actions = num_actions
        self.noop = DONE if num_actions > DONE else None
        super().__init__(planner, config)
        self.memo_limit = memo_limit
        self._describers: list[Describer] = []
        # (observation bytes, mission bytes, describer state) -> (entry, state after it)
        self._memo: dict[tuple[bytes, bytes, tuple], tuple[Resolved, tuple]] = {}

    def reset(self, indices: list[int] | None = None) -> None:
        """Forget per-episode state (door numbers) of ``indices`` (all envs when None)."""
        for i in range(len(self._describers)) if indices is None else indices:
            if i < len(self._describers):
                self._describers[i].reset()

    def fork(self) -> Teacher:
        twin = super().fork()
        twin._describers = []
        return twin

    def _resolve(self, batch: dict[str, np.ndarray], envs: Sequence[int]) -> list[Resolved]:
        """Memo entries of a batch ``[N, W, H, 4]``; the missing ones in one path search.

        The memo keys on the describer's state (and the mission, for generic texts) and
        holds its state after describing, restored here, so a hit numbers doors as
        describing afresh would.
        """
        self._grow(max(envs, default=-1) + 1)
        describers = [self._describers[e] for e in envs]
        obs, missions = batch["observation"], batch.get(MISSION_KEY)
        use = self.skills.reads_mission and missions is not None
        missions = np.asarray(missions) if use else np.zeros((len(obs), 0), dtype=np.uint8)
        keys = [(o.tobytes(), m.tobytes(), d.state)
                for o, m, d in zip(obs, missions, describers, strict=True)]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        fresh: dict[tuple, tuple[Resolved, tuple]] = {}
        if missing:
            if len(self._memo) + len(missing) > self.memo_limit:
                self._memo.clear()  # bounded memory; this batch is resolved afresh
                missing = list(range(len(keys)))
            fresh = self._resolve_batch(obs, missions, describers, missing, keys)
            # a text the planner has not answered yet is resolved again once it has
            self._memo.update((key, entry) for key, entry in fresh.items()
                              if entry[0].dist is not UNANSWERED)
        entries = [fresh.get(key) or self._memo[key] for key in keys]
        for describer, key, (_, state) in zip(describers, keys, entries, strict=True):
            if state != key[2]:
                describer.restore(state)
        return [entry for entry, _ in entries]

    def _grow(self, n: int) -> None:
        while len(self._describers) < n:
            self._describers.append(self.skills.describer(self.task))

    def _resolve_batch(self, obs: np.ndarray, missions: np.ndarray,
                       describers: list[Describer], missing: list[int],
                       keys: list) -> dict[tuple, tuple[Resolved, tuple]]:
        """Describe, plan and act for the observations not in the memo: their entries and
        describer states by key.

        The interpreter runs over every plan; the routes it asks for and that are not
        searched yet are searched together, in one batch, and it runs again, until no
        route is pending (one search in practice: only explore goes on past one).
        """
        sub = obs[missing]
        starts = agent_states(sub)
        found = object_cells(sub, starts, describers[0].codes)
        texts = decode_missions(missions[missing]) if missions.shape[1] else [""] * len(missing)
        scenes = [describers[i].scene(*f, mission)
                  for i, f, mission in zip(missing, found, texts, strict=True)]
        plans = self.plans([s.text for s in scenes])
        searched: dict[tuple[int, str | None], int] = {}
        interpret = self.skills.interpret
        while True:
            wanted: dict[tuple[int, str | None], tuple] = {}
            actions = [
                tuple(interpret(plan, scenes[j], sub[j],
                                   _router(j, starts[j], scenes[j], searched, wanted))
                      for plan, _ in plans[j])
                for j in range(len(missing))
            ]
            if not wanted:
                break
            searched.update(self._search(sub, starts, wanted))
        n = self.num_actions
        fresh = {}
        for j, i in enumerate(missing):
            acts = tuple(None if a is None or a >= n else a for a in actions[j])
            fresh[keys[i]] = (self._entry(plans[j], acts), describers[i].state)
        return fresh

    def _search(self, obs: np.ndarray, starts: np.ndarray, queries: dict) -> dict:
        """First actions toward each query's cells (the frontier when ``obj`` is None), in
        one path search over all queries of the batch: facing them, standing on the goal."""
        envs = np.array([j for j, _ in queries])
        free = passable(obs[envs], starts[envs], self.lava == "passable")
        targets = unseen(obs[envs])
        for q, ((_, obj), cells) in enumerate(queries.items()):
            if obj is not None:  # a go-to: the object's cells instead of the frontier
                targets[q] = False
                for x, y in cells:
                    targets[q, x + 1, y + 1] = True
        goals = facing_goals(free, targets)
        for q, (_, obj) in enumerate(queries):
            if obj == GOAL_NAME:
                goals[q] = targets[q] & free[q]  # every direction on the goal cell
        actions = first_actions(goals, free, starts[envs])
        return dict(zip(queries, actions.tolist(), strict=True))


def _router(j: int, start: np.ndarray, scene: Scene, searched: dict, wanted: dict) -> Route:
    """``route`` of observation ``j`` of a batch: ``searched`` results; others are noted
    in ``wanted`` and ``PENDING``. Facing the object needs no search (the goal is to be
    stepped on, which ends the episode, so going to it is never finished here)."""
    front = (int(start[0]) + DIR_VEC[start[2]][0], int(start[1]) + DIR_VEC[start[2]][1])

    def route(obj: str | None) -> int:
        if obj is not None and obj != GOAL_NAME and front in scene.objects[obj]:
            return FINISHED
        key = (j, obj)
        if key in searched:
            return searched[key]
        wanted[key] = () if obj is None else scene.objects[obj]
        return PENDING

    return route
