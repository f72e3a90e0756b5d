"""Any registered MiniGrid / BabyAI id is a task: generic state texts, missions, skills."""

import re

import numpy as np
import pytest
from helpers import Recording
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_teacher
from llm4teach.domains.minigrid import (
    Describer,
    GymEpisodes,
    Teacher,
    make_env,
    make_gym_env,
    resolve_task,
)
from llm4teach.domains.minigrid.batch_env import decode_missions, encode_mission
from llm4teach.domains.minigrid.grammar import MINIGRID_GENERIC
from llm4teach.domains.minigrid.registry import standard_ids
from llm4teach.metrics import TEACHER_SUCCESS
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.training.module import Student

EMPTY = OBJECT_TO_IDX["empty"]


def memory_map(objects=(), held=None, size=7):
    """An all-seen room, the agent at (3, 3) facing east; ``objects``: ``(type, colour,
    state, x, y)``; ``held``: ``(type, colour)``."""
    obs = np.zeros((size, size, 4), dtype=np.uint8)
    obs[..., 0], obs[..., 3] = EMPTY, 4
    for kind, colour, state, x, y in objects:
        obs[x, y, :3] = (OBJECT_TO_IDX[kind], COLOR_TO_IDX[colour], state)
    obs[3, 3, 3] = 0
    if held:
        obs[3, 3, :2] = (OBJECT_TO_IDX[held[0]], COLOR_TO_IDX[held[1]])
    return obs


def test_generic_text_names_every_object_with_colour_state_and_the_mission():
    objects = [("key", "blue", 0, 1, 1), ("door", "blue", 2, 6, 2), ("ball", "red", 0, 5, 5),
               ("lava", "red", 0, 2, 5), ("lava", "red", 0, 2, 4), ("goal", "green", 0, 5, 1),
               ("box", "grey", 0, 1, 5), ("door", "red", 0, 0, 3), ("door", "green", 1, 6, 4),
               ("wall", "grey", 0, 0, 0)]
    scene = Describer("MiniGrid-KeyCorridorS3R1-v0")(memory_map(objects), "pick up the red ball")
    assert scene.text == (
        "Mission: pick up the red ball. Agent sees <red ball>, <grey box>, <blue door (locked)>, "
        "<green door (closed)>, <red door (open)>, <goal>, <blue key>, <lava>, holds <nothing>."
    )
    assert scene.objects["lava"] == ((2, 4), (2, 5)) and scene.held is None
    held = Describer("BabyAI-GoToObj-v0")(memory_map(held=("ball", "purple")))
    assert held.text == "Agent sees <nothing>, holds <purple ball>." and held.held == "purple ball"


def test_standard_doorkey_ids_describe_generically_and_the_paper_tasks_do_not():
    obs = memory_map([("key", "yellow", 0, 1, 1), ("goal", "green", 0, 5, 5)])
    assert Describer("MiniGrid-DoorKey-8x8-v0")(obs, "open").text == (
        "Mission: open. Agent sees <goal>, <yellow key>, holds <nothing>.")
    assert Describer("SimpleDoorKey")(obs, "open the door").text == (
        "Agent sees <key>, holds <nothing>.")


def test_generic_grammar_parses_every_verb_and_drops_a_shown_state():
    plan = MINIGRID_GENERIC.parse_plan(
        "go to <blue door (locked)>, toggle <grey box>, pick up <red ball>, go to <goal>, "
        "drop <red ball>, open <door>, explore")
    assert plan == (("go to", "blue door"), ("toggle", "grey box"), ("pick up", "red ball"),
                    ("go to", "goal"), ("drop", "red ball"), ("open", "door"),
                    ("explore", None))
    assert MINIGRID_GENERIC.parse_plan("go to <red goal>") is None
    text = "Mission: x. Agent sees <red ball>, <blue door (locked)>, holds <blue key>."
    assert all(MINIGRID_GENERIC.parse_plan(c) for c in MINIGRID_GENERIC.candidate_plans(text))




