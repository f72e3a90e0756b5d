"""Plan parsing: only grammar plans are accepted; random strings never raise."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm4teach.domains.minigrid.grammar import MINIGRID
from llm4teach.teacher.grammar import Grammar

parse_plan, parse_answer = MINIGRID.parse_plan, MINIGRID.parse_answer
format_plan, parse_weighted_answer = MINIGRID.format_plan, MINIGRID.parse_weighted_answer

OBJECTS = st.sampled_from(["key", "door", "door1", "door2", "blue key", "red door", "color1 key"])
STEPS = st.one_of(
    st.just("explore"),
    st.builds(lambda v, o: f"{v} <{o}>", st.sampled_from(["go to", "pick up", "drop", "open"]),
              OBJECTS),
)


def test_table_junk_does_not_parse():
    for junk in ["go to <door>, open <door> with <key>", "use <key>", "go to east",
                 "go to <door>, pick up <handle>, use <key>", "", "explore,", "eval('x')"]:
        assert parse_plan(junk) is None


def test_answers_end_with_action():
    answer = "The key is near.\nAction: {go to <key>, pick up <key>}."
    assert parse_answer(answer) == (("go to", "key"), ("pick up", "key"))
    assert parse_answer("I think we should explore") is None


def test_weighted_answers():
    plans, failures = parse_weighted_answer(
        "Action: go to <key>, pick up <key> | 0.6\nAction: explore | 0.4\nAction: use <key> | 1"
    )
    assert plans == {"go to <key>, pick up <key>": 0.6, "explore": 0.4}
    assert failures == 1


def test_candidates_parse():
    text = "Agent sees <red key>, <blue door>, holds <blue key>."
    assert all(parse_plan(c) is not None for c in MINIGRID.candidate_plans(text))


def test_a_grammar_without_candidates_refuses_the_logits_method():
    toy = Grammar("toy", verbs=("grab",), objects="ball")
    assert toy.parse_plan("grab <ball>, explore") == (("grab", "ball"), ("explore", None))
    with pytest.raises(ValueError, match="use teacher method sample or prompt"):
        toy.candidate_plans("Agent sees <ball>, holds <nothing>.")


@given(st.lists(STEPS, min_size=1, max_size=5))
def test_grammar_plans_round_trip(steps):
    plan = parse_plan(", ".join(steps))
    assert plan is not None and format_plan(plan) == ", ".join(steps)


@settings(max_examples=300)
@given(st.text())
def test_random_strings_never_raise_and_only_grammar_passes(text):
    plan = parse_plan(text)
    answer = parse_answer(text)
    parse_weighted_answer(text)
    for parsed in (plan, answer):
        if parsed is not None:
            assert parse_plan(format_plan(parsed)) == parsed
            assert all(v in ("explore", "go to", "pick up", "drop", "open") for v, _ in parsed)
