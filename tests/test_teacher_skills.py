"""Skills: shortest paths over (x, y, direction), driven on real generated grids."""

import numpy as np
import pytest
from helpers import FixedPlanner
from minigrid.core.world_object import Key, Lava

from llm4teach.domains.minigrid import Teacher, make_gym_env
from llm4teach.domains.minigrid.skills import (
    FINISHED,
    FORWARD,
    LEFT,
    RIGHT,
    UNREACHABLE,
    facing_goals,
    first_actions,
)
from llm4teach.teacher import TeacherConfig


def drive(task, seed, plan, lava="avoid", limit=150):
    """Act with the plan's action until it has none left (fallback "done"); return the env."""
    env = make_gym_env(task, max_steps=limit)
    obs, _ = env.reset(seed=seed)
    teacher = Teacher(task, FixedPlanner(plan), TeacherConfig(lava=lava, fallback="noop"))
    for _ in range(limit):
        probs, _ = teacher.act_probs(obs[None])
        action = int(np.argmax(probs[0]))
        if action == 6:
            return env, 0.0
        obs, reward, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return env, reward
    raise AssertionError(f"{plan!r} did not finish in {limit} steps (seed {seed})")


def test_first_actions_on_a_corridor():
    free = np.zeros((1, 7, 5), dtype=bool)
    free[0, 1:6, 2] = True  # a corridor along x at y = 2 (padded coordinates)
    target = np.zeros_like(free)
    target[0, 5, 2] = True
    goals = facing_goals(free, target)
    starts = np.array([[0, 1, 0], [0, 1, 2], [0, 1, 1], [3, 1, 0]])  # unpadded (x, y, dir)
    many = np.repeat(goals, 4, axis=0), np.repeat(free, 4, axis=0)
    assert first_actions(*many, starts).tolist() == [FORWARD, LEFT, LEFT, FINISHED]
    assert first_actions(goals, free, np.array([[0, 1, 3]])).tolist() == [RIGHT]
    blocked = free.copy()
    blocked[0, 3, 2] = False
    blocked_goals = facing_goals(blocked, target)
    assert first_actions(blocked_goals, blocked, np.array([[0, 1, 0]])).tolist() == [UNREACHABLE]


@pytest.mark.parametrize("task", ["SimpleDoorKey", "ColoredDoorKey", "TwoDoor"])
@pytest.mark.parametrize("seed", range(4))
def test_explore_then_go_to_and_pick_up_the_key(task, seed):
    key = "blue key" if task == "ColoredDoorKey" else "key"
    limit = 600 if task == "TwoDoor" else 150
    env, _ = drive(task, seed, f"explore, go to <{key}>, pick up <{key}>", limit=limit)
    carried = env.unwrapped.carrying
    assert isinstance(carried, Key) and (task != "ColoredDoorKey" or carried.color == "blue")


@pytest.mark.parametrize("seed", range(6))
def test_full_plan_opens_the_door_avoiding_lava(seed):
    plan = "explore, go to <key>, pick up <key>, go to <door>, open <door>"
    env, reward = drive("LavaDoorKey", seed, plan)
    assert reward > 0
    front = env.unwrapped.grid.get(*env.unwrapped.front_pos)
    assert not isinstance(front, Lava)


def test_object_not_seen_gives_no_action():
    env = make_gym_env("SimpleDoorKey")
    obs, _ = env.reset(seed=0)
    teacher = Teacher("SimpleDoorKey", FixedPlanner("go to <nothing here>"),
                      TeacherConfig(fallback="noop"))
    probs, mask = teacher.act_probs(obs[None])
    assert probs[0, 6] == 1.0 and mask[0]
    masked = Teacher("SimpleDoorKey", planner=FixedPlanner("open <door2>"))  # default: mask
    probs, mask = masked.act_probs(obs[None])
    assert not mask[0] and np.allclose(probs, 1 / 7)
