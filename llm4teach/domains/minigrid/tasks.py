"""The four LLM4Teach MiniGrid tasks (spec section 1), as gymnasium environments.

Each task is a MiniGrid env whose room is anchored at the grid's top-left corner, with
width and height drawn independently from ``[min_room, max_room]``. The only reward is
for opening a locked door, ``success_reward(t, max_steps)`` (``1 - 0.9 * t / max_steps``),
which ends the episode.
"""

from __future__ import annotations

from typing import Any

from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Door, Key, Lava
from minigrid.minigrid_env import MiniGridEnv

from llm4teach.domains.minigrid.memory_map import AGENT_VIEW_SIZE
from llm4teach.domains.minigrid.reward import success_reward

MAX_STEPS = 150
DOOR_COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
WALLS = ("east", "south", "west", "north")


class DoorTaskEnv(MiniGridEnv):
    """Base of the tasks: a top-left anchored room, locked doors, reward for opening one."""

    MISSION = "open the door"  # each task's one mission, so its mission space holds it

    def __init__(self, grid_size: int, min_room: int, max_room: int, **kwargs: Any) -> None:
        self.min_room = min_room
        self.max_room = max_room
        kwargs.setdefault("max_steps", MAX_STEPS)
        kwargs.setdefault("agent_view_size", AGENT_VIEW_SIZE)
        mission = self.MISSION
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: mission),
            width=grid_size,
            height=grid_size,
            see_through_walls=False,
            **kwargs,
        )

    # ----------------------------------------------------------------- layout helpers
    def _room(self) -> tuple[int, int]:
        """Draw the room size and wall it in, anchored at (0, 0)."""
        w = self._rand_int(self.min_room, self.max_room + 1)
        h = self._rand_int(self.min_room, self.max_room + 1)
        self.room_size = (w, h)
        self.grid.wall_rect(0, 0, w, h)
        return w, h

    def _door_on(self, wall: str, color: str) -> Door:
        """Put a locked door on ``wall`` of the room, never in a corner."""
        w, h = self.room_size
        if wall in ("east", "west"):
            pos = (w - 1 if wall == "east" else 0, self._rand_int(1, h - 1))
        else:
            pos = (self._rand_int(1, w - 1), h - 1 if wall == "south" else 0)
        door = Door(color, is_locked=True)
        self.put_obj(door, *pos)
        return door

    @staticmethod
    def inside_cell(door: Door, room_size: tuple[int, int]) -> tuple[int, int]:
        """The room cell just inside ``door``."""
        (x, y), width = door.cur_pos, room_size[0]
        if x == 0:
            return (1, y)
        if x == width - 1:
            return (x - 1, y)
        if y == 0:
            return (x, 1)
        return (x, y - 1)

    def _place_in_room(self, obj: Any, avoid: tuple[tuple[int, int], ...] = ()) -> None:
        w, h = self.room_size
        self.place_obj(
            obj, top=(1, 1), size=(w - 2, h - 2),
            reject_fn=lambda _env, pos: tuple(pos) in avoid,
        )

    def _place_agent_in_room(self) -> None:
        w, h = self.room_size
        self.place_agent(top=(1, 1), size=(w - 2, h - 2))

    # ------------------------------------------------------------------------ reward
    def step(self, action: int):  # noqa: D102 - gymnasium API
        front = self.grid.get(*self.front_pos)
        was_closed = isinstance(front, Door) and not front.is_open
        obs, reward, terminated, truncated, info = super().step(action)
        if was_closed and action == self.actions.toggle and front.is_open:
            reward = success_reward(self.step_count, self.max_steps)
            terminated = True
        return obs, float(reward), terminated, truncated, info


class SimpleDoorKeyEnv(DoorTaskEnv):
    """One locked door of a random colour and its key anywhere in the room."""

    def __init__(self, grid_size: int = 10, min_room: int = 5, max_room: int = 10, **kwargs: Any):
        super().__init__(grid_size, min_room, max_room, **kwargs)

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        self._room()
        color = self._rand_elem(DOOR_COLORS)
        self.door = self._door_on(self._rand_elem(WALLS), color)
        self._place_extras()
        self._place_in_room(Key(color))
        self._place_agent_in_room()
        self.mission = self.MISSION

    def _place_extras(self) -> None:
        """Hook for tasks that add objects before the key is placed."""


class LavaDoorKeyEnv(SimpleDoorKeyEnv):
    """SimpleDoorKey plus one lava cell, never on the cell just inside the door."""

    def _place_extras(self) -> None:
        self._place_in_room(Lava(), avoid=(self.inside_cell(self.door, self.room_size),))


class ColoredDoorKeyEnv(DoorTaskEnv):
    """A blue locked door, a blue key and a red key; the agent holds one object at most."""

    MISSION = "open the blue door"

    def __init__(self, grid_size: int = 10, min_room: int = 5, max_room: int = 10, **kwargs: Any):
        super().__init__(grid_size, min_room, max_room, **kwargs)

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        self._room()
        self.door = self._door_on(self._rand_elem(WALLS), "blue")
        inside = (self.inside_cell(self.door, self.room_size),)
        self._place_in_room(Key("blue"), avoid=inside)
        self._place_in_room(Key("red"), avoid=inside)
        self._place_agent_in_room()
        self.mission = self.MISSION


class TwoDoorEnv(DoorTaskEnv):
    """Two locked doors of one colour on opposite walls; the key in the central 2x2 cells."""

    MISSION = "open either door"

    def __init__(self, grid_size: int = 20, min_room: int = 20, max_room: int = 20, **kwargs: Any):
        super().__init__(grid_size, min_room, max_room, **kwargs)

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        w, h = self._room()
        color = self._rand_elem(DOOR_COLORS)
        walls = ("east", "west") if self._rand_bool() else ("north", "south")
        self.doors = [self._door_on(wall, color) for wall in walls]
        self.place_obj(Key(color), top=(w // 2 - 1, h // 2 - 1), size=(2, 2))
        self._place_agent_in_room()
        self.mission = self.MISSION
