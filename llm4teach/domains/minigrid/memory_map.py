"""The memory-map observation: an allocentric map of every cell seen in the episode.

Shape ``(W, H, 4)`` uint8. Channels 0..2 hold MiniGrid's (object, colour, state) codes
of each cell seen at least once (its current content; 0 where never seen). Channel 3
holds the agent's direction at the agent's cell and 4 elsewhere. The agent's own cell
shows what it carries (or empty), as in MiniGrid's egocentric view.

MiniGrid builds that view from new grid objects at every step (a slice, up to four
rotations, a visibility pass over them): about 90% of its step. ``egocentric_image``
computes the same array straight from the grid; the wrapper installs it as the env's
``gen_obs`` when the env uses MiniGrid's own (tests check it equal to MiniGrid's).
"""

from __future__ import annotations

import contextlib
import io
from functools import cache
from types import MethodType
from typing import Any

import gymnasium as gym
import numpy as np
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX
from minigrid.core.world_object import Wall
from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel
from minigrid.minigrid_env import MiniGridEnv

AGENT_VIEW_SIZE = 3
NO_DIRECTION = 4
EMPTY_CELL = (OBJECT_TO_IDX["empty"], 0, 0)
_OUTSIDE = Wall()  # what MiniGrid shows beyond the grid's edge


def egocentric_image(env: MiniGridEnv) -> np.ndarray:
    """``env.gen_obs()["image"]`` without building grids: the agent's ``(V, V, 3)`` view.

    View cell ``(vx, vy)`` is ``V - 1 - vy`` cells ahead of the agent and ``vx - V // 2``
    to its right. Visibility is MiniGrid's ``Grid.process_vis`` over the view (light
    spreads from the agent, forward and sideways, past cells it can see behind); the
    agent's own cell shows what it carries.
    """
    size = env.agent_view_size
    half = size // 2
    ax, ay = env.agent_pos
    fx, fy = DIR_TO_VEC[env.agent_dir]
    rx, ry = -fy, fx
    grid = env.grid
    width, height, cells = grid.width, grid.height, grid.grid
    view = [[_OUTSIDE] * size for _ in range(size)]  # view[vx][vy]
    for vy in range(size):
        ahead = size - 1 - vy
        for vx in range(size):
            x = ax + fx * ahead + rx * (vx - half)
            y = ay + fy * ahead + ry * (vx - half)
            if 0 <= x < width and 0 <= y < height:
                view[vx][vy] = cells[y * width + x]
    mask = [[False] * size for _ in range(size)]  # plain lists: numpy indexing per cell is slow
    mask[half][size - 1] = True
    for j in range(size - 1, -1, -1):
        for i in range(size - 1):
            cell = view[i][j]
            if mask[i][j] and (cell is None or cell.see_behind()):
                mask[i + 1][j] = True
                if j > 0:
                    mask[i + 1][j - 1] = mask[i][j - 1] = True
        for i in range(size - 1, 0, -1):
            cell = view[i][j]
            if mask[i][j] and (cell is None or cell.see_behind()):
                mask[i - 1][j] = True
                if j > 0:
                    mask[i - 1][j - 1] = mask[i][j - 1] = True
    view[half][size - 1] = env.carrying
    flat = [0] * (size * size * 3)
    for i in range(size):
        for j in range(size):
            if mask[i][j]:
                cell = view[i][j]
                k = (i * size + j) * 3
                flat[k:k + 3] = EMPTY_CELL if cell is None else cell.encode()
    return np.array(flat, dtype=np.uint8).reshape(size, size, 3)


@cache
def _view_offsets(size: int, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """World offsets ``(dx, dy)`` of each view cell ``[vx, vy]`` for one direction."""
    (fx, fy), (rx, ry) = DIR_TO_VEC[direction], (-DIR_TO_VEC[direction][1],
                                                 DIR_TO_VEC[direction][0])
    vx, vy = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    ahead, right = size - 1 - vy, vx - size // 2
    return fx * ahead + rx * right, fy * ahead + ry * right


def _fast_gen_obs(env: MiniGridEnv) -> dict[str, Any]:
    return {"image": egocentric_image(env), "direction": env.agent_dir, "mission": env.mission}


class MemoryMapObservation(gym.Wrapper):
    """Turn a MiniGrid env's egocentric view into the allocentric memory map.

    Only the cells in the current view (and the cell the agent just left) can change
    between steps, so the map is updated incrementally rather than re-encoded. Any
    MiniGrid env works: rooms and views of any size (a view may reach past the grid).
    BabyAI's level generator prints every layout it rejects; its resets are silenced.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        if (isinstance(base, MiniGridEnv) and not base.see_through_walls
                and type(base).gen_obs is MiniGridEnv.gen_obs
                and type(base).gen_obs_grid is MiniGridEnv.gen_obs_grid):
            base.gen_obs = MethodType(_fast_gen_obs, base)  # same observation, no grids built
        self.observation_space = gym.spaces.Box(
            low=0, high=255, shape=(base.width, base.height, 4), dtype=np.uint8
        )
        self._map = np.zeros((base.width, base.height, 3), dtype=np.uint8)
        self._last_pos: tuple[int, int] | None = None
        self._quiet = isinstance(base, RoomGridLevel)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        if self._quiet:
            with contextlib.redirect_stdout(io.StringIO()):
                obs, info = self.env.reset(**kwargs)
        else:
            obs, info = self.env.reset(**kwargs)
        self._map[:] = 0
        self._last_pos = None
        return self._update(obs["image"]), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._update(obs["image"]), reward, terminated, truncated, info

    def _update(self, view: np.ndarray) -> np.ndarray:
        base = self.env.unwrapped
        ax, ay = base.agent_pos
        if self._last_pos is not None and self._last_pos != (ax, ay):
            # The cell the agent left showed what it carried: restore its real content.
            cell = base.grid.get(*self._last_pos)
            self._map[self._last_pos] = EMPTY_CELL if cell is None else cell.encode()
        self._last_pos = (int(ax), int(ay))

        dx, dy = _view_offsets(view.shape[0], int(base.agent_dir))
        xs, ys = dx + ax, dy + ay
        # MiniGrid encodes occluded cells as 0 ("unseen"); the view may reach past the grid
        seen = (view[..., 0] != 0) & (xs >= 0) & (xs < base.width) & (ys >= 0) & (ys < base.height)
        self._map[xs[seen], ys[seen]] = view[seen]

        out = np.empty(self.observation_space.shape, dtype=np.uint8)
        out[..., :3] = self._map
        out[..., 3] = NO_DIRECTION
        out[ax, ay, 3] = base.agent_dir
        return out