def test_the_mission_reaches_the_teacher_in_training_and_held_out_not_the_student():
    task = "BabyAI-GoToRedBallNoDists-v0"
    env = make_env(task, num_envs=2, seed=0)
    td = env.reset()
    assert decode_missions(td["mission"]) == [e.unwrapped.mission for e in env.envs]
    planner = Recording()
    rollout = TransformedEnv(env, TeacherTransform(Teacher(task, planner=planner))).rollout(3)
    assert rollout["teacher_probs"].shape == (2, 3, 7)
    assert planner.texts
    assert all(t.startswith("Mission: go to the red ball. ") for t in planner.texts)
    assert resolve(task).make_student(Student(hidden=16, channels=(8,))).in_keys == ["observation"]

    held_out = Recording()
    teacher = TeacherTransform(Teacher(task, planner=held_out))
    evaluate_teacher(teacher, resolve(task).episode_envs(2), 2)
    assert held_out.texts[0].startswith("Mission: go to the red ball. Agent sees")


def scripted(rules):
    """A planner whose plan is the first rule whose pattern the text matches, with the
    pattern's groups filled in (``{0}`` the first)."""
    def plan(text):
        for pattern, template in rules:
            match = re.search(pattern, text)
            if match:
                return {template.format(*match.groups()): 1.0}
        return {}
    return plan


def drive(task, plan, seed, limit=200):
    """The teacher's greedy action until the episode ends; its last reward."""
    env = make_gym_env(task, max_steps=limit)
    obs, _ = env.reset(seed=seed)
    teacher = Teacher(task, Recording(plan), TeacherConfig(fallback="mask"))
    mission = encode_mission(env.unwrapped.mission)[None]
    for _ in range(limit):
        probs, mask = teacher.act_probs({"observation": obs[None], "mission": mission})
        assert mask[0], "every state of these tasks has a plan that acts"
        obs, reward, terminated, truncated, _ = env.step(int(np.argmax(probs[0])))
        if terminated or truncated:
            return reward
    return 0.0


def pick_up_the_missions_object(text):
    """BabyAI-PickupDist's plan: the first object seen that the mission's words fit."""
    colour, kind = re.match(r"Mission: pick up (?:a|the) (\w+ )?(\w+)\.", text).groups()
    for obj in re.findall(r"<([^<>]+)>", text.split("holds")[0]):
        if obj.endswith(kind) and obj.startswith(colour or ""):
            return {f"go to <{obj}>, pick up <{obj}>": 1.0}
    return {"explore": 1.0}


EXPLORE = ("", "explore")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("task", "plan"), [
    ("MiniGrid-Empty-Random-6x6-v0", scripted([("<goal>", "go to <goal>"), EXPLORE])),
    ("MiniGrid-LavaGapS6-v0", scripted([("<goal>", "go to <goal>"), EXPLORE])),
    ("BabyAI-GoToRedBallNoDists-v0", scripted([("<red ball>", "go to <red ball>"), EXPLORE])),
    ("BabyAI-PickupDist-v0", pick_up_the_missions_object),
    ("MiniGrid-Unlock-v0", scripted([(r"<(\w+) door \(locked\)>.*holds <\w+ key>",
                                      "go to <{0} door>, open <{0} door>"),
                                     (r"<(\w+) key>", "go to <{0} key>, pick up <{0} key>"),
                                     EXPLORE])),
    ("BabyAI-KeyInBox-v0", scripted([(r"<(\w+) door[^>]*>.*holds <\w+ key>",
                                      "go to <{0} door>, open <{0} door>"),
                                     (r"holds <\w+ key>", "explore"),
                                     (r"<(\w+) key>", "go to <{0} key>, pick up <{0} key>"),
                                     (r"<(\w+) box>", "go to <{0} box>, toggle <{0} box>"),
                                     EXPLORE])),
])
def test_skills_reach_goals_face_objects_and_toggle_doors_and_boxes(task, plan, seed):
    assert drive(task, plan, seed) > 0


