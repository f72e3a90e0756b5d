"""The small rendered world: reproducible episodes, a camera that shows what is there."""

import numpy as np
import pytest

from llm4teach.domains.habitat.world import (
    ENTITIES,
    FIRST_ENTITY,
    FLOOR,
    FORWARD,
    PICK,
    PLACE,
    TURN_LEFT,
    WALL,
    TidyWorld,
)


def test_reset_is_reproducible_and_places_everything_once():
    a, b = TidyWorld(), TidyWorld()
    sa, sb = a.reset(seed=5), b.reset(seed=5)
    np.testing.assert_array_equal(sa.grid, sb.grid)
    assert tuple(sa.agent) == tuple(sb.agent) and sa.heading == sb.heading
    for i in range(len(ENTITIES)):
        assert (sa.grid == FIRST_ENTITY + i).sum() == 1
    assert sa.grid[tuple(sa.agent)] == FLOOR
    assert not np.array_equal(TidyWorld().reset(seed=6).grid, sa.grid)


def test_render_shapes_and_ranges():
    world = TidyWorld(resolution=32)
    world.reset(seed=0)
    views = world.render()
    assert views["rgb"].shape == (32, 32, 3) and views["rgb"].dtype == np.uint8
    assert views["depth"].shape == (32, 32, 1) and views["depth"].dtype == np.float32
    assert views["depth"].min() > 0.0 and views["depth"].max() <= 1.0


def _world_facing(entity: int, distance: int) -> TidyWorld:
    """A world with only ``entity`` placed ``distance`` cells east of the agent."""
    world = TidyWorld(resolution=32)
    s = world.reset(seed=0)
    s.grid[s.grid >= FIRST_ENTITY] = FLOOR
    s.grid[s.grid.shape[0] // 2, :] = WALL  # keep only the west room open
    s.grid[1:-1, 1:-1][s.grid[1:-1, 1:-1] == WALL] = FLOOR
    s.agent, s.heading = np.array([1, 4]), 0
    s.grid[1 + distance, 4] = FIRST_ENTITY + entity
    return world


def test_camera_shows_the_faced_entity_nearer_than_the_wall_and_marks_it_seen():
    far = _world_facing(ENTITIES.index("sink"), 3)
    near = _world_facing(ENTITIES.index("sink"), 1)
    depth_far, depth_near = far.render()["depth"], near.render()["depth"]
    centre = depth_near[16, 16, 0]
    assert centre < depth_far[16, 16, 0]
    assert near.state.seen[ENTITIES.index("sink")]
    rgb = near.render()["rgb"][20, 16].astype(int)
    assert rgb[2] > rgb[0]  # the sink is blue


def test_turning_changes_the_view_and_forward_is_blocked_by_walls():
    world = TidyWorld()
    world.reset(seed=1)
    before = world.render()["rgb"].copy()
    world.step(TURN_LEFT)
    assert not np.array_equal(before, world.render()["rgb"])
    for _ in range(20):
        world.step(FORWARD)
    x, y = world.state.agent
    assert world.state.grid[x, y] == FLOOR


def test_pick_and_place_rules():
    world = _world_facing(ENTITIES.index("apple"), 1)
    world.step(PLACE)  # nothing held: no effect
    assert world.state.placed is None
    world.step(PICK)
    assert world.state.held == ENTITIES.index("apple") and world.facing() == -1
    bottom = world.render()["rgb"][-1, 16].astype(int)
    assert bottom[0] > 150 and bottom[1] < 80  # the held apple, red, in the gripper
    world.step(PICK)  # hands full, nothing in front
    world.state.grid[2, 4] = FIRST_ENTITY + ENTITIES.index("table")
    world.step(PLACE)
    assert world.state.placed == (ENTITIES.index("apple"), ENTITIES.index("table"))
    with pytest.raises(ValueError):
        world.step(9)
