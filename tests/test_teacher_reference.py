"""skills="reference": the reference code's teacher rules, on real MiniGrid states.

Each test puts a real env in a concrete state and checks the rule that tells the
reference's teacher from ours, through ``Teacher.act_probs`` or the module's public
functions.
"""

import numpy as np
import pytest
from helpers import FixedPlanner, teacher_of
from minigrid.core.world_object import Key, Lava

from llm4teach.domains.minigrid import Describer, Teacher, make_gym_env
from llm4teach.domains.minigrid.reference import (
    ReferenceDescriber,
    ReferenceGrammar,
    reference_explore,
)
from llm4teach.domains.minigrid.skills import DONE, DROP, FORWARD, LEFT, PICKUP, RIGHT, TOGGLE
from llm4teach.teacher import TeacherConfig

REFERENCE = TeacherConfig(skills="reference")
OURS_NOOP = TeacherConfig(lava="passable", fallback="noop")




def posed(task, seed, pos, direction, carrying=None, clear=()):
    """The env reset with ``seed``, the agent put at ``pos`` facing ``direction`` holding
    ``carrying``, the cells ``clear`` emptied; returns the env and the map after a
    "done" step (which changes nothing but the view)."""
    env = make_gym_env(task)
    env.reset(seed=seed)
    base = env.unwrapped
    for x, y in clear:
        base.grid.set(x, y, None)
    base.agent_pos, base.agent_dir, base.carrying = np.array(pos), direction, carrying
    obs, *_ = env.step(DONE)
    for x, y in clear:  # the map showed them as seen at reset: now seen empty
        if obs[x, y, 0]:
            obs[x, y, :3] = (1, 0, 0)
    return env, obs


def probs_of(task, config, obs, plan=None):
    teacher = (teacher_of(task, config) if plan is None
               else Teacher(task, FixedPlanner(plan), config))
    probs, mask = teacher.act_probs(obs[None])
    return probs[0], bool(mask[0])


def test_the_setting_validates_and_brings_the_reference_lava_and_fallback():
    with pytest.raises(ValueError, match="teacher skills must be one of ours, reference, "
                                         "got 'paper'"):
        TeacherConfig(skills="paper")
    assert TeacherConfig().skills == "ours"
    reference = teacher_of("SimpleDoorKey", REFERENCE)  # the variant's own lava and fallback
    assert (reference.lava, reference.fallback) == ("passable", "noop")
    mine = teacher_of("SimpleDoorKey", TeacherConfig(skills="reference", fallback="mask"))
    assert (mine.lava, mine.fallback) == ("passable", "mask")  # what the config names wins
    assert (teacher_of("SimpleDoorKey").lava, teacher_of("SimpleDoorKey").fallback) == \
        ("avoid", "mask")
    with pytest.raises(ValueError, match="four paper tasks"):
        teacher_of("MiniGrid-DoorKey-5x5-v0", REFERENCE)


def test_steps_are_read_by_substring_as_the_reference_reads_them():
    plain = ReferenceGrammar("plain")
    assert plain.parse_plan("go to <door>, open <door> with <key>") == (
        ("go to", "door"), ("open", "door"))
    assert plain.parse_plan("go to <door>, pick up <handle>, use <key>") == (
        ("go to", "door"), ("noop", None), ("noop", "key"))
    assert ReferenceGrammar("colored").parse_plan("drop <red key>, go to east") == (
        ("drop", "red key"), ("noop", None))
    assert ReferenceGrammar("numbered").parse_plan("go to <door2>, open <door2>") == (
        ("go to", "door2"), ("open", "door2"))


def test_open_door_with_key_toggles_where_ours_has_no_action():
    # SimpleDoorKey seed 0: a 10x8 room, the door at (3, 7) in the south wall, the key
    # at (1, 1). Holding the key, facing the door: "Agent sees <door>, holds <key>."
    _, obs = posed("SimpleDoorKey", 0, (3, 6), 1, carrying=Key("red"), clear=[(1, 1)])
    assert Describer("SimpleDoorKey")(obs).text == "Agent sees <door>, holds <key>."
    ours, _ = probs_of("SimpleDoorKey", OURS_NOOP, obs)
    reference, _ = probs_of("SimpleDoorKey", REFERENCE, obs)
    # the table: "go to <door>, open <door> with <key>" 0.62 (junk to ours), "go to <door>,
    # open <door>" 0.30, "go to <key>, pick up <key>, go to <door>, open <door>" 0.06
    # (ours skips the held key's steps; the reference never saw the key: done), "explore,
    # go to <door>" 0.02
    assert ours[TOGGLE] == pytest.approx(0.36, abs=1e-6)
    assert ours[DONE] >= 0.62 - 1e-6
    assert reference[TOGGLE] == pytest.approx(0.92, abs=1e-6)
    assert reference[DONE] >= 0.06 - 1e-6


