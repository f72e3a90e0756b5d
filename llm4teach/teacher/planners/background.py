"""An LLM planner answered on a worker thread, so that collection never waits on the model.

The collecting teacher ``poll``s: texts answered so far come back at once, new ones are
queued, and the worker asks the planner for up to ``BATCH`` queued texts at a time. A
text still pending has no answer yet (the teacher gives that step no opinion and counts
it); a later step of the same text gets the answer. ``plan`` waits for its texts (the
teacher's held-out evaluation, ``llm4teach teacher``). Every call into the wrapped planner
runs on the worker thread, so the model and the answer cache's sqlite connection are
used from one thread only; on two cores the model runs beside the envs and the update
(torch's kernels release Python's lock).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from llm4teach.teacher.planners.base import PlanDist, Planner

BATCH = 4  # texts per model call: an answer waits for its batch, a close for one batch


class BackgroundPlanner:
    """Wraps an LLM ``planner``; ``poll`` never blocks, ``plan`` waits for its answers.

    A failure of the planner (a bad model path, a dead server) is raised again, as it
    was, by the next ``poll`` or ``plan``. ``close`` lets the batch in flight finish (its
    answers reach the cache) and drops the queued texts.

    Example:
        >>> from llm4teach.domains.minigrid.grammar import MINIGRID
        >>> from llm4teach.teacher.planners import TablePlanner
        >>> table = {"states": {"Agent sees <key>, holds <nothing>.": {"go to <key>": 1.0}}}
        >>> worker = BackgroundPlanner(TablePlanner(table, MINIGRID))
        >>> worker.plan(["Agent sees <key>, holds <nothing>."])
        [{'go to <key>': 1.0}]
        >>> worker.close()
    """

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.asks_llm = planner.asks_llm
        self.stats = planner.stats
        self._answers: dict[str, PlanDist] = {}
        self._queued: dict[str, None] = {}  # an ordered set: first asked, first answered
        self._asking: list[str] = []  # the batch in flight
        self._setup()

    def _setup(self) -> None:
        self._ready = threading.Condition()
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None  # started on the first question

    def poll(self, texts: Sequence[str]) -> list[PlanDist | None]:
        """The answers known now, None for a text still pending (queued for the worker)."""
        with self._ready:
            self._ask(texts)
            return [self._answers.get(t) for t in texts]

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        """Every text's answer, waiting for the worker where it has none yet (its texts go
        ahead of those only polled for: someone is waiting on them)."""
        with self._ready:
            self._ask(texts, first=True)
            self._ready.wait_for(lambda: self._error is not None
                                 or all(t in self._answers for t in texts))
            self._raise()
            return [self._answers[t] for t in texts]

    def check(self) -> None:
        """Raise the worker's failure, if it had one (training checks after each rollout)."""
        with self._ready:
            self._raise()

    @property
    def failure(self) -> BaseException | None:
        """What stopped the worker, if anything did."""
        return self._error

    def close(self) -> None:
        """Stop the worker once the batch in flight is answered; queued texts are dropped."""
        with self._ready:
            self._closed = True
            self._queued.clear()
            self._ready.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _ask(self, texts: Sequence[str], first: bool = False) -> None:
        """Queue the texts not answered yet, at the front when ``first`` (the lock is held)."""
        self._raise()
        if self._closed:
            raise RuntimeError("the teacher's planner worker was closed")
        new = [t for t in texts if t not in self._answers and t not in self._asking
               and (first or t not in self._queued)]
        if not new:
            return
        if first:
            self._queued = {**dict.fromkeys(new), **self._queued}
        else:
            self._queued.update(dict.fromkeys(new))
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="llm4teach-planner",
                                            daemon=True)
            self._thread.start()
        self._ready.notify_all()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queued or self._closed)
                if self._closed:
                    return
                self._asking = batch = list(self._queued)[:BATCH]
                for text in batch:
                    del self._queued[text]
            try:
                dists = self.planner.plan(batch)
            except BaseException as err:  # noqa: BLE001 (raised again in the asking thread)
                with self._ready:
                    self._error = err
                    self._ready.notify_all()
                return
            with self._ready:
                self._answers.update(zip(batch, dists, strict=True))
                self._asking = []
                self._ready.notify_all()

    def __getstate__(self) -> dict[str, Any]:
        """The planner and the answers; a copy starts its own worker when first asked."""
        return {"planner": self.planner, "asks_llm": self.asks_llm, "stats": self.stats,
                "_answers": dict(self._answers),
                "_queued": dict.fromkeys([*self._asking, *self._queued]), "_asking": []}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()
