"""Skills: explore and go-to as shortest paths over (x, y, direction), batched over queries.

Skills run for every env at every step, so the path search is a backward breadth-first
wave over boolean arrays of shape ``[queries, 4, W, H]``: all queries of a batch
advance together, one numpy step per distance, and stop once every start is reached.
"""

from __future__ import annotations

import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX, STATE_TO_IDX

# MiniGrid directions: 0 east, 1 south, 2 west, 3 north; left = d - 1, right = d + 1.
DIR_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))
_DX, _DY = np.array([1, 0, -1, 0]), np.array([0, 1, 0, -1])
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
FINISHED, UNREACHABLE = -2, -1
_FREE = [OBJECT_TO_IDX[n] for n in ("empty", "floor", "goal")]
UNSEEN, LAVA, DOOR = OBJECT_TO_IDX["unseen"], OBJECT_TO_IDX["lava"], OBJECT_TO_IDX["door"]
OPEN = STATE_TO_IDX["open"]


def passable(obs: np.ndarray, starts: np.ndarray, lava: bool) -> np.ndarray:
    """Known cells the agent can step on, ``[N, W + 2, H + 2]`` with a False border.

    ``obs`` is a batch ``[N, W, H, 4]``; ``starts`` the agents' ``(x, y, direction)``.
    """
    codes = obs[..., 0]
    ok = np.isin(codes, _FREE) | ((codes == DOOR) & (obs[..., 2] == OPEN))
    if lava:
        ok |= codes == LAVA
    ok[np.arange(len(obs)), starts[:, 0], starts[:, 1]] = True  # shows what it carries
    return _pad(ok)


def unseen(obs: np.ndarray) -> np.ndarray:
    """Never-seen cells of a batch, padded like ``passable``: explore's targets (frontier)."""
    return _pad(obs[..., 0] == UNSEEN)


def _pad(cells: np.ndarray) -> np.ndarray:
    out = np.zeros((cells.shape[0], cells.shape[1] + 2, cells.shape[2] + 2), dtype=bool)
    out[:, 1:-1, 1:-1] = cells
    return out


def facing_goals(free: np.ndarray, target: np.ndarray) -> np.ndarray:
    """States ``[Q, 4, W + 2, H + 2]`` on a free cell facing a ``target`` cell (padded maps)."""
    goals = np.zeros((len(free), 4, *free.shape[1:]), dtype=bool)
    w, h = free.shape[1:]
    for d, (dx, dy) in enumerate(DIR_VEC):
        goals[:, d, 1:-1, 1:-1] = target[:, 1 + dx : w - 1 + dx, 1 + dy : h - 1 + dy]
    goals &= free[:, None]
    return goals


def first_actions(goals: np.ndarray, free: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """First action of a shortest path from each start to its goal states.

    Args:
        goals: ``[Q, 4, W + 2, H + 2]`` goal states per query (padded like ``passable``).
        free: ``[Q, W + 2, H + 2]`` passable cells per query.
        starts: ``[Q, 3]`` unpadded ``(x, y, direction)`` per query.

    Returns ``[Q]`` int: an action (0 left, 1 right, 2 forward), ``FINISHED`` when the start
    is a goal, ``UNREACHABLE`` when no goal can be reached. The wave runs backward from
    the goals; when it reaches a start, the start's successors in the previous wave
    front are one step closer, and the action to the first of them wins.
    """
    q = np.arange(len(goals))
    sx, sy, sd = starts[:, 0] + 1, starts[:, 1] + 1, starts[:, 2]
    fx, fy = sx + np.take(_DX, sd), sy + np.take(_DY, sd)
    left = (sd - 1) % 4
    out = np.where(goals[q, sd, sx, sy], FINISHED, UNREACHABLE)
    todo = out == UNREACHABLE
    w, h = goals.shape[2:]
    ahead = [(slice(1 + dx, w - 1 + dx), slice(1 + dy, h - 1 + dy)) for dx, dy in DIR_VEC]
    free4 = np.broadcast_to(free[:, None], goals.shape)
    frontier, unvisited = goals.copy(), ~goals & free4
    pred = np.empty_like(goals)
    while todo.any():
        pred[:, 1:] = frontier[:, :-1]  # turning left from d + 1 reaches d
        pred[:, 0] = frontier[:, 3]
        pred[:, :-1] |= frontier[:, 1:]  # turning right from d - 1 reaches d
        pred[:, 3] |= frontier[:, 0]
        for d, (xs, ys) in enumerate(ahead):  # moving forward from (x, y) reaches ahead
            pred[:, d, 1:-1, 1:-1] |= frontier[:, d, xs, ys]
        pred &= unvisited
        reached = todo & pred[q, sd, sx, sy]
        if reached.any():
            out[reached & frontier[q, sd, fx, fy]] = FORWARD
            out[reached & (out < 0) & frontier[q, left, sx, sy]] = LEFT
            out[reached & (out < 0)] = RIGHT
            todo &= ~reached
        if not pred.any():
            break
        unvisited &= ~pred
        frontier, pred = pred, frontier
    return out
