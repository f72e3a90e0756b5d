"""The high-level action space: skills over the spec's grammar, mapped to Habitat.

``explore``, ``navigate to X`` (any entity), ``pick X`` (objects), ``place on Y``
(receptacles). On the small world they are scripted controllers that issue low-level
actions, as habitat-lab's oracle navigation and magic-grasp pick/place do on a real
scene: shortest paths on the grid (the navmesh here) and privileged positions, but a
target must have been seen before the agent can navigate to it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from llm4teach.domains.habitat.world import (
    DIRECTIONS,
    ENTITIES,
    FLOOR,
    FORWARD,
    OBJECTS,
    PICK,
    PLACE,
    RECEPTACLES,
    TURN_LEFT,
    TURN_RIGHT,
    TidyWorld,
)

SKILLS: tuple[str, ...] = (
    ("explore",)
    + tuple(f"navigate to <{e}>" for e in ENTITIES)
    + tuple(f"pick <{o}>" for o in OBJECTS)
    + tuple(f"place on <{r}>" for r in RECEPTACLES)
)
SKILL_INDEX = {name: i for i, name in enumerate(SKILLS)}


def _bfs(world: TidyWorld, goals: set[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """Shortest floor path from the agent to the nearest cell of ``goals`` (start included)."""
    grid, start = world.state.grid, tuple(int(v) for v in world.state.agent)
    parent: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell in goals:
            path = [cell]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for dx, dy in DIRECTIONS:
            nxt = (cell[0] + int(dx), cell[1] + int(dy))
            if nxt not in parent and grid[nxt] == FLOOR:
                parent[nxt] = cell
                queue.append(nxt)
    return None


def _turn_to(world: TidyWorld, heading: int) -> int:
    steps = 0
    while world.state.heading != heading:
        right = (heading - world.state.heading) % 4 == 1
        world.step(TURN_RIGHT if right else TURN_LEFT)
        steps += 1
    return steps


def _follow(world: TidyWorld, path: list[tuple[int, int]]) -> int:
    steps = 0
    for cell, nxt in zip(path, path[1:], strict=False):
        move = (nxt[0] - cell[0], nxt[1] - cell[1])
        heading = next(i for i, d in enumerate(DIRECTIONS) if tuple(d) == move)
        steps += _turn_to(world, heading) + 1
        world.step(FORWARD)
    return steps


def navigate(world: TidyWorld, entity: int) -> int:
    """Walk next to a seen ``entity`` and face it; returns low-level steps (0: impossible)."""
    target = world.position_of(entity)
    if target is None or not world.state.seen[entity]:
        return 0
    beside = {
        (target[0] - int(dx), target[1] - int(dy)): h for h, (dx, dy) in enumerate(DIRECTIONS)
    }
    path = _bfs(world, {c for c in beside if world.state.grid[c] == FLOOR})
    if path is None:
        return 0
    return _follow(world, path) + _turn_to(world, beside[path[-1]])


def explore(world: TidyWorld) -> int:
    """Go to the nearest unseen floor cell and look around it (a frontier search)."""
    unseen = {tuple(int(v) for v in c) for c in np.argwhere(~world.state.seen_cells)}
    path = _bfs(world, {c for c in unseen if world.state.grid[c] == FLOOR})
    if path is None:
        world.step(TURN_LEFT)
        return 1
    steps = _follow(world, path)
    world.step(TURN_LEFT)
    return steps + 1


def run_skill(world: TidyWorld, skill: int) -> int:
    """Execute ``SKILLS[skill]`` to its end; returns the low-level steps it took."""
    name = SKILLS[skill]
    if name == "explore":
        return explore(world)
    entity = ENTITIES.index(name[name.index("<") + 1 : -1])
    if name.startswith("navigate"):
        return navigate(world, entity)
    world.step(PICK if name.startswith("pick") else PLACE)
    return 1
