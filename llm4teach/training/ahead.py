"""Collection one rollout ahead, in a forked process, while the update runs on the other core.

The child is a fork of the fit taken once its collector exists: it holds copies of the
envs, the teacher transform, the collector and the student, and loads the weights it is
sent before each rollout. At an epoch's start it is re-seeded and reset exactly as the
in-process collector is (``reseed``); each rollout the fit receives sends the child the
weights of that moment for the next one. So rollout ``k + 1`` is collected with the weights
from before update ``k``: a lag of one update (none for an epoch's first rollout), at fixed
points, which keeps a run deterministic and each epoch a pure function of the seed, the
epoch and the weights it starts with: a resumed run equals the uninterrupted one. The
teacher's counters the child adds come back with each rollout.

At an epoch's end the child would idle while the fit evaluates: it plays the sampled
student's held-out episodes meanwhile, the fit the greedy one's (the same numbers as one
process playing both), and then collects the next epoch's first rollout, which the next
epoch takes if nothing it depends on changed at the evaluation (else it asks again).

Only where a fork is safe and pays: one process on the CPU and a teacher that does not ask
an LLM (an LLM's worker thread already takes the other core; CUDA does not survive a fork).
"""

from __future__ import annotations

import atexit
import multiprocessing
import pickle
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.collectors import Collector
from torchrl.envs import EnvBase

from llm4teach.domains.held_out import EpisodeEnv, play_student
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherTransform


def reseed(env: EnvBase, transform: TeacherTransform, collector: Collector, seed: int) -> None:
    """An epoch's start: torch's RNG, the envs, the teacher's plan draws (hard mode), a reset."""
    torch.manual_seed(seed)
    env.set_seed(seed)
    transform.teacher.seed(seed)
    collector.reset()


class AheadCollector:
    """Rollouts collected by a forked child, the next one while the fit trains on this one.

    ``epoch(seed, count)`` yields an epoch's ``count`` rollouts. While the fit evaluates,
    the child is idle: ``play_sampled`` has it play the held-out episodes of the sampled
    student (``held_out.Beside``) while the fit plays the greedy ones. A failure in the
    child (an env's) is raised in the fit as a ``ValueError`` naming it.

    Example:
        >>> from torchrl.envs import TransformedEnv
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.teacher import TeacherConfig
        >>> from llm4teach.training import PPOTeacherModule
        >>> from llm4teach.training.data import make_collector
        >>> domain = resolve("SimpleDoorKey")
        >>> teacher = domain.make_teacher(TeacherConfig())
        >>> env = TransformedEnv(domain.make_env(2, 0), teacher)
        >>> student = PPOTeacherModule(task="SimpleDoorKey").student
        >>> ahead = AheadCollector(env, teacher, make_collector(env, student, 16), student,
        ...                        domain.episode_envs)
        >>> [rollout["teacher_probs"].shape for rollout in ahead.epoch(seed=0, count=2)]
        [torch.Size([2, 8, 7]), torch.Size([2, 8, 7])]
        >>> sorted(ahead.play_sampled(episodes=2, seed=0)())
        ['length', 'return', 'success']
        >>> ahead.close()
    """

    def __init__(self, env: EnvBase, transform: TeacherTransform, collector: Collector,
                 student: ActorCritic, episode_envs: Callable[[int], Sequence[EpisodeEnv]],
                 drop: Sequence[str] = ()) -> None:
        """``drop``: keys the fit does not read (what only the teacher reads, and their
        ``next`` copies), left in the child instead of crossing the pipe."""
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self.transform, self.student = transform, student
        self._pending = 0  # rollouts asked for and not received (an epoch left early)
        self._next: int | None = None  # the next epoch's seed, to ask for with an evaluation
        self._early: tuple | None = None  # (seed, switch, weights) of a first rollout asked early
        self.early = self.late = 0  # epochs' first rollouts used as asked early / asked again
        self.played_cpu_s = 0.0  # the child's CPU seconds in play_sampled (``held_out.Beside``)
        self._process = context.Process(
            target=_serve, name="llm4teach-collector", daemon=True,
            args=(child_conn, self._conn, env, transform, collector, student, episode_envs,
                  [*drop, *(("next", key) for key in drop)]))
        self._process.start()
        child_conn.close()
        # before multiprocessing's own exit hook, which would wait on a child ignoring SIGTERM
        # (a fit stopped by a signal or an error ends without the data module's teardown)
        atexit.register(self.close)

    def epoch(self, seed: int, count: int) -> Iterator[TensorDictBase]:
        if self._asked_early(seed):
            self.early += 1
        else:
            self.late += self._early is not None
            self._drop_pending()
            self._ask_rollout(seed)
        self._next = self._early = None
        for i in range(count):
            rollout = self._rollout()
            if i + 1 < count:
                self._ask_rollout(None)  # the next one, with the weights before this update
            yield rollout

    def next_epoch(self, seed: int) -> None:
        """At an epoch's end: the next epoch (seeded ``seed``) may have its first rollout
        collected during this epoch's evaluation, after the sampled episodes. The next
        ``epoch`` takes it if its seed, the weights and the teacher's switch are still those
        it was asked with (the schedule may switch the teacher at the evaluation), and
        otherwise asks again: the same rollouts either way."""
        self._next = seed

    def play_sampled(self, episodes: int, seed: int) -> Callable[[], dict[str, float]]:
        self._drop_pending()
        self._send(("play", self._weights(), (episodes, seed)))
        if self._next is not None:  # the next epoch's first rollout, after the episodes
            weights = {k: v.copy() for k, v in self._weights().items()}
            self._early = (self._next, self.transform.enabled, weights)
            self._ask_rollout(self._next)
            self._next = None
        return self._played

    def _played(self) -> dict[str, float]:
        metrics, cpu_s = self._receive("played")
        self.played_cpu_s += cpu_s
        return metrics

    def close(self) -> None:
        """End the child: it sees the pipe close, between requests or at its next send."""
        atexit.unregister(self.close)
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.student.state_dict().items()}

    def _asked_early(self, seed: int) -> bool:
        if self._early is None:
            return False
        early_seed, enabled, weights = self._early
        return early_seed == seed and enabled == self.transform.enabled and all(
            np.array_equal(weights[k], v) for k, v in self._weights().items())

    def _ask_rollout(self, seed: int | None) -> None:
        self._send(("collect", self._weights(), (seed, self.transform.enabled)))
        self._pending += 1

    def _drop_pending(self) -> None:
        """Receive, unused, what an epoch left early had asked for (the teacher's counters
        count its work on it)."""
        while self._pending:
            self._rollout()

    def _rollout(self) -> TensorDictBase:
        (batch_size, arrays), counts = self._receive("rollout")
        self._pending -= 1
        stats = self.transform.stats
        for key, value in counts.items():
            setattr(stats, key, getattr(stats, key) + value)
        rollout = TensorDict(batch_size=batch_size)
        for key, array in arrays.items():
            rollout.set(key, torch.from_numpy(array))
        return rollout

    def _send(self, message: tuple) -> None:
        if not _send(self._conn, message):
            _gone()

    def _receive(self, kind: str) -> tuple:
        try:
            got, *payload = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            _gone()
        if got == "error":
            raise ValueError(f"the collector process failed: {payload[0]}")
        assert got == kind, f"asked for a {kind}, the collector process sent a {got}"
        return payload


