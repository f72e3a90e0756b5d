"""Describe: hand-made memory maps give the spec's exact state texts."""

import numpy as np
import pytest
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

from llm4teach.domains.minigrid.describe import Describer, abstract_colours, restore_colours

KEY, DOOR, EMPTY = OBJECT_TO_IDX["key"], OBJECT_TO_IDX["door"], OBJECT_TO_IDX["empty"]


def memory_map(agent=(2, 2, 0), objects=(), held=None, size=6):
    """An all-seen room; ``objects`` are ``(code, colour name, x, y)``."""
    obs = np.zeros((size, size, 4), dtype=np.uint8)
    obs[..., 0], obs[..., 3] = EMPTY, 4
    for code, colour, x, y in objects:
        obs[x, y, :3] = (code, COLOR_TO_IDX[colour], 2 if code == DOOR else 0)
    x, y, d = agent
    obs[x, y, 3] = d
    if held:
        obs[x, y, :2] = (KEY, COLOR_TO_IDX[held])
    return obs


@pytest.mark.parametrize(
    ("task", "objects", "held", "text"),
    [
        ("SimpleDoorKey", [], None, "Agent sees <nothing>, holds <nothing>."),
        ("SimpleDoorKey", [(DOOR, "red", 5, 3), (KEY, "red", 1, 1)], None,
         "Agent sees <key>, <door>, holds <nothing>."),
        ("LavaDoorKey", [(DOOR, "red", 5, 3)], "red", "Agent sees <door>, holds <key>."),
        ("ColoredDoorKey", [(KEY, "red", 1, 1), (DOOR, "blue", 5, 3), (KEY, "blue", 3, 4)], None,
         "Agent sees <red key>, <blue key>, <blue door>, holds <nothing>."),
        ("ColoredDoorKey", [(KEY, "red", 1, 1)], "blue", "Agent sees <red key>, holds <blue key>."),
        ("TwoDoor", [(DOOR, "green", 0, 3), (DOOR, "green", 5, 3), (KEY, "green", 3, 3)], None,
         "Agent sees <key>, <door1>, <door2>, holds <nothing>."),
    ],
)
def test_state_texts(task, objects, held, text):
    assert Describer(task)(memory_map(objects=objects, held=held)).text == text


def test_carried_key_is_not_seen_and_objects_are_located():
    scene = Describer("SimpleDoorKey")(memory_map(objects=[(DOOR, "red", 5, 3)], held="red"))
    assert scene.held == "key"
    assert scene.objects == {"door": ((5, 3),)}


def test_twodoor_numbers_stay_stable_within_an_episode():
    describer = Describer("TwoDoor")
    east = (DOOR, "green", 5, 3)
    west = (DOOR, "green", 0, 3)
    assert describer(memory_map(objects=[east])).text == "Agent sees <door1>, holds <nothing>."
    # The west door comes first in scan order, but the east door was seen first.
    both = describer(memory_map(objects=[west, east]))
    assert both.objects == {"door1": ((5, 3),), "door2": ((0, 3),)}
    describer.reset()
    assert describer(memory_map(objects=[west, east])).objects["door1"] == ((0, 3),)


def test_colour_placeholders_round_trip():
    text, mapping = abstract_colours("Agent sees <red key>, <blue door>, holds <blue key>.")
    assert text == "Agent sees <color1 key>, <color2 door>, holds <color2 key>."
    assert restore_colours("drop <color2 key>, pick up <color1 key>", mapping) == (
        "drop <blue key>, pick up <red key>"
    )


@pytest.mark.parametrize(("task", "expected"), [  # measured before the generic texts came
    ("SimpleDoorKey", (1.0, 0.901, 16.5)),
    ("LavaDoorKey", (1.0, 0.868, 22.0)),
    ("ColoredDoorKey", (0.25, 0.0775, 141.25)),
    ("TwoDoor", (1.0, 0.2155, 130.75)),
])
def test_paper_tasks_texts_are_the_recorded_tables_and_the_teacher_scores_as_before(task, expected):
    """Every text 4 held-out episodes meet is a state of the task's recorded table, and
    the teacher's success, return and length are what they were."""
    from llm4teach.domains import resolve
    from llm4teach.domains.held_out import evaluate_teacher
    from llm4teach.teacher import TeacherConfig

    domain = resolve(task)
    teacher = domain.make_teacher(TeacherConfig())
    metrics = evaluate_teacher(teacher, domain.episode_envs(4), 4)
    assert teacher.stats.unknown_texts == 0 and teacher.stats.hits > 0
    measured = tuple(metrics[f"teacher_{k}"] for k in ("success", "return", "length"))
    assert measured == pytest.approx(expected, abs=1e-9)
