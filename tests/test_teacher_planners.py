"""Planners: the recorded table, the in-process hf methods, the persistent cache, errors."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import planner_of, teacher_of

from llm4teach.domains import resolve
from llm4teach.domains.minigrid.grammar import MINIGRID, MINIGRID_GENERIC
from llm4teach.domains.minigrid.tiny_llm import TEXTS, build_tiny_llm
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.planners.base import load_prompt, worked_answer


@pytest.fixture(scope="module")
def tiny_chat_llm(tmp_path_factory):
    return build_tiny_llm(tmp_path_factory.mktemp("tiny_chat_llm"), chat=True)


def hf(model, tmp_path, task="SimpleDoorKey", **kw):
    kw.setdefault("cache_path", str(tmp_path / "plans.sqlite"))
    return planner_of(task, TeacherConfig(backend="hf", model=str(model), num_samples=3,
                                         max_new_tokens=8, **kw))


def valid(dist):
    return not dist or (all(p >= 0 for p in dist.values()) and abs(sum(dist.values()) - 1) < 1e-5)


def test_table_planner_restores_colours_and_counts_unknown_texts():
    planner = planner_of("ColoredDoorKey")
    known, unknown = planner.plan(
        ["Agent sees <red key>, <blue key>, <blue door>, holds <nothing>.", "Agent sees <x>."]
    )
    assert known["go to <blue key>, pick up <blue key>"] == 0.72
    assert unknown == {} and planner.stats.unknown_texts == 1
    assert planner_of("LavaDoorKey").states == planner_of("SimpleDoorKey").states


def test_table_junk_plans_go_to_the_fallback():
    obs = np.zeros((6, 6, 4), dtype=np.uint8)
    obs[..., 0], obs[..., 3], obs[2, 2, 3] = 1, 4, 0
    obs[2, 2, :2] = (5, 0)  # holds a red key
    obs[5, 3, :3] = (4, 0, 2)  # sees a locked red door
    teacher = teacher_of("SimpleDoorKey", TeacherConfig(fallback="noop"))
    probs, _ = teacher.act_probs(obs[None])
    # "go to <door>, open <door> with <key>" (0.62) does not parse: its mass is "done".
    assert probs[0, 6] == pytest.approx(0.62, abs=1e-6)
    assert teacher.stats.parse_failures == 1  # counted once per distinct text
    teacher.act_probs(obs[None])
    assert teacher.stats.parse_failures == 1


@pytest.mark.parametrize("method", ["logits", "sample", "prompt"])
@pytest.mark.parametrize("chat", [False, True])
def test_hf_methods_give_valid_distributions(method, chat, tiny_llm, tiny_chat_llm, tmp_path):
    planner = hf(tiny_chat_llm if chat else tiny_llm, tmp_path, method=method)
    dists = planner.plan(TEXTS)
    assert len(dists) == len(TEXTS) and all(valid(d) for d in dists)
    if method == "logits":
        assert all(dists)  # the tiny random model's free text rarely parses; scores always do


def test_scripted_answers_are_parsed_and_garbage_counted(tiny_llm, tmp_path, monkeypatch):
    planner = hf(tiny_llm, tmp_path, method="sample")
    planner.load()
    answers = ["Action: explore", "Action: explore.", "Action: use <key>"]  # per text
    monkeypatch.setattr(planner, "samples", lambda text: answers)
    assert planner.plan(TEXTS)[0] == {"explore": 1.0}
    assert planner.stats.parse_failures == len(TEXTS)

    prompt = hf(tiny_llm, tmp_path / "p", method="prompt")
    prompt.load()
    weighted = "Action: explore | 1\nAction: go to <key>, pick up <key> | 3"
    monkeypatch.setattr(prompt, "generate", lambda contexts, sample, seed: [weighted, "gib"])
    good, bad = prompt.plan(TEXTS[:2])
    assert good == {"explore": 0.25, "go to <key>, pick up <key>": 0.75}
    assert bad == {} and prompt.stats.parse_failures == 1


def test_garbage_answers_fall_back_in_the_teacher(tiny_llm, tmp_path):
    config = TeacherConfig(backend="hf", model=str(tiny_llm), method="sample", num_samples=2,
                           max_new_tokens=4, cache_path=str(tmp_path / "c.sqlite"),
                           fallback="noop")
    teacher = teacher_of("SimpleDoorKey", config)
    obs = np.zeros((1, 6, 6, 4), dtype=np.uint8)
    obs[..., 0], obs[..., 3], obs[0, 2, 2, 3] = 1, 4, 0
    probs, mask = teacher.act_probs(obs)
    assert teacher.stats.parse_failures == 2 and probs[0, 6] == 1.0 and mask[0]


def full_forward_score(planner, text, plan):
    """The mean log-probability of ``plan`` (and the end of sequence) read in one pass over
    the whole context, as a model without a key/value cache would."""
    tok, model = planner.tokenizer, planner.model
    context = tok(planner._context(text, "logits") + "Action:")["input_ids"]
    answer = tok(" " + plan, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([context + answer])).logits[0].float()
    logp = torch.log_softmax(logits[len(context) - 1 : -1], -1)
    return logp.gather(-1, torch.tensor(answer)[:, None]).mean()


@pytest.mark.parametrize("chat", [False, True])
def test_logits_on_the_cached_prompt_equal_a_full_forward(chat, tiny_llm, tiny_chat_llm,
                                                           tmp_path):
    planner = hf(tiny_chat_llm if chat else tiny_llm, tmp_path, prompt="ours")
    planner.load()
    for text in TEXTS:
        plans = MINIGRID.candidate_plans(text)
        full = torch.stack([full_forward_score(planner, text, p) for p in plans])
        torch.testing.assert_close(planner.score(text, plans), full, rtol=1e-4, atol=1e-4)


def test_cache_hits_across_planners_and_processes(tiny_llm, tmp_path):
    first = hf(tiny_llm, tmp_path)
    answers = first.plan(TEXTS)
    assert first.stats.model_calls == len(TEXTS)
    second = hf(tiny_llm, tmp_path)
    assert second.plan(TEXTS + TEXTS[:1]) == answers + answers[:1]
    assert second.stats.model_calls == 0 and second.stats.hits == len(TEXTS)
    other = hf(tiny_llm, tmp_path, temperature=0.5)  # other settings: other answers
    other.plan(TEXTS[:1])
    assert other.stats.model_calls == 1
    code = (
        "from llm4teach.domains import resolve\n"
        "from llm4teach.teacher import TeacherConfig\n"
        f"c = TeacherConfig(backend='hf', model={str(tiny_llm)!r}, num_samples=3,"
        f" max_new_tokens=8, cache_path={str(tmp_path / 'plans.sqlite')!r})\n"
        "p = resolve('SimpleDoorKey').make_teacher(c).teacher.planner\n"
        f"p.plan({TEXTS!r})\n"
        "print(p.stats.model_calls)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="method must be one of sample, prompt, logits"):
        TeacherConfig(backend="hf", model="x", method="vibes")
    with pytest.raises(ValueError, match="needs a model"):
        TeacherConfig(backend="hf")
    with pytest.raises(ValueError, match="logits_norm must be one of mean, sum"):
        TeacherConfig(logits_norm="max")
    with pytest.raises(ValueError, match="does not exist"):
        hf(tmp_path / "missing", tmp_path).load()
    with pytest.raises(ValueError, match=r"prompt file \S+ cannot be read .*paper or ours.*"
                                         r"copy a packaged prompt"):
        hf("x", tmp_path, prompt=str(tmp_path / "nope.yaml"))
    (tmp_path / "half.yaml").write_text("system: hi\n")
    with pytest.raises(ValueError, match="lacks logits, prompt, sample"):
        hf("x", tmp_path, prompt=str(tmp_path / "half.yaml"))


PAPER_SIMPLEDOORKEY = ("In a locked 2D grid room, there is an agent whose task is to open the "
                       "door. The door can only be opened while agent holds the key.")


@pytest.mark.parametrize("task, opening, grammar", [
    ("SimpleDoorKey", PAPER_SIMPLEDOORKEY, MINIGRID),
    ("LLM4Teach/LavaDoorKey-v0", PAPER_SIMPLEDOORKEY, MINIGRID),
    ("twodoor", PAPER_SIMPLEDOORKEY, MINIGRID),
    ("ColoredDoorKey", "In a locked 2D grid room, agent can only open door while holding a key "
     "that matches color of door.", MINIGRID),
    ("MiniGrid-DoorKey-5x5-v0", "In a 2D grid world, there is an agent whose task is the "
     "mission the state begins with.", MINIGRID_GENERIC),
    ("BabyAI-GoToObj-v0", "In a 2D grid world", MINIGRID_GENERIC),
])
def test_the_paper_prompt_is_the_default_per_task(task, opening, grammar):
    domain = resolve(task)
    prompt = domain.prompt(None)
    assert prompt == domain.prompt("paper") and prompt["system"].startswith(opening)
    example = prompt["system"].split("Example:")[1]  # one worked example, in the grammar
    assert "1. What agent sees and holds:" in example
    assert grammar.parse_answer(example) is not None and "{" in example.split("Action:")[1]
    assert domain.prompt("ours")["system"].startswith("You are a planner")


def test_a_prompt_file_is_copied_and_edited(tmp_path):
    paper = resolve("SimpleDoorKey").prompt("paper")
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({k: v.replace("open the door", "open the red door")
                                    for k, v in paper.items()}))
    assert "open the red door" in resolve("SimpleDoorKey").prompt(str(mine))["system"]
    assert load_prompt(mine) == resolve("TidyHabitat").prompt(str(mine))
    with pytest.raises(ValueError, match="paper's prompt for TidyHabitat is not published: "
                                         "set teacher prompt to ours"):
        resolve("TidyHabitat").prompt("paper")


def test_the_prompt_is_sent_and_keys_the_cache(tiny_llm, tmp_path):
    paper = hf(tiny_llm, tmp_path, method="sample")
    message = paper.instruction(TEXTS[1], "sample")
    assert message == f"{paper.prompt['sample']}\nState: {TEXTS[1]}"
    assert paper.plain_context(TEXTS[1], "sample").startswith(PAPER_SIMPLEDOORKEY)
    answers = ["1. What agent sees and holds: Agent sees key and door, holds nothing.\n"
               "2. What should the agent do: get the key, then open the door.\n"
               "3. Action: {go to <key>, pick up <key>, go to <door>, open <door>} \n.",
               "Actions: {explore}. Nothing else to do.", "Action: explore"]
    plan = "go to <key>, pick up <key>, go to <door>, open <door>"
    assert paper.sample_dist(answers) == {plan: 1 / 3, "explore": 2 / 3}
    weighted = "3. Action: {explore} | 0.25\nAction: {" + plan + "} | 0.75"
    assert paper.weighted_dist(weighted) == {"explore": 0.25, plan: 0.75}
    first = hf(tiny_llm, tmp_path)
    first.plan(TEXTS[:1])
    ours = hf(tiny_llm, tmp_path, prompt="ours")  # the same cache, another prompt
    ours.plan(TEXTS[:1])
    assert first.stats.model_calls == ours.stats.model_calls == 1
    assert hf(tiny_llm, tmp_path, prompt="paper").plan(TEXTS[:1]) == first.plan(TEXTS[:1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA can use it")
def test_cuda_without_cuda_is_one_line(tiny_llm, tmp_path):
    with pytest.raises(ValueError, match="use --data.teacher.device cpu"):
        hf(tiny_llm, tmp_path, device="cuda").load()
    with pytest.raises(ValueError, match="not a torch device"):
        hf(tiny_llm, tmp_path, device="gpu0").load()


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "unreachable"])
def test_offline_hub_fails_fast_with_the_download_command(offline, tmp_path, monkeypatch):
    import huggingface_hub.constants

    if offline == "HF_HUB_OFFLINE":
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    else:  # a hub that refuses connections: a closed port here, no network used
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"not reachable .*`hf download nobody/no-such-model"):
        hf("nobody/no-such-model", tmp_path).load()
    assert time.perf_counter() - start < 5  # not a minute of retries
    assert (Path(sys.executable).parent / "hf").exists()  # the command the hint names


def test_logits_are_length_normalised(tiny_llm, tmp_path):
    mean, total = hf(tiny_llm, tmp_path), hf(tiny_llm, tmp_path, logits_norm="sum")
    mean.load()
    plans = ["explore", "go to <key>, pick up <key>, go to <door>, open <door>"]
    tokens = torch.tensor([len(mean.tokenizer(" " + c, add_special_tokens=False)["input_ids"]) + 1
                           for c in plans])  # the plan's tokens and the end of sequence
    torch.testing.assert_close(mean.score(TEXTS[1], plans) * tokens,
                               total.score(TEXTS[1], plans))
    mean.plan(TEXTS[:1])
    total.plan(TEXTS[:1])
    assert total.stats.model_calls == 1  # the norm is part of the cache key


def test_answers_without_a_plan_are_cached_and_counted(tiny_llm, tmp_path, monkeypatch):
    planner = hf(tiny_llm, tmp_path, method="sample")
    monkeypatch.setattr(planner, "samples", lambda text: ["", "nonsense", "Action: use <key>"])
    assert planner.plan(TEXTS[:1]) == [{}]
    assert planner.stats.parse_failures == 3 and planner.stats.no_plan == 1
    again = hf(tiny_llm, tmp_path, method="sample")  # the same settings would answer the same
    assert again.plan(TEXTS[:1]) == [{}] and again.stats.model_calls == 0


def test_samples_are_drawn_per_text_and_reproducible(tiny_chat_llm, tmp_path):
    first, second = (hf(tiny_chat_llm, tmp_path / str(i), method="sample") for i in (0, 1))
    alone = first.samples(TEXTS[0])
    second.samples(TEXTS[1])  # another text asked first: no shared stream
    assert second.samples(TEXTS[0]) == alone
    assert len(alone) == 3 and len(set(alone)) > 1  # independent draws of one text
    assert alone != first.samples(TEXTS[1])
    other_seed = hf(tiny_chat_llm, tmp_path / "2", method="sample", seed=1)
    assert other_seed.samples(TEXTS[0]) != alone


def test_the_answer_length_follows_the_prompt(tiny_llm, tmp_path):
    paper = planner_of("SimpleDoorKey", TeacherConfig(backend="hf", model=str(tiny_llm),
                                                     method="sample", cache_path=":memory:"))
    worked = paper.count_tokens(worked_answer(paper.prompt["system"]))
    assert "3. Action: {go to <key>, pick up <key>}" in worked_answer(paper.prompt["system"])
    assert paper.max_new_tokens >= 2 * worked
    with pytest.warns(UserWarning, match=f"max_new_tokens 8 is shorter than the prompt's "
                                         f"worked answer \\({worked} tokens\\)"):
        hf(tiny_llm, tmp_path, method="sample").load()


def test_prompt_parsing_is_linear_and_rejects_non_finite_weights(tiny_llm, tmp_path):
    planner = hf(tiny_llm, tmp_path, method="prompt")
    slow = [" " * 1000, "Action:" + " " * 1000 + "x", "Action: explore |" + " " * 1000 + "x",
            "Action: explore | " + "1" * 1000 + "x"]
    for answer in slow:
        start = time.perf_counter()
        assert planner.weighted_dist(answer) == {}
        assert time.perf_counter() - start < 0.01, repr(answer[:20])
    huge = "Action: explore | " + "9" * 400 + "\nAction: pick up <key> | 2"  # 9...9 is inf
    assert planner.weighted_dist(huge) == {"pick up <key>": 1.0}


def test_large_model_settings(tiny_llm, tmp_path):
    planner = hf(tiny_llm, tmp_path, device_map="auto", max_memory={"cpu": "1GiB"},
                 attn_implementation="sdpa")
    assert all(planner.plan(TEXTS[:2]))  # placed by accelerate; logits always score
    if not torch.cuda.is_available():
        for bits in ("4bit", "8bit"):
            with pytest.raises(ValueError, match=f"quantization {bits} .*CUDA GPU.*use "
                               "quantization null"):
                hf(tiny_llm, tmp_path, quantization=bits).load()
    with pytest.raises(ValueError, match="quantization must be 4bit, 8bit or null"):
        TeacherConfig(quantization="3bit")
    with pytest.raises(ValueError, match="max_memory bounds a device_map"):
        TeacherConfig(max_memory={"cpu": "1GiB"})