def _gone() -> None:
    raise ValueError("the collector process ended without a word (killed?); run again, or "
                     "collect in the fit's process: --data.ahead false") from None


def _serve(conn: Connection, parent_conn: Connection, env: EnvBase, transform: TeacherTransform,
           collector: Collector, student: ActorCritic,
           episode_envs: Callable[[int], Sequence[EpisodeEnv]], drop: list) -> None:
    """The child: collect or play what is asked until the fit closes the pipe.

    Signals are the fit's to handle (it checkpoints and closes the pipe); the child ends
    when the pipe does, so it never outlives the fit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent_conn.close()  # the fit's end: the child sees EOF when the fit is gone
    torch.set_num_threads(1)
    stats = transform.stats
    last = stats.as_dict()
    while True:
        try:
            kind, weights, request = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the fit closed the pipe (mid-message: a reset)
            return
        try:
            student.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
            if kind == "play":
                episodes, seed = request
                start = time.process_time()
                metrics = play_student(student, episode_envs(episodes), episodes, sampled=True,
                                       seed=seed)
                reply = ("played", metrics, time.process_time() - start)
            else:
                seed, transform.enabled = request
                if seed is not None:
                    reseed(env, transform, collector, seed)
                rollout = collector.next().exclude(*drop)
                now = stats.as_dict()
                counts = {key: now[key] - last[key] for key in now}
                last = now
                arrays = {key: value.numpy() for key, value in rollout.items(True, True)}
                reply = ("rollout", (rollout.batch_size, arrays), counts)
        except Exception as error:  # noqa: BLE001 (told to the fit, which stops with it)
            _send(conn, ("error", f"{type(error).__name__}: {error}"))
            return
        if not _send(conn, reply):
            return


def _send(conn: Connection, message: tuple) -> bool:
    """Whether the other end is still there to receive ``message`` (arrays, not tensors: a
    tensor pickles through ``torch.save``, which is slower and may be someone's hook)."""
    try:
        conn.send_bytes(pickle.dumps(message, 5))
    except OSError:
        return False
    return True
