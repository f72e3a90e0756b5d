"""Our interpreter of MiniGrid plan steps: each verb declared once, as the step it acts.

``STEPS`` maps every verb to its step; the grammars take their verbs from it
(``grammar.py``), and ``first_action`` runs a plan's steps in order until one acts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llm4teach.domains.minigrid.describe import DOOR, Scene
from llm4teach.domains.minigrid.skills import DROP, FINISHED, OPEN, PICKUP, TOGGLE, UNREACHABLE
from llm4teach.teacher.grammar import Plan

PENDING = -3  # a route whose path search has not run yet
DONE_STEP = -4  # a step with nothing left to do: the plan's next step acts
Route = Callable[[str | None], int]  # object (None: the frontier) -> first action toward it
# (object, scene, memory map, route) -> an action, DONE_STEP, or None (the plan gives none)
Step = Callable[[str | None, Scene, np.ndarray, Route], int | None]


def _explore(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    """Toward the nearest unseen cell; done when none is reachable (or not searched yet)."""
    action = route(None)
    return action if action >= 0 else DONE_STEP


def _go_to(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    if obj == scene.held:
        return DONE_STEP
    if obj not in scene.objects:
        return None  # names an object not seen yet
    action = route(obj)
    if action == UNREACHABLE:
        return None
    return DONE_STEP if action == FINISHED else action


def _pick_up(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    if obj == scene.held:
        return DONE_STEP
    return PICKUP if obj in scene.objects else None


def _drop(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    return DROP if scene.held == obj else DONE_STEP


def _open(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    """Toggle until every cell of the object shows open (a door)."""
    if obj not in scene.objects:
        return None
    shut = any(obs[x, y, 2] != OPEN for x, y in scene.objects[obj])
    return TOGGLE if shut else DONE_STEP


def _toggle(obj: str | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    """``open`` for a door; anything else is toggled while it is there (a box opens and
    is gone)."""
    if obj not in scene.objects:
        return None
    if any(obs[x, y, 0] != DOOR for x, y in scene.objects[obj]):
        return TOGGLE
    return _open(obj, scene, obs, route)


STEPS: dict[str, Step] = {"explore": _explore, "go to": _go_to, "pick up": _pick_up,
                          "drop": _drop, "open": _open, "toggle": _toggle}


def first_action(plan: Plan | None, scene: Scene, obs: np.ndarray, route: Route) -> int | None:
    """The action of the first unfinished step of ``plan``; None when no step acts.

    ``route(obj)`` is the first action of a shortest path to face ``obj`` (to stand on
    it for the goal; ``None``: the nearest unseen cell, for explore): an action,
    ``FINISHED``, ``UNREACHABLE``, or ``PENDING`` when it has not been searched. Explore
    goes on past ``PENDING`` (it is finished when no frontier is reachable) and go-to
    stops there, so one pass with nothing searched asks for every search the answer can
    depend on.
    """
    for verb, obj in plan or ():
        action = STEPS[verb](obj, scene, obs, route)
        if action != DONE_STEP:
            return action
    return None
