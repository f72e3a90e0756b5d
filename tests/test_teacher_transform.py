"""TeacherTransform in TorchRL envs and collectors; the teacher played by an evaluation."""

import pickle

import numpy as np
import pytest
import torch
from helpers import teacher_of
from torchrl.collectors import Collector, MultiSyncCollector
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import check_env_specs

from llm4teach.domains.minigrid import Scene, make_env
from llm4teach.domains.minigrid.grammar import MINIGRID
from llm4teach.domains.minigrid.interpret import PENDING, first_action
from llm4teach.domains.minigrid.skills import FINISHED, FORWARD, LEFT, PICKUP, UNREACHABLE
from llm4teach.teacher import TeacherConfig, TeacherTransform


def teacher_env(task="SimpleDoorKey", num_envs=4, **config):
    transform = TeacherTransform(teacher_of(task, TeacherConfig(**config)))
    return TransformedEnv(make_env(task, num_envs=num_envs, seed=0), transform)


def create_env():
    return teacher_env(num_envs=2)


@pytest.mark.parametrize("task", ["SimpleDoorKey", "ColoredDoorKey", "TwoDoor"])
def test_specs_and_rollout(task):
    env = teacher_env(task, fallback="mask")
    check_env_specs(env)
    td = env.rollout(5)
    probs, mask = td["teacher_probs"], td["teacher_mask"]
    assert probs.shape == (4, 5, 7) and probs.dtype == torch.float32
    assert mask.shape == (4, 5) and mask.dtype == torch.bool
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 5))
    assert td["next", "teacher_probs"].shape == (4, 5, 7)


def test_disabled_is_uniform_and_masked():
    env = teacher_env()
    env.transform.enabled = False
    td = env.rollout(3)
    assert not td["teacher_mask"].any()
    torch.testing.assert_close(td["teacher_probs"], torch.full((4, 3, 7), 1 / 7))
    assert env.transform.stats.as_dict()["hits"] == 0


def test_partial_resets_reset_only_those_envs(monkeypatch):
    env = teacher_env("TwoDoor", num_envs=3)
    calls = []
    teacher = env.transform.teacher
    real = teacher.reset
    monkeypatch.setattr(teacher, "reset", lambda indices=None: (calls.append(indices),
                                                              real(indices)))
    env.reset()
    reset = torch.tensor([[False], [True], [False]])
    env.reset(env.reset().set("_reset", reset))
    assert calls[0] is None and calls[-1] == [1]


def test_planner_is_asked_once_per_new_text():
    env = teacher_env(num_envs=8)
    env.rollout(20, break_when_any_done=False)
    stats = env.transform.stats.as_dict()
    assert 0 < stats["hits"] + stats["unknown_texts"] <= 6  # SimpleDoorKey has 6 texts


def test_collector_rollout_and_pickling():
    fresh = TeacherTransform(teacher_of("SimpleDoorKey", TeacherConfig(mode="hard")))
    assert pickle.loads(pickle.dumps(fresh)).teacher.config.mode == "hard"
    env = teacher_env()
    collector = Collector(env, policy=None, frames_per_batch=40, total_frames=80)
    for batch in collector:
        assert batch["teacher_probs"].shape == (*batch.batch_size, 7)
        assert batch["teacher_mask"].shape == batch.batch_size
    collector.shutdown()


@pytest.mark.slow
def test_multisync_collector_workers():
    collector = MultiSyncCollector(
        [create_env, create_env], policy=None, frames_per_batch=40, total_frames=80
    )
    for batch in collector:
        assert batch["teacher_probs"].shape[-1] == 7 and batch["teacher_mask"].dtype == torch.bool
    collector.shutdown()


@pytest.mark.parametrize("task", ["SimpleDoorKey", "TwoDoor"])
def test_a_full_memo_is_emptied_without_changing_answers(task):
    rollout = make_env(task, num_envs=6, seed=3).rollout(40, break_when_any_done=False)
    obs, done = rollout["observation"], rollout["next", "done"].squeeze(-1)
    small, large = teacher_of(task), teacher_of(task)
    small.memo_limit = 5
    for t in range(obs.shape[1]):
        if t and done[:, t - 1].any():
            ended = done[:, t - 1].nonzero()[:, 0].tolist()
            small.reset(ended)
            large.reset(ended)
        probs_small, mask_small = small.act_probs(obs[:, t])
        probs_large, mask_large = large.act_probs(obs[:, t])
        np.testing.assert_array_equal(probs_small, probs_large)
        np.testing.assert_array_equal(mask_small, mask_large)


def test_an_evaluation_fork_leaves_the_training_teacher_as_it_was():
    # TwoDoor (per-env door numbers) in hard mode (a random stream): both could be disturbed
    rollout = make_env("TwoDoor", num_envs=4, seed=1).rollout(30, break_when_any_done=False)
    obs, done = rollout["observation"], rollout["next", "done"].squeeze(-1)
    other = make_env("TwoDoor", num_envs=4, seed=2).rollout(30)["observation"]
    config = TeacherConfig(mode="hard")
    alone, played = teacher_of("TwoDoor", config), teacher_of("TwoDoor", config)
    player, rng = played.fork(), np.random.default_rng(7)
    for t in range(obs.shape[1]):
        if t and done[:, t - 1].any():
            ended = done[:, t - 1].nonzero()[:, 0].tolist()
            alone.reset(ended)
            played.reset(ended)
        player.sample_actions(other[:, t % other.shape[1]], rng)
        for a, b in zip(alone.act_probs(obs[:, t]), played.act_probs(obs[:, t]), strict=True):
            np.testing.assert_array_equal(a, b)
    assert player.stats is played.stats and player.planner is played.planner
    again = played.fork().sample_actions(other[:, 0], np.random.default_rng(7))
    np.testing.assert_array_equal(again, played.fork().sample_actions(other[:, 0],
                                                                      np.random.default_rng(7)))


def test_first_action_asks_for_every_search_it_can_need_in_one_pass():
    obs = np.zeros((6, 6, 4), dtype=np.uint8)
    obs[..., 3], obs[1, 1, 3] = 4, 0  # the agent at (1, 1) facing east
    scene = Scene("Agent sees <key>, holds <nothing>.", {"key": ((4, 4),)})
    asked = []

    def pending(obj):
        asked.append(obj)
        return PENDING

    plan = MINIGRID.parse_plan("explore, go to <key>, pick up <key>")
    first_action(plan, scene, obs, pending)
    assert asked == [None, "key"]  # explore may be finished: the go-to is asked for too
    assert first_action(plan, scene, obs, {None: UNREACHABLE, "key": FORWARD}.get) == FORWARD
    assert first_action(plan, scene, obs, {None: FINISHED, "key": FINISHED}.get) == PICKUP
    assert first_action(plan, scene, obs, {None: LEFT}.get) == LEFT
