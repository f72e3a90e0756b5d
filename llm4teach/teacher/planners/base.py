"""What every planner shares: the batched interface and the counters it reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

PlanDist = dict[str, float]  # plan text -> probability (raw text; parsing happens later)


@dataclass
class TeacherStats:
    """Counters of one teacher (and its forks), the same in every domain.

    - ``hits``: distinct state texts a planner answered without the model (a table's
      recorded state; an answer in the ``hf`` cache).
    - ``misses``: texts the ``hf`` planner had to send to the model.
    - ``parse_failures``: plans outside the domain's grammar, counted where they are
      parsed: a model answer (``sample``) or answer line (``prompt``) in the ``hf``
      planner, and a plan of a planner's distribution (a table's verbatim junk) in the
      teacher, once per distinct text.
    - ``model_calls``, ``model_seconds``: texts the model planned for and the time it took.
    - ``unknown_texts``: texts a table has no entry for (they get no plan).
    - ``fallbacks``: annotated steps where no plan gave an action (soft: no plan of the
      distribution acts; hard: the sampled one does not), so the fallback decides.
    """

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
