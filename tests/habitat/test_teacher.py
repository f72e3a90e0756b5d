"""The Habitat teacher: describe, grammar, plan -> skill, its table, the TorchRL annotation."""

import numpy as np
import pytest
import torch
from helpers import planner_of, teacher_of
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import check_env_specs

from llm4teach.domains import resolve
from llm4teach.domains.habitat import SKILL_INDEX, SKILLS, SkillBatchEnv
from llm4teach.domains.habitat.teacher import HABITAT, SkillTeacher, describe, plan_skill
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.teacher.planners import TablePlanner

parse_plan = HABITAT.parse_plan

NOTHING = np.zeros(6, dtype=np.int64)


def scene(seen=(), held=None, faced=None):
    names = ("apple", "cup", "table", "sink")
    out = NOTHING.copy()
    for name in seen:
        out[names.index(name)] = 1
    out[4] = 0 if held is None else names.index(held) + 1
    out[5] = 0 if faced is None else names.index(faced) + 1
    return out


def test_describe_lists_seen_entities_and_the_held_one():
    assert describe(NOTHING) == "Agent sees <nothing>, holds <nothing>."
    assert describe(scene(("apple", "sink"), held="apple")) == (
        "Agent sees <sink>, holds <apple>.")
    assert describe(scene(("cup", "table"))) == "Agent sees <cup>, <table>, holds <nothing>."


def test_grammar_accepts_habitat_steps_only():
    assert parse_plan("navigate to <apple>, pick <apple>") == (
        ("navigate to", "apple"), ("pick", "apple"))
    assert parse_plan("explore") == (("explore", None),)
    assert parse_plan("pick up <cup>") is None
    assert parse_plan("navigate to <fridge>") is None


def test_first_unfinished_step_gives_the_skill():
    plan = parse_plan("navigate to <apple>, pick <apple>, navigate to <sink>, place on <sink>")
    assert SKILLS[plan_skill(plan, scene(("apple",)))] == "navigate to <apple>"
    assert SKILLS[plan_skill(plan, scene(("apple",), faced="apple"))] == "pick <apple>"
    assert plan_skill(plan, scene(("apple",), held="apple")) is None  # sink not seen
    assert SKILLS[plan_skill(plan, scene(("apple", "sink"), held="apple", faced="sink"))] == (
        "place on <sink>")
    assert plan_skill(None, scene()) is None


def test_the_habitat_table_serves_both_habitat_tasks():
    planner = teacher_of("TidyHabitat").planner
    assert isinstance(planner, TablePlanner) and len(planner.states) == 32
    assert planner.states == planner_of("TidyHabitatLab").states
    for dist in planner.states.values():
        assert abs(sum(dist.values()) - 1) < 1e-6
    known, unknown = planner.plan([describe(scene(("apple",))), "Agent sees <moon>."])
    assert known and unknown == {}
    assert (planner.stats.hits, planner.stats.unknown_texts) == (1, 1)


def test_parse_failures_are_counted_once_per_distinct_text():
    teacher = teacher_of("TidyHabitat")
    text = describe(scene(("cup",)))
    junk = sum(parse_plan(p) is None for p in teacher.planner.states[text])
    assert junk > 0  # the stand-in writes a step outside the grammar here
    teacher.act_probs(np.stack([scene(("cup",))] * 3))
    assert teacher.stats.parse_failures == junk


def test_soft_probs_mix_plans_and_mask_when_no_plan_acts():
    class OnePlan:
        stats = teacher_of("TidyHabitat").planner.stats

        def plan(self, texts):
            return [{"navigate to <sink>": 0.75, "explore": 0.25} for _ in texts]

    teacher = SkillTeacher(OnePlan())
    probs, mask = teacher.act_probs(np.stack([scene(("sink",)), scene()]))
    assert mask.tolist() == [True, True]
    np.testing.assert_allclose(probs[0, [SKILL_INDEX["navigate to <sink>"], 0]], [0.75, 0.25])
    np.testing.assert_allclose(probs[1, 0], 1.0)  # unseen sink: only explore acts

    class Nonsense(OnePlan):
        def plan(self, texts):
            return [{"fly to <moon>": 1.0} for _ in texts]

    probs, mask = SkillTeacher(Nonsense()).act_probs(scene()[None])
    assert not mask[0] and np.allclose(probs, 1 / len(SKILLS))


def test_hard_mode_is_one_hot_and_noop_fallback_is_refused():
    teacher = teacher_of("TidyHabitat", TeacherConfig(mode="hard", seed=0))
    probs, _ = teacher.act_probs(np.repeat(scene(("apple",))[None], 50, 0))
    assert set(np.unique(probs)) <= {0.0, 1.0} and (probs.sum(1) == 1).all()
    with pytest.raises(ValueError, match="no-op"):
        teacher_of("TidyHabitat", TeacherConfig(fallback="noop"))


def test_transform_annotates_rollouts():
    env = TransformedEnv(SkillBatchEnv(num_envs=2, seed=0, resolution=16),
                         TeacherTransform(teacher_of("TidyHabitat")))
    check_env_specs(env)
    td = env.rollout(5, break_when_any_done=False)
    assert td["teacher_probs"].shape == (2, 5, len(SKILLS))
    torch.testing.assert_close(td["teacher_probs"].sum(-1), torch.ones(2, 5))
    assert td["teacher_mask"].dtype == torch.bool
    probs, mask = teacher_of("TidyHabitat").act_probs(td["next", "scene"].reshape(-1, 6))
    torch.testing.assert_close(td["next", "teacher_probs"].reshape(-1, len(SKILLS)),
                               torch.from_numpy(probs))
    assert torch.equal(td["next", "teacher_mask"].reshape(-1), torch.from_numpy(mask))


def test_an_llm_teaches_the_tidy_up_task_with_its_prompt(tiny_llm, tmp_path):
    """A real causal LM, in-process, scores the Habitat candidate plans with ours prompt."""
    config = TeacherConfig(backend="hf", model=str(tiny_llm), cache_path=":memory:")
    teacher = resolve("TidyHabitat").make_teacher(config).teacher
    scenes = np.array([[0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0]])
    probs, mask = teacher.act_probs(scenes)
    assert mask.all() and np.allclose(probs.sum(1), 1.0)
    assert probs[0, SKILL_INDEX["explore"]] == 1.0  # nothing seen: explore is the only plan
    assert teacher.stats.model_calls > 0 and teacher.stats.parse_failures == 0
