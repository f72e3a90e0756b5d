"""A small rendered tidy-up world: the simulator behind the Habitat adapter's tests.

habitat-sim cannot be installed from the package index, so this is the world the
adapter, the teacher and the visual student are exercised on here: a walled room of
square cells holding objects (apple, cup) and receptacles (table, sink), an agent with
four headings, and a ray-cast egocentric camera that renders RGB and depth with numpy
(2.5D: walls, receptacles and objects have different heights). The agent remembers the
cells and entities it has seen, as a Habitat agent's map would, and sees the object it
holds at the bottom of its view, as a Habitat robot's head camera sees its gripper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OBJECTS = ("apple", "cup")
RECEPTACLES = ("table", "sink")
ENTITIES = OBJECTS + RECEPTACLES
FLOOR, WALL = 0, 1
FIRST_ENTITY = 2  # grid code of ENTITIES[i] is FIRST_ENTITY + i
FORWARD, TURN_LEFT, TURN_RIGHT, PICK, PLACE = range(5)
DIRECTIONS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])  # E, S, W, N (grid x, y)
_HEIGHTS = np.array([0.0, 1.0, 0.3, 0.3, 0.6, 0.6])  # floor, wall, apple, cup, table, sink
_COLOURS = np.array(
    [(0, 0, 0), (170, 170, 190), (220, 30, 30), (240, 240, 240), (140, 90, 40), (60, 120, 220)],
    dtype=np.float32,
)
_FLOOR_RGB, _CEILING_RGB = np.array([90, 110, 80.0]), np.array([40, 40, 50.0])
_CAMERA_HEIGHT = 0.5


@dataclass
class WorldState:
    """Everything that changes within an episode (positions are grid cells)."""

    grid: np.ndarray
    agent: np.ndarray
    heading: int
    held: int = -1  # index into ENTITIES, -1 empty-handed
    placed: tuple[int, int] | None = None  # (object, receptacle) once something was placed
    seen_cells: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    seen: np.ndarray = field(default_factory=lambda: np.zeros(len(ENTITIES), bool))


class TidyWorld:
    """Simulator of one tidy-up episode at a time; ``reset(seed)`` makes it reproducible.

    Low-level actions: ``FORWARD``, ``TURN_LEFT``, ``TURN_RIGHT``, ``PICK`` (the object
    in the faced cell) and ``PLACE`` (the held object on the faced receptacle).
    ``render()`` returns ``rgb`` (uint8 ``[H, W, 3]``) and ``depth`` (float32
    ``[H, W, 1]`` in ``[0, 1]``, 1 = ``max_depth`` cells or farther).
    """

    def __init__(self, size: int = 9, resolution: int = 64, fov_deg: float = 90.0,
                 max_depth: float = 6.0):
        if size < 5:
            raise ValueError(f"size must be at least 5 cells, got {size}")
        self.size, self.resolution, self.max_depth = size, resolution, max_depth
        half = np.tan(np.deg2rad(fov_deg) / 2)
        self._column_offsets = np.arctan(
            (np.arange(resolution) + 0.5 - resolution / 2) / (resolution / 2) * half
        )
        self._focal = (resolution / 2) / half
        self._ray_steps = np.arange(0.05, max_depth, 0.05)
        self.state: WorldState | None = None

    def reset(self, seed: int | None = None) -> WorldState:
        rng = np.random.default_rng(seed)
        n = self.size
        grid = np.full((n, n), FLOOR, dtype=np.int64)
        grid[[0, -1], :] = WALL
        grid[:, [0, -1]] = WALL
        # Two rooms joined by one doorway, so that some things are out of sight at first.
        wall_x, door_y = n // 2, int(rng.integers(1, n - 1))
        grid[wall_x, :] = WALL
        grid[wall_x, door_y] = FLOOR
        keep_clear = {(wall_x - 1, door_y), (wall_x, door_y), (wall_x + 1, door_y)}
        inside = [
            (x, y) for x in range(1, n - 1) for y in range(1, n - 1)
            if grid[x, y] == FLOOR and (x, y) not in keep_clear
        ]
        picks = rng.choice(len(inside), size=len(ENTITIES) + 1, replace=False)
        for i, k in enumerate(picks[:-1]):
            grid[inside[k]] = FIRST_ENTITY + i
        self.state = WorldState(
            grid=grid, agent=np.array(inside[picks[-1]]), heading=int(rng.integers(4)),
            seen_cells=np.zeros((n, n), bool),
        )
        self.render()
        return self.state

    def position_of(self, entity: int) -> tuple[int, int] | None:
        """The cell of ``ENTITIES[entity]``, or None once it is held or placed."""
        cells = np.argwhere(self.state.grid == FIRST_ENTITY + entity)
        return (int(cells[0, 0]), int(cells[0, 1])) if len(cells) else None

    def facing(self) -> int:
        """The entity in the cell the agent faces, or -1."""
        x, y = self.state.agent + DIRECTIONS[self.state.heading]
        code = int(self.state.grid[x, y])
        return code - FIRST_ENTITY if code >= FIRST_ENTITY else -1

    def step(self, action: int) -> None:
        """Apply one low-level action; impossible actions change nothing."""
        s = self.state
        if action == FORWARD:
            ahead = s.agent + DIRECTIONS[s.heading]
            if s.grid[tuple(ahead)] == FLOOR:
                s.agent = ahead
        elif action in (TURN_LEFT, TURN_RIGHT):
            s.heading = (s.heading + (-1 if action == TURN_LEFT else 1)) % 4
        elif action == PICK:
            target = self.facing()
            if s.held < 0 and 0 <= target < len(OBJECTS):
                s.held = target
                s.grid[tuple(s.agent + DIRECTIONS[s.heading])] = FLOOR
        elif action == PLACE:
            target = self.facing()
            if s.held >= 0 and target >= len(OBJECTS):
                s.placed, s.held = (s.held, target), -1
        else:
            raise ValueError(f"unknown low-level action {action!r}")
        self.render()

    def render(self) -> dict[str, np.ndarray]:
        """Ray-cast the egocentric view; also marks what it shows as seen."""
        s = self.state
        angles = s.heading * np.pi / 2 + self._column_offsets
        dirs = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # [W, 2]
        origin = s.agent + 0.5
        points = origin + dirs[:, None, :] * self._ray_steps[None, :, None]  # [W, T, 2]
        cells = np.clip(np.floor(points).astype(np.int64), 0, self.size - 1)
        codes = s.grid[cells[..., 0], cells[..., 1]]  # [W, T]
        blocked = codes != FLOOR
        first = np.where(blocked.any(1), blocked.argmax(1), len(self._ray_steps) - 1)
        wall = codes == WALL
        first_wall = np.where(wall.any(1), wall.argmax(1), len(self._ray_steps) - 1)
        columns = np.arange(len(dirs))
        visible = np.arange(codes.shape[1])[None, :] <= first[:, None]
        s.seen_cells[cells[..., 0][visible], cells[..., 1][visible]] = True
        hit = codes[columns, first]
        s.seen[hit[hit >= FIRST_ENTITY] - FIRST_ENTITY] = True
        cos = np.cos(self._column_offsets)
        return self._paint(
            self._ray_steps[first_wall] * cos, self._ray_steps[first] * cos,
            np.where(hit >= FIRST_ENTITY, hit, WALL),
        )

    def _paint(self, wall_depth: np.ndarray, near_depth: np.ndarray,
               near_code: np.ndarray) -> dict[str, np.ndarray]:
        res, f, h = self.resolution, self._focal, _CAMERA_HEIGHT
        rows = np.arange(res)[:, None] + 0.5 - res / 2  # [H, 1], + below the horizon
        with np.errstate(divide="ignore"):
            depth = np.where(rows > 0, h * f / rows, (1 - h) * f / -rows) * np.ones((1, res))
        rgb = np.where((rows > 0)[..., None], _FLOOR_RGB, _CEILING_RGB) * np.ones((res, res, 1))
        for dist, code in ((wall_depth, np.full_like(near_code, WALL)), (near_depth, near_code)):
            top = -(_HEIGHTS[code] - h) * f / dist
            bottom = h * f / dist
            span = (rows >= top) & (rows <= bottom)  # [H, W]
            shade = (1.0 / (1.0 + 0.25 * dist))[:, None] * _COLOURS[code]  # [W, 3]
            rgb = np.where(span[..., None], shade[None], rgb)
            depth = np.where(span, dist[None], depth)
        if self.state.held >= 0:  # the held object in the gripper, at the bottom of the view
            lo, hi = res * 3 // 8, res - res * 3 // 8
            rgb[res - res // 6:, lo:hi] = _COLOURS[FIRST_ENTITY + self.state.held]
            depth[res - res // 6:, lo:hi] = 0.0
        return {
            "rgb": rgb.clip(0, 255).astype(np.uint8),
            "depth": (np.minimum(depth, self.max_depth) / self.max_depth)
            .astype(np.float32)[..., None],
        }
