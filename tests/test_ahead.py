"""Collecting one rollout ahead in a forked process: the same rollouts as collecting in the
fit's process, each with the weights from one update before, the same held-out numbers with
the sampled episodes played there, and failures in one line."""

import multiprocessing
import os
import signal

import pytest
import torch
from tensordict import TensorDictBase
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_student, play_student
from llm4teach.teacher import TeacherConfig
from llm4teach.training import PPOTeacherModule
from llm4teach.training.ahead import AheadCollector, reseed
from llm4teach.training.data import make_collector
from llm4teach.training.module import Student

ENVS, STEPS = 4, 8


def parts(seed: int = 0, task: str = "SimpleDoorKey"):
    """Envs with their teacher, a collector, the student it acts with, held-out envs."""
    torch.manual_seed(seed)
    domain = resolve(task)
    transform = domain.make_teacher(TeacherConfig(mode="hard"))
    env = TransformedEnv(domain.make_env(ENVS, seed), transform)
    student = PPOTeacherModule(task=task, student=Student(channels=[4, 4, 4])).student
    return env, transform, make_collector(env, student, ENVS * STEPS), student, domain.episode_envs


def nudge(student: torch.nn.Module) -> None:
    """An update, as far as acting is concerned: every weight moves."""
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.5 * torch.randn_like(p))


def counters(transform) -> dict[str, float]:
    """The teacher's counts (not its timers)."""
    return {k: v for k, v in transform.stats.as_dict().items() if not k.endswith("seconds")}


def assert_same(a: TensorDictBase, b: TensorDictBase) -> None:
    assert set(a.keys(True, True)) == set(b.keys(True, True))
    for key in a.keys(True, True):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=str(key))


def test_rollouts_equal_in_process_ones_with_the_weights_of_one_update_before():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    weights, received = [], []
    try:
        for rollout in ahead.epoch(seed=7, count=4):
            received.append(rollout)
            weights.append({k: v.clone() for k, v in student.state_dict().items()})
            nudge(student)  # the update on this rollout, while the child collects the next
    finally:
        ahead.close()
    counts = counters(transform)

    env, transform, collector, student, episode_envs = parts()
    reseed(env, transform, collector, 7)
    # rollout k + 1 was asked for when rollout k arrived: with the weights before update k
    acting = [weights[0], weights[0], weights[1], weights[2]]
    for k, state in enumerate(acting):
        student.load_state_dict(state)
        assert_same(received[k], collector.next())
    collector.shutdown()
    assert counters(transform) == counts  # the child's counters came back


def test_a_switched_off_teacher_is_switched_off_in_the_child():
    env, transform, collector, student, episode_envs = parts()
    before = transform.stats.as_dict()
    # the child's copy is on
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    transform.enabled = False  # the schedule's switch, after the fork: sent with the request
    try:
        rollout = next(ahead.epoch(seed=0, count=1))
    finally:
        ahead.close()
    assert not rollout["teacher_mask"].any()
    assert transform.stats.as_dict() == before


def test_a_failure_in_the_child_is_one_line_in_the_fit():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    ahead.student = torch.nn.Linear(2, 2)  # weights the child's student cannot load
    with pytest.raises(ValueError, match=r"^the collector process failed: RuntimeError: .*"
                                         r"state_dict"):
        next(ahead.epoch(seed=0, count=2))
    ahead.close()
    assert not multiprocessing.active_children()


def test_a_killed_child_is_told_and_signals_are_left_to_the_fit():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    (child,) = multiprocessing.active_children()
    next(ahead.epoch(seed=0, count=1))  # the child is serving
    os.kill(child.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: the fit's
    os.kill(child.pid, signal.SIGTERM)
    assert next(ahead.epoch(seed=0, count=1)).batch_size == (ENVS, STEPS)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with pytest.raises(ValueError, match="^the collector process ended without a word .* "
                                         "--data.ahead false$"):
        next(ahead.epoch(seed=0, count=1))
    ahead.close()


def test_the_child_ends_with_the_pipe():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    (child,) = multiprocessing.active_children()
    ahead.close()
    assert child.exitcode == 0 and not multiprocessing.active_children()


def test_the_sampled_episodes_played_beside_give_the_numbers_of_one_process():
    # a room where an untrained student's episodes differ (no table teaches it: no matter here)
    with pytest.warns(UserWarning, match="no plan table"):
        env, transform, collector, student, episode_envs = parts(task="MiniGrid-Empty-5x5-v0")
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    forked = evaluate_student(student, episode_envs(6), 6, seed=3)  # the child's own weights
    nudge(student)  # after the fork: the child plays with these only if they are sent
    try:
        beside = evaluate_student(student, episode_envs(6), 6, seed=3, beside=ahead)
    finally:
        ahead.close()
    assert beside == evaluate_student(student, episode_envs(6), 6, seed=3)
    assert beside["student_sampled_length"] != forked["student_sampled_length"]


def test_an_epoch_left_early_leaves_nothing_behind():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs)
    try:
        first = next(ahead.epoch(seed=7, count=3))  # the fit stopped: one more was asked for
        played = ahead.play_sampled(episodes=4, seed=0)()
        again = next(ahead.epoch(seed=7, count=1))
    finally:
        ahead.close()
    assert played == play_student(student, episode_envs(4), 4, sampled=True, seed=0)
    # the collector's trajectory counter went on through the dropped rollout (nothing reads it)
    assert_same(first.exclude(("collector", "traj_ids")), again.exclude(("collector", "traj_ids")))


def test_keys_the_fit_does_not_read_stay_in_the_child():
    env, transform, collector, student, episode_envs = parts()
    ahead = AheadCollector(env, transform, collector, student, episode_envs, drop=["mission"])
    try:
        rollout = next(ahead.epoch(seed=7, count=1))
    finally:
        ahead.close()
    env, transform, collector, student, episode_envs = parts()
    reseed(env, transform, collector, 7)
    whole = collector.next()
    collector.shutdown()
    assert "mission" in whole and ("next", "mission") in whole.keys(True)
    assert_same(rollout, whole.exclude("mission", ("next", "mission")))


@pytest.mark.parametrize("change", ["nothing", "the teacher's switch", "the weights"])
def test_the_next_epochs_first_rollout_collected_during_the_evaluation_is_the_same(change):
    runs = []
    for early in (True, False):
        env, transform, collector, student, episode_envs = parts()
        ahead = AheadCollector(env, transform, collector, student, episode_envs)
        try:
            rollouts = []
            for rollout in ahead.epoch(seed=7, count=2):
                rollouts.append(rollout)
                nudge(student)
            if early:
                ahead.next_epoch(9)  # the epoch's end, before its evaluation
            ahead.play_sampled(episodes=2, seed=0)()
            played = ahead.played_cpu_s  # the evaluation's share: not what it collects after
            if change == "the teacher's switch":  # the schedule, after the evaluation
                transform.enabled = False
            elif change == "the weights":
                nudge(student)
            rollouts += list(ahead.epoch(seed=9, count=2))
        finally:
            ahead.close()
        assert ahead.played_cpu_s == played > 0
        runs.append((rollouts, counters(transform), (ahead.early, ahead.late)))
    (early_rollouts, early_counts, used), (rollouts, counts, _) = runs
    traj = ("collector", "traj_ids")  # went on through a dropped rollout (nothing reads it)
    for a, b in zip(early_rollouts, rollouts, strict=True):
        assert_same(a.exclude(traj), b.exclude(traj))
    if change == "nothing":
        assert used == (1, 0) and early_counts == counts
    else:  # asked again: the teacher's counters also count the rollout dropped
        assert used == (0, 1)