def test_the_carried_key_is_remembered_where_it_was_picked_up():
    env, before = posed("SimpleDoorKey", 0, (1, 2), 3)  # facing the key at (1, 1)
    after, *_ = env.step(PICKUP)
    assert isinstance(env.unwrapped.carrying, Key)
    describer = ReferenceDescriber("SimpleDoorKey")
    describer(before)
    scene = describer(after)
    assert (scene.text, scene.held, scene.objects["key"]) == (
        "Agent sees <nothing>, holds <key>.", "key", ((1, 1),))
    # so "go to <key>" is finished (it faces the old cell) and "pick up <key>" acts
    plan = "go to <key>, pick up <key>"
    teacher = Teacher("SimpleDoorKey", FixedPlanner(plan), REFERENCE)
    teacher.act_probs(before[None])
    probs, _ = teacher.act_probs(after[None])
    assert probs[0, PICKUP] == 1.0
    _, mask = probs_of("SimpleDoorKey", TeacherConfig(), after, plan)
    assert not mask  # ours skips both steps: no action, no opinion
    teacher.reset()  # a new episode forgets the key's cell: the step acts done
    probs, _ = teacher.act_probs(after[None])
    assert probs[0, DONE] == 1.0


def test_drop_acts_whatever_is_held_and_unseen_objects_act_done():
    _, obs = posed("SimpleDoorKey", 0, (1, 2), 3)  # sees the key, holds nothing
    assert probs_of("SimpleDoorKey", REFERENCE, obs, "drop <key>")[0][DROP] == 1.0
    assert not probs_of("SimpleDoorKey", TeacherConfig(), obs, "drop <key>")[1]
    # the door is not seen yet: the reference acts done, ours has no opinion (mask)
    assert probs_of("SimpleDoorKey", REFERENCE, obs, "go to <door>, open <door>")[0][DONE] == 1.0
    assert not probs_of("SimpleDoorKey", TeacherConfig(), obs, "go to <door>, open <door>")[1]


def test_explore_turns_away_from_an_object_ahead():
    _, obs = posed("SimpleDoorKey", 0, (1, 2), 3)  # the key ahead, the west wall to the left
    assert reference_explore(obs) == RIGHT
    env, _ = posed("SimpleDoorKey", 0, (2, 2), 3)
    env.unwrapped.grid.set(2, 1, Key("red"))
    obs, *_ = env.step(DONE)  # the key ahead, an empty cell to the left
    assert reference_explore(obs) == LEFT


def test_explore_walks_into_lava_ahead():
    env, _ = posed("LavaDoorKey", 0, (2, 2), 0)
    env.unwrapped.grid.set(3, 2, Lava())
    obs, *_ = env.step(DONE)
    assert reference_explore(obs) == FORWARD  # unseen cells lie east, beyond the lava
    probs, _ = probs_of("LavaDoorKey", TeacherConfig(), obs, "explore")
    assert probs[FORWARD] == 0.0  # ours (lava avoid) never steps into it


def test_explore_is_finished_on_a_seen_room_and_the_plan_goes_on():
    env, obs = posed("SimpleDoorKey", 0, (1, 2), 0)
    seen = obs.copy()
    unseen = seen[..., 0] == 0
    seen[unseen, :3] = env.unwrapped.grid.encode()[unseen]  # as if every cell were seen
    assert reference_explore(seen) is None
    probs, _ = probs_of("SimpleDoorKey", REFERENCE, seen, "explore, drop <key>")
    assert probs[DROP] == 1.0


def test_doors_are_numbered_in_scan_order_at_every_step():
    _, obs = posed("TwoDoor", 0, (5, 5), 0)
    east = obs.copy()
    east[19, 5, :3] = (4, 0, 2)  # a locked red door on the east wall, seen first
    both = east.copy()
    both[0, 7, :3] = (4, 0, 2)  # then one on the west wall
    ours, reference = Describer("TwoDoor"), ReferenceDescriber("TwoDoor")
    for describer in (ours, reference):
        assert describer(east).objects["door1"] == ((19, 5),)
    assert ours(both).objects["door1"] == ((19, 5),)  # ours: in the order first seen
    assert reference(both).objects["door1"] == ((0, 7),)  # the reference: scan order
