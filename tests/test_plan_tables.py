"""Plan tables: a file a user brings (checked at load), packaged tables, tasks with none."""

import json

import pytest
import yaml
from helpers import planner_of

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_teacher
from llm4teach.domains.minigrid.domain import packaged_tables
from llm4teach.metrics import TEACHER_SUCCESS
from llm4teach.teacher import TeacherConfig

STATE = "Mission: go to the red ball. Agent sees <red ball>, holds <nothing>."


def write(path, table):
    path.write_text(json.dumps(table) if path.suffix == ".json" else yaml.safe_dump(table))
    return path


@pytest.mark.parametrize("name", ["mine.json", "mine.yaml", "mine.yml"])
def test_a_users_table_replaces_the_packaged_one(name, tmp_path):
    path = write(tmp_path / name, {"task": "anything", "extra": [1],
                                   "states": {STATE: {"go to <red ball>": 0.9, "explore": 0.1}}})
    planner = planner_of("SimpleDoorKey", TeacherConfig(plans=str(path)))
    known, unknown = planner.plan([STATE, "Agent sees <key>, holds <nothing>."])
    assert known == {"go to <red ball>": 0.9, "explore": 0.1} and unknown == {}
    assert (planner.stats.hits, planner.stats.unknown_texts) == (1, 1)


def test_placeholders_abstract_colours_in_a_users_table(tmp_path):
    abstract = "Mission: go to the color1 ball. Agent sees <color1 ball>, holds <nothing>."
    path = write(tmp_path / "t.json", {"placeholders": True,
                                       "states": {abstract: {"go to <color1 ball>": 1}}})
    blue = STATE.replace("red", "blue")
    planner = planner_of("BabyAI-GoToObj-v0", TeacherConfig(plans=str(path)))
    assert planner.plan([blue]) == [{"go to <blue ball>": 1}]


@pytest.mark.parametrize("table, message", [
    ([1, 2], "holds a list, not a mapping"),
    ({"task": "x"}, '"states" must be a mapping'),
    ({"states": {STATE: ["explore"]}}, "maps to a list, not {plan: probability}"),
    ({"states": {STATE: {"explore": -0.5}}}, "plan 'explore': the probability must be a finite"),
    ({"states": {STATE: {"explore": "0.5"}}}, "got '0.5'"),
    ({"states": {STATE: {"explore": float("nan")}}}, "got nan"),
    ({"states": {STATE: {"explore": True}}}, "got True"),
    ({"states": {STATE: {"explore": 0, "go to <goal>": 0.0}}}, "no plan with a probability > 0"),
])
def test_a_bad_table_is_one_error_naming_the_file_and_the_entry(table, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(table))
    with pytest.raises(ValueError, match="plan table .*bad.json") as err:
        planner_of("SimpleDoorKey", TeacherConfig(plans=str(path)))
    assert message in str(err.value) and "\n" not in str(err.value)
    if "probability" in message or "plan" in message:
        assert STATE in str(err.value)


@pytest.mark.parametrize("name, content, message", [
    ("t.txt", "{}", "must end with .json, .yaml or .yml"),
    ("t.json", "{oops", "is not valid JSON"),
    ("t.yaml", "a: [1", "is not valid YAML"),
    ("missing.json", None, "cannot be read"),
])
def test_an_unreadable_file_is_one_error_naming_it(name, content, message, tmp_path):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        planner_of("SimpleDoorKey", TeacherConfig(plans=str(tmp_path / name)))
    assert name in str(err.value) and "\n" not in str(err.value)


def test_a_task_without_a_table_gets_an_empty_one_and_aliases_keep_theirs():
    planner = planner_of("MiniGrid-Empty-5x5-v0")
    assert planner.states == {} and planner.plan([STATE]) == [{}]
    assert planner.stats.unknown_texts == 1
    assert planner_of("LavaDoorKey").states == planner_of("SimpleDoorKey").states
    assert planner_of("LLM4Teach/TwoDoor-v0").states == planner_of("twodoor").states
    assert planner_of("TidyHabitatLab").states == planner_of("TidyHabitat").states


HAND_WRITTEN = ["MiniGrid-DoorKey-8x8-v0", "BabyAI-GoToObj-v0", "BabyAI-KeyInBox-v0",
                "MiniGrid-UnlockPickup-v0"]


def test_the_hand_written_tables_say_so_and_serve_their_tasks():
    tables = packaged_tables()
    for task in HAND_WRITTEN:
        assert tables[task]["about"].startswith("Hand-written plan table, NOT LLM answers")
    assert planner_of("MiniGrid-DoorKey-5x5-v0").states == tables["MiniGrid-DoorKey-8x8-v0"][
        "states"]


@pytest.mark.parametrize("task, least", [(HAND_WRITTEN[0], 1.0), (HAND_WRITTEN[1], 1.0),
                                         (HAND_WRITTEN[2], 1.0), (HAND_WRITTEN[3], 0.5)])
def test_a_hand_written_table_knows_every_text_and_the_teacher_succeeds(task, least):
    """Held-out episodes (6): every text the teacher meets is in the table, but those after
    the success (UnlockPickup's "holds <box>", shown by an episode that has ended)."""
    domain = resolve(task)
    teacher = domain.make_teacher(TeacherConfig())
    metrics = evaluate_teacher(teacher, domain.episode_envs(6), 6)
    assert metrics[TEACHER_SUCCESS] >= least
    stats = teacher.stats
    assert stats.hits > 0 and stats.parse_failures == 0
    assert stats.unknown_texts == 0  # the running episodes only are asked about


def test_the_teacher_command_and_a_fit_take_a_users_table(tmp_path, capsys):
    from llm4teach.cli import main

    path = write(tmp_path / "goto.yaml", packaged_tables()["BabyAI-GoToObj-v0"])
    main(["teacher", "--task", "BabyAI-GoToObj-v0", "--teacher.plans", str(path),
          "--episodes", "3"])
    assert "success 100.0%" in capsys.readouterr().out
    bad = write(tmp_path / "bad.json", {"states": {STATE: {"explore": -1}}})
    with pytest.raises(SystemExit, match="plan table .*bad.json"):
        main(["teacher", "--task", "BabyAI-GoToObj-v0", "--teacher.plans", str(bad),
              "--episodes", "1"])


def test_a_table_file_with_another_backend_is_refused():
    with pytest.raises(ValueError, match="teacher plans .* set teacher backend table"):
        TeacherConfig(backend="hf", model="m", plans="my_table.yaml")