def test_an_action_the_env_lacks_is_no_action_and_there_is_no_noop():
    task = "MiniGrid-Dynamic-Obstacles-5x5-v0"
    n = make_gym_env(task).action_space.n
    assert n == 3 and resolve(task).make_teacher(TeacherConfig()).teacher.num_actions == 3
    obs, _ = make_gym_env(task).reset(seed=0)
    teacher = Teacher(task, planner=Recording(lambda t: {"pick up <goal>": 1.0}), num_actions=3)
    probs, mask = teacher.act_probs(obs[None])
    assert probs.shape == (1, 3) and not mask[0]
    with pytest.raises(ValueError, match="use fallback 'mask'"):
        Teacher(task, Recording(), TeacherConfig(fallback="noop"), num_actions=3)


def test_unknown_ids_are_one_line_and_name_llm4teach_tasks():
    with pytest.raises(ValueError, match=r"llm4teach tasks") as err:
        resolve("MiniGrid-NoSuchThing-v0")
    assert "\n" not in str(err.value)
    assert resolve_task("BabyAI-GoToObj-v0") == "BabyAI-GoToObj-v0"
    assert make_gym_env("BabyAI-GoToObj-v0").unwrapped.agent_view_size == 7
    assert make_gym_env("BabyAI-GoToObj-v0", agent_view_size=5).unwrapped.agent_view_size == 5


@pytest.mark.slow  # a teacher's episodes on every standard id
@pytest.mark.parametrize("task", standard_ids())
def test_the_teacher_runs_on_every_registered_id(task):
    """Held-out episodes (2, capped at 12 steps) of the table teacher: no table for most
    ids, so its texts are unknown and the fallback counts them; an id whose minigrid extra
    is missing is one clear error."""
    try:
        domain = resolve(task)
    except ValueError as err:
        assert "pip install" in str(err) and "\n" not in str(err)
        return
    teacher = domain.make_teacher(TeacherConfig())
    envs = [GymEpisodes(make_gym_env(task, max_steps=12)) for _ in range(2)]
    metrics = evaluate_teacher(teacher, envs, 2)
    assert 0 <= metrics[TEACHER_SUCCESS] <= 1 and 1 <= metrics["teacher_length"] <= 12
    stats = teacher.stats
    assert stats.hits + stats.unknown_texts > 0
    assert stats.unknown_texts == 0 or stats.fallbacks > 0
    # every verb over every object the texts name: describer, skills and path search
    num_actions = teacher.teacher.num_actions
    every = Recording(lambda t: dict.fromkeys(MINIGRID_GENERIC.candidate_plans(t), 1.0))
    player = TeacherTransform(Teacher(task, planner=every, num_actions=num_actions))
    evaluate_teacher(player, envs, 2)
    assert every.texts and player.stats.parse_failures == 0


def test_the_commands_take_a_standard_id(capsys):
    from llm4teach.cli import main

    main(["teacher", "--task", "BabyAI-GoToObj-v0", "--episodes", "2"])
    out = capsys.readouterr().out
    assert "BabyAI-GoToObj-v0" in out and "unknown_texts" in out and "Sampling" not in out
    main(["tasks"])
    assert f"MiniGrid-*/BabyAI-* id ({len(standard_ids())} installed: `llm4teach tasks --all` " \
        "lists them)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("task", ["BabyAI-GoToObj-v0", "MiniGrid-Dynamic-Obstacles-5x5-v0"])
def test_fit_trains_on_a_standard_id(task, in_tmp):
    """A tiny fit: the student over the env's own observation and action count."""
    from fit_args import tiny_fit_args

    from llm4teach.cli import main
    from llm4teach.training.checkpointing import load_checkpoint

    main(["fit", *tiny_fit_args(in_tmp, total_frames=128, **{"--data.task": task})])
    checkpoint = load_checkpoint(in_tmp / "run" / "checkpoints" / "last.ckpt")
    assert int(checkpoint["state_dict"]["frames"]) == 128
