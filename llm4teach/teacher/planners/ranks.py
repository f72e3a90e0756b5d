"""One LLM per DDP job: rank 0's planner answers the questions of every rank.

Under DDP every process builds its teacher, but only rank 0's planner runs the model;
the others send their unseen texts to rank 0 through the process group's key-value
store and wait for its distributions. A question is no collective: ranks ask at
different moments and as often as their own episodes need (and rank 0 alone evaluates
the teacher, answering itself). Rank 0 answers the waiting questions whenever its own
planner is asked, and in ``settle()``, which every rank calls at the same point after
each collection and which returns on rank 0 only once every rank has reached it.

Why it cannot deadlock: a rank asks only while collecting and reaches ``settle()``
with no collective in between, so every collective before that ``settle()`` (in the
same order on every rank) has already been joined by the asking rank; rank 0 passes
them and reaches the ``settle()``, where it answers until every rank arrives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count

import torch.distributed as dist

from llm4teach.teacher.planners.base import PlanDist, Planner, TeacherStats

POLL_S = 0.002  # seconds between two looks at the store while waiting
_INSTANCES = count()  # built in the same order on every rank: one key prefix per planner


def distributed() -> bool:
    """Whether this process is one of several of an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class RankSharedPlanner:
    """Wraps each rank's planner; only rank 0's is ever asked (so only it loads a model).

    ``stats`` are rank 0's planner's on rank 0 (hits, misses and model calls of the whole
    job) and the teacher's own on the other ranks, which count in ``received`` the
    distinct texts rank 0 answered for them. Whoever collects under DDP calls
    ``settle()`` on every rank at the same point, after each collection.
    """

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.asks_llm = planner.asks_llm
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        # the store every rank met through at start (Lightning's or torchrun's rendezvous)
        store = dist.distributed_c10d._get_default_store()
        self.store = dist.PrefixStore(f"llm4teach/planner/{next(_INSTANCES)}/", store)
        self.stats = planner.stats if self.rank == 0 else TeacherStats()
        self.received = 0
        self._settled = 0

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        if self.rank == 0:
            self._answer_waiting()
            return self.planner.plan(texts)
        unique = list(dict.fromkeys(texts))
        with _rank0_alive():
            self.store.set(f"ask/{self.rank}", json.dumps(unique))
            key = f"answer/{self.rank}"
            while not self.store.check([key]):
                time.sleep(POLL_S)
            reply = json.loads(self.store.get(key))
            self.store.delete_key(key)
        if "error" in reply:  # a bad setting stays a ValueError: one line, as on rank 0
            raise (ValueError if reply["bad_setting"] else RuntimeError)(
                f"rank 0's teacher: {reply['error']}")
        self.received += len(unique)
        answers = dict(zip(unique, reply["dists"], strict=True))
        return [answers[t] for t in texts]

    def settle(self) -> None:
        """The point every rank reaches after a collection: rank 0 answers until all have."""
        self._settled += 1
        if self.rank != 0:
            self.store.add("settled", 1)
            return
        target = (self.world_size - 1) * self._settled
        with _rank0_alive():  # the store may live in rank 0's process
            while True:
                self._answer_waiting()
                if self.store.add("settled", 0) >= target:  # none asks: each asked, then came
                    return
                time.sleep(POLL_S)

    def _answer_waiting(self) -> None:
        """Rank 0: answer the ranks whose question waits (each has at most one)."""
        asked = [r for r in range(1, self.world_size) if self.store.check([f"ask/{r}"])]
        for rank in asked:
            texts = json.loads(self.store.get(f"ask/{rank}"))
            self.store.delete_key(f"ask/{rank}")
            try:
                reply = {"dists": self.planner.plan(texts)}
            except Exception as err:  # the asking rank fails with rank 0's reason, then rank 0
                self.store.set(f"answer/{rank}", json.dumps(
                    {"error": str(err), "bad_setting": isinstance(err, ValueError)}))
                raise
            self.store.set(f"answer/{rank}", json.dumps(reply))


@contextmanager
def _rank0_alive() -> Iterator[None]:
    """A store that is gone (rank 0's process ended) is one line, not a traceback."""
    try:
        yield
    except dist.DistNetworkError:
        raise RuntimeError("the teacher's rank 0 stopped answering (its process ended): "
                           "its own error says why") from None


def share_across_ranks(planner: Planner) -> Planner:
    """``planner`` itself in one process; under DDP a ``RankSharedPlanner`` around it."""
    return RankSharedPlanner(planner) if distributed() else planner
