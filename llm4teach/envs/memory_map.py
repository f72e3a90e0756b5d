"""The memory-map observation: an allocentric map of every cell seen in the episode.

Shape ``(W, H, 4)`` uint8. Channels 0..2 hold MiniGrid's (object, colour, state) codes
of each cell seen at least once (its current content; 0 where never seen). Channel 3
holds the agent's direction at the agent's cell and 4 elsewhere. The agent's own cell
shows what it carries (or empty), as in MiniGrid's egocentric view.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX

AGENT_VIEW_SIZE = 3
NO_DIRECTION = 4
EMPTY_CELL = (OBJECT_TO_IDX["empty"], 0, 0)


class MemoryMapObservation(gym.Wrapper):
    """Turn a MiniGrid env's egocentric view into the allocentric memory map.

    Only the cells in the current view (and the cell the agent just left) can change
    between steps, so the map is updated incrementally rather than re-encoded.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        self.observation_space = gym.spaces.Box(
            low=0, high=255, shape=(base.width, base.height, 4), dtype=np.uint8
        )
        self._map = np.zeros((base.width, base.height, 3), dtype=np.uint8)
        self._last_pos: tuple[int, int] | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
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

        size = view.shape[0]
        half = size // 2
        (fx, fy), (rx, ry) = base.dir_vec, base.right_vec
        seen = view[..., 0] != 0  # MiniGrid encodes occluded cells as 0 ("unseen")
        for vx, vy in zip(*np.nonzero(seen), strict=True):
            ahead, right = size - 1 - vy, vx - half
            x, y = ax + fx * ahead + rx * right, ay + fy * ahead + ry * right
            if 0 <= x < base.width and 0 <= y < base.height:
                self._map[x, y] = view[vx, vy]

        out = np.empty(self.observation_space.shape, dtype=np.uint8)
        out[..., :3] = self._map
        out[..., 3] = NO_DIRECTION
        out[ax, ay, 3] = base.agent_dir
        return out
