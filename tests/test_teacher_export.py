"""``llm4teach teacher export``: an LLM's answers written as a plan table that the table
backend replays with no model, over the same texts, with the same distributions."""

from __future__ import annotations

import json

import pytest
from helpers import planner_of, teacher_of

from llm4teach.cli import main
from llm4teach.domains import resolve
from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.export import play_episodes
from llm4teach.teacher.planners import TablePlanner
from llm4teach.teacher.planners.table import load_table

EPISODES = 3


@pytest.fixture(scope="module")
def paper_llm(tmp_path_factory):  # a chat model that answers in the paper's form
    return build_tiny_llm(tmp_path_factory.mktemp("paper_llm"), answer="Action: {explore}")


def export(tmp_path, task, model, *args):
    out = tmp_path / "tables" / "table.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    main(["teacher", "export", "--task", task, "--out", str(out), "--episodes", str(EPISODES),
          "--teacher.backend", "hf", "--teacher.model", str(model),
          "--teacher.cache_path", str(tmp_path / "plans.sqlite"), *args])
    return out


@pytest.mark.parametrize("task, policy", [("SimpleDoorKey", "teacher"),
                                          ("MiniGrid-DoorKey-5x5-v0", "random")])
def test_an_exported_table_replays_the_llm_with_no_model(task, policy, tiny_llm, tmp_path,
                                                         capsys):
    out = export(tmp_path, task, tiny_llm, "--policy", policy)
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.json"]  # no temp file left
    table = load_table(out)
    assert table["about"].startswith("LLM answers, not hand-written")
    assert (table["model"], table["method"], table["policy"]) == (str(tiny_llm), "logits", policy)
    domain = resolve(task)
    prompt = domain.prompt(None)
    assert table["prompt"] == {"name": "paper", "system": prompt["system"],
                               "instruction": prompt["logits"]}
    assert table["states"] and not table["no_plan"]  # logits always scores

    # the hf planner's answers for those texts, asked afresh (no cache)
    fresh = teacher_of(domain.task, TeacherConfig(backend="hf", model=str(tiny_llm),
                                               cache_path=":memory:")).planner
    texts = list(table["states"])
    for text, dist in zip(texts, fresh.plan(texts), strict=True):
        assert table["states"][text] == pytest.approx(dist, rel=1e-5, abs=1e-6)

    # the table teacher plays the export's episodes step for step: every text is known
    transform = domain.make_teacher(TeacherConfig(plans=str(out)))
    assert isinstance(transform.teacher.planner, TablePlanner)
    play_episodes(transform, domain.episode_envs(EPISODES), EPISODES, policy, seed=0)
    stats = transform.stats
    assert stats.model_calls == 0 and stats.unknown_texts == 0
    assert stats.hits == len(texts)

    main(["teacher", "--task", task, "--teacher.plans", str(out), "--episodes", "2"])
    assert "model_calls 0," in capsys.readouterr().out


def test_the_papers_answer_form_is_exported_and_no_plan_is_listed(paper_llm, tiny_llm,
                                                                    tmp_path):
    sample = ["--teacher.method", "sample", "--teacher.num_samples", "2",
              "--teacher.max_new_tokens", "8", "--policy", "random"]
    table = json.loads(export(tmp_path, "SimpleDoorKey", paper_llm, *sample).read_text())
    assert table["states"] and not table["no_plan"]
    assert all(dist == {"explore": 1.0} for dist in table["states"].values())
    assert table["settings"]["num_samples"] == 2

    junk = json.loads(export(tmp_path / "junk", "SimpleDoorKey", tiny_llm, *sample).read_text())
    assert junk["no_plan"] and not junk["states"]  # the random model's answers do not parse
    with pytest.raises(ValueError, match='"states" is empty: the table teaches nothing'):
        planner_of("SimpleDoorKey", TeacherConfig(plans=str(tmp_path / "junk/tables/table.json")))


@pytest.mark.parametrize("args, message", [
    (["--out", "t.json"], "set --teacher.backend hf or openai (got 'table'"),
    (["--out", "t.txt", "--teacher.backend", "hf", "--teacher.model", "m"],
     "must end with .json, .yaml or .yml"),
    (["--out", "no/such/t.json", "--teacher.backend", "hf", "--teacher.model", "m"],
     "folder no/such does not exist"),
    (["--out", "t.json", "--teacher.backend", "hf", "--teacher.model", "m", "--policy", "idle"],
     "policy"),
    (["--out", "t.json", "--teacher.backend", "hf", "--teacher.model", "m", "--seed", "-1"],
     "--seed must be an integer >= 0"),
    (["--episodes", "2"], "arguments are required: out"),
])
def test_export_errors_are_one_line(args, message, in_tmp):
    with pytest.raises(SystemExit) as exc:
        main(["teacher", "export", *args])
    assert isinstance(exc.value.code, str) and "\n" not in exc.value.code
    assert exc.value.code.startswith("llm4teach teacher export: error: ")
    assert message in exc.value.code
