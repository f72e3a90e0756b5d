"""Task rules of spec section 1, checked through the gymnasium envs."""

import numpy as np
import pytest
from minigrid.core.world_object import Door, Key, Lava

from llm4teach.domains.minigrid import TASKS, make_gym_env
from llm4teach.domains.minigrid.tasks import MAX_STEPS, DoorTaskEnv

TOGGLE, FORWARD, PICKUP = 5, 2, 3


def face(env, target: tuple[int, int], position: tuple[int, int]) -> None:
    """Stand the agent on ``position`` facing the adjacent ``target`` cell."""
    base = env.unwrapped
    dx, dy = target[0] - position[0], target[1] - position[1]
    base.agent_pos = position
    base.agent_dir = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}[(dx, dy)]


def at_door(env, door: Door, key_color: str) -> None:
    base = env.unwrapped
    inside = DoorTaskEnv.inside_cell(door, base.room_size)
    if base.grid.get(*inside) is not None:
        base.grid.set(*inside, None)
    face(env, tuple(door.cur_pos), inside)
    base.carrying = Key(key_color)


@pytest.mark.parametrize("steps_before", [0, 9, 120])
def test_opening_the_door_pays_the_time_discounted_reward(steps_before):
    env = make_gym_env("SimpleDoorKey")
    env.reset(seed=3)
    base = env.unwrapped
    at_door(env, base.door, base.door.color)
    base.step_count = steps_before
    _, reward, terminated, truncated, _ = env.step(TOGGLE)
    assert reward == pytest.approx(1 - 0.9 * (steps_before + 1) / MAX_STEPS)
    assert terminated and not truncated


def test_other_steps_pay_nothing_and_time_runs_out_at_150():
    env = make_gym_env("SimpleDoorKey")
    env.reset(seed=0)
    rewards, truncated, steps = [], False, 0
    while not truncated:
        _, reward, terminated, truncated, _ = env.step(0)  # turning in place
        rewards.append(reward)
        steps += 1
        assert not terminated
    assert steps == MAX_STEPS and set(rewards) == {0.0}


def test_lava_ends_the_episode_with_zero():
    env = make_gym_env("LavaDoorKey")
    env.reset(seed=1)
    base = env.unwrapped
    lava = next(
        (x, y) for x in range(base.width) for y in range(base.height)
        if isinstance(base.grid.get(x, y), Lava)
    )
    beside = next(
        (lava[0] + dx, lava[1] + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
        if base.grid.get(lava[0] + dx, lava[1] + dy) is None
    )
    face(env, lava, beside)
    _, reward, terminated, _, _ = env.step(FORWARD)
    assert terminated and reward == 0.0


def test_wrong_colour_key_cannot_open_the_coloured_door():
    env = make_gym_env("ColoredDoorKey")
    env.reset(seed=2)
    base = env.unwrapped
    assert base.door.color == "blue"
    at_door(env, base.door, "red")
    _, reward, terminated, _, _ = env.step(TOGGLE)
    assert reward == 0.0 and not terminated and base.door.is_locked
    base.carrying = Key("blue")
    _, reward, terminated, _, _ = env.step(TOGGLE)
    assert reward > 0 and terminated


@pytest.mark.parametrize("which", [0, 1])
def test_either_two_door_door_succeeds(which):
    env = make_gym_env("TwoDoor")
    env.reset(seed=4)
    base = env.unwrapped
    door = base.doors[which]
    at_door(env, door, door.color)
    _, reward, terminated, _, _ = env.step(TOGGLE)
    assert reward > 0 and terminated


def cells(base, kind):
    return [
        (x, y) for x in range(base.width) for y in range(base.height)
        if isinstance(base.grid.get(x, y), kind)
    ]


@pytest.mark.parametrize("task", list(TASKS))
def test_layouts_follow_the_spec(task):
    env = make_gym_env(task)
    for seed in range(40):
        env.reset(seed=seed)
        base = env.unwrapped
        w, h = base.room_size
        assert base.min_room <= w <= base.max_room and base.min_room <= h <= base.max_room
        doors = cells(base, Door)
        keys = cells(base, Key)
        for x, y in doors:
            assert base.grid.get(x, y).is_locked
            on_vertical, on_horizontal = x in (0, w - 1), y in (0, h - 1)
            assert on_vertical != on_horizontal, "doors sit on a wall, never in a corner"
        for x, y in keys + cells(base, Lava):
            assert 0 < x < w - 1 and 0 < y < h - 1, "objects lie inside the room"
        insides = {DoorTaskEnv.inside_cell(base.grid.get(*d), (w, h)) for d in doors}
        if task == "LavaDoorKey":
            assert len(cells(base, Lava)) == 1 and not insides & set(cells(base, Lava))
        if task == "ColoredDoorKey":
            assert sorted(base.grid.get(*k).color for k in keys) == ["blue", "red"]
            assert not insides & set(keys)
        if task == "TwoDoor":
            (x1, y1), (x2, y2) = doors
            assert {x1, x2} == {0, w - 1} or {y1, y2} == {0, h - 1}
            assert len({base.grid.get(*d).color for d in doors}) == 1
            assert keys[0][0] in (9, 10) and keys[0][1] in (9, 10)
        else:
            door_colors = {base.grid.get(*d).color for d in doors}
            assert len(doors) == 1 and door_colors <= {base.grid.get(*k).color for k in keys}


@pytest.mark.parametrize("task", [*TASKS, "MiniGrid-DoorKey-8x8-v0"])
def test_same_seed_same_episode(task):
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 7, size=60).tolist()

    def episode(seed):
        env = make_gym_env(task)
        obs, _ = env.reset(seed=seed)
        frames = [obs]
        for action in actions:
            obs, *_ = env.step(action)
            frames.append(obs)
        return np.stack(frames)

    assert np.array_equal(episode(7), episode(7))
    assert not np.array_equal(episode(7), episode(8))
