"""What every planner shares: the batched interface and the counters it reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

PlanDist = dict[str, float]  # plan text -> probability (raw text; parsing happens later)


@dataclass
class TeacherStats:
    """Counters of one teacher: cache ``hits``/``misses``, answers that did not parse,
    LLM calls and seconds, texts the table does not know, and steps with no action."""

    hits: int = 0
    misses: int = 0
    parse_failures: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    unknown_texts: int = 0
    fallbacks: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Planner(Protocol):
    """Many state texts in, one ``{plan: probability}`` per text out.

    An empty dict means the planner has no usable plan for that text (the teacher
    then falls back).
    """

    stats: TeacherStats

    def plan(self, texts: Sequence[str]) -> list[PlanDist]: ...
