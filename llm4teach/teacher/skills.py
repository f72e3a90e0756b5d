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
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
FINISHED, UNREACHABLE = -2, -1
_FREE = [OBJECT_TO_IDX[n] for n in ("empty", "floor", "goal")]
UNSEEN, LAVA, DOOR = OBJECT_TO_IDX["unseen"], OBJECT_TO_IDX["lava"], OBJECT_TO_IDX["door"]
OPEN = STATE_TO_IDX["open"]


def passable(obs: np.ndarray, start: tuple[int, int, int], lava: bool) -> np.ndarray:
    """Known cells the agent can step on, padded with a False border: ``[W + 2, H + 2]``."""
    codes = obs[..., 0]
    ok = np.isin(codes, _FREE) | ((codes == DOOR) & (obs[..., 2] == OPEN))
    if lava:
        ok |= codes == LAVA
    ok[start[0], start[1]] = True  # the agent's cell shows what it carries
    return np.pad(ok, 1)


def _ahead(cells: np.ndarray, d: int) -> np.ndarray:
    """``out[x, y] = cells[x + dx, y + dy]`` on padded arrays (border stays False)."""
    dx, dy = DIR_VEC[d]
    out = np.zeros_like(cells)
    out[1:-1, 1:-1] = cells[1 + dx : cells.shape[0] - 1 + dx, 1 + dy : cells.shape[1] - 1 + dy]
    return out


def facing_goals(free: np.ndarray, target: np.ndarray) -> np.ndarray:
    """States ``[4, W + 2, H + 2]`` standing on a free cell and facing a ``target`` cell."""
    return np.stack([free & _ahead(target, d) for d in range(4)])


def explore_goals(obs: np.ndarray, free: np.ndarray) -> np.ndarray:
    """States that face a never-seen cell: stepping there reveals new ground (frontier)."""
    return facing_goals(free, np.pad(obs[..., 0] == UNSEEN, 1))


def target_cells(shape: tuple[int, int], cells: tuple[tuple[int, int], ...]) -> np.ndarray:
    """A padded boolean map of ``cells``."""
    out = np.zeros((shape[0] + 2, shape[1] + 2), dtype=bool)
    for x, y in cells:
        out[x + 1, y + 1] = True
    return out


def first_actions(goals: np.ndarray, free: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """First action of a shortest path from each start to its goal states.

    Args:
        goals: ``[Q, 4, W + 2, H + 2]`` goal states per query (padded like ``passable``).
        free: ``[Q, W + 2, H + 2]`` passable cells per query.
        starts: ``[Q, 3]`` unpadded ``(x, y, direction)`` per query.

    Returns ``[Q]`` int: an action (0 left, 1 right, 2 forward), ``FINISHED`` when the start
    is a goal, ``UNREACHABLE`` when no goal can be reached.
    """
    q = np.arange(len(goals))
    sx, sy, sd = starts[:, 0] + 1, starts[:, 1] + 1, starts[:, 2]
    dist = np.where(goals, 0, -1).astype(np.int16)
    frontier, free4 = goals.copy(), free[:, None]
    w, h = goals.shape[2:]
    ahead = [(slice(1 + dx, w - 1 + dx), slice(1 + dy, h - 1 + dy)) for dx, dy in DIR_VEC]
    step = 0
    while not (dist[q, sd, sx, sy] >= 0).all():
        step += 1
        pred = np.roll(frontier, 1, axis=1)  # turning left from d + 1 reaches d
        pred |= np.roll(frontier, -1, axis=1)  # turning right from d - 1 reaches d
        for d, (xs, ys) in enumerate(ahead):  # moving forward from (x, y) reaches ahead
            pred[:, d, 1:-1, 1:-1] |= frontier[:, d, xs, ys]
        pred &= free4 & (dist < 0)
        if not pred.any():
            break
        dist[pred] = step
        frontier = pred
    here = dist[q, sd, sx, sy].astype(np.int64)
    out = np.where(here == 0, FINISHED, UNREACHABLE)
    for i in np.nonzero(here > 0)[0]:
        d, want = sd[i], here[i] - 1
        dx, dy = DIR_VEC[d]
        if dist[i, d, sx[i] + dx, sy[i] + dy] == want:
            out[i] = FORWARD
        elif dist[i, (d - 1) % 4, sx[i], sy[i]] == want:
            out[i] = LEFT
        else:
            out[i] = RIGHT
    return out
