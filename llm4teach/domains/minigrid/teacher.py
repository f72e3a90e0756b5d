"""MiniGrid's teacher: memory-map observations -> state texts -> plans -> primitive actions.

The shared part (plans, soft/hard, fallback) is ``PlanTeacher`` (``core.py``); here are
the describer, the batched path search and ``first_action``, the one interpreter of plan
steps. Its fallback ``noop`` is action 6 ("done"). The four paper tasks plan in
``MINIGRID``, every other task in ``MINIGRID_GENERIC``, whose texts start with the
episode's mission (the env's ``mission`` key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from llm4teach.domains.minigrid.batch_env import MISSION_KEY, decode_missions
from llm4teach.domains.minigrid.describe import (
    DOOR,
    GOAL_NAME,
    Describer,
    Scene,
    agent_states,
    object_cells,
    style_of,
)
from llm4teach.domains.minigrid.grammar import MINIGRID, MINIGRID_GENERIC
from llm4teach.domains.minigrid.reference import (
    ReferenceDescriber,
    ReferenceGrammar,
    reference_action,
)
from llm4teach.domains.minigrid.skills import (
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
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.core import PlanTeacher, Resolved
from llm4teach.teacher.grammar import Grammar, Plan
from llm4teach.teacher.planners import Planner

NUM_ACTIONS = 7
MEMO_LIMIT = 100_000
PENDING = -3  # a route whose path search has not run yet
Route = Callable[[str | None], int]  # object (None: the frontier) -> first action toward it


def first_action(plan: Plan | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    """The action of the first unfinished step of ``plan``; None when no step acts.

    ``route(obj)`` is the first action of a shortest path to face ``obj`` (to stand on
    it for the goal; ``None``: the nearest unseen cell, for explore): an action,
    ``FINISHED``, ``UNREACHABLE``, or ``PENDING`` when it has not been searched. Explore
    goes on past ``PENDING`` (it is finished when no frontier is reachable) and go-to
    stops there, so one pass with nothing searched asks for every search the answer can
    depend on. ``open`` toggles until every cell of the object shows open (a door);
    ``toggle`` does the same for a door and toggles anything else once (opens a box).
    """
    for verb, obj in plan or ():
        if verb == "explore":
            action = route(None)
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
            action = route(obj)
            if action == UNREACHABLE:
                return None
            if action != FINISHED:
                return action
        elif verb == "pick up":
            return PICKUP
        else:  # open, toggle
            cells = scene.objects[obj]
            shut = any(obs[x, y, 2] != OPEN for x, y in cells)  # a door not open yet
            if shut or (verb == "toggle" and any(obs[x, y, 0] != DOOR for x, y in cells)):
                return TOGGLE
    return None


class Teacher(PlanTeacher):
    """Acts on memory-map observations with a planner's plans and the skills.

    Keeps one ``Describer`` per env (TwoDoor's door numbers); call ``reset(indices)`` at
    episode starts (a ``fork`` starts with fresh ones). An observation seen before (same
    bytes, same mission, same episode state) is answered from a memo without any search.
    The memo, shared with forks, holds at most ``memo_limit`` observations; it is emptied
    when full. ``num_actions`` is the env's (Dynamic-Obstacles has 3): a plan step whose
    action the env lacks gives no action, and without action 6 there is no ``noop``.

    Example:
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.domains.minigrid import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> teacher = resolve("SimpleDoorKey").make_teacher(TeacherConfig()).teacher
        >>> probs, mask = teacher.act_probs(obs[None])
        >>> probs.shape, bool(mask[0])
        ((1, 7), True)
    """

    grammar = MINIGRID
    num_actions = NUM_ACTIONS
    noop = DONE
    in_keys = ("observation", MISSION_KEY)

    def __init__(
        self, task: str, planner: Planner, config: TeacherConfig | None = None,
        memo_limit: int = MEMO_LIMIT, num_actions: int = NUM_ACTIONS,
    ) -> None:
        config = config or TeacherConfig()
        self.task = task
        self.generic = style_of(task) == "generic"
        self.reference = config.skills == "reference"
        self.grammar = self.grammar_for(task, config)
        self.num_actions = num_actions
        self.noop = DONE if num_actions > DONE else None
        super().__init__(planner, config)
        self.memo_limit = memo_limit
        self._describers: list[Describer] = []
        # (observation bytes, mission bytes, describer state) -> (entry, state after it)
        self._memo: dict[tuple[bytes, bytes, tuple], tuple[Resolved, tuple]] = {}

    @staticmethod
    def grammar_for(task: str, config: TeacherConfig) -> Grammar:
        """The grammar the plans of ``task`` are read in under ``config.skills`` (the
        planner is built for it)."""
        style = style_of(task)
        if config.skills != "reference":
            return MINIGRID_GENERIC if style == "generic" else MINIGRID
        if style == "generic":
            raise ValueError(f"teacher skills 'reference' is the reference code's teacher of "
                             f"the four paper tasks, not of {task}: use skills 'ours'")
        return ReferenceGrammar(style)

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
        use = self.generic and missions is not None
        missions = np.asarray(missions) if use else np.zeros((len(obs), 0), dtype=np.uint8)
        keys = [(o.tobytes(), m.tobytes(), d.state)
                for o, m, d in zip(obs, missions, describers, strict=True)]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        if missing:
            if len(self._memo) + len(missing) > self.memo_limit:
                self._memo.clear()  # bounded memory; this batch is resolved afresh
                missing = list(range(len(keys)))
            self._resolve_batch(obs, missions, describers, missing, keys)
        entries = [self._memo[key] for key in keys]
        for describer, key, (_, state) in zip(describers, keys, entries, strict=True):
            if state != key[2]:
                describer.restore(state)
        return [entry for entry, _ in entries]

    def _grow(self, n: int) -> None:
        kind = ReferenceDescriber if self.reference else Describer
        while len(self._describers) < n:
            self._describers.append(kind(self.task))

    def _resolve_batch(self, obs: np.ndarray, missions: np.ndarray,
                       describers: list[Describer], missing: list[int], keys: list) -> None:
        """Describe, plan and act for the observations not in the memo.

        ``first_action`` runs over every plan; the routes it asks for and that are not
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
        interpret = reference_action if self.reference else first_action
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
        for j, i in enumerate(missing):
            acts = tuple(None if a is None or a >= n else a for a in actions[j])
            self._memo[keys[i]] = (self._entry(plans[j], acts), describers[i].state)

    def _search(self, obs: np.ndarray, starts: np.ndarray, queries: dict) -> dict:
        """First actions toward each query's cells (the frontier when ``obj`` is None), in
        one path search over all queries of the batch: facing them, standing on the goal."""
        envs = np.array([j for j, _ in queries])
        free = passable(obs[envs], starts[envs], self.config.lava == "passable")
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
