"""What several test files share: a task's teacher and planner as its domain builds them,
and fake planners that answer without a table or a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llm4teach.domains import resolve
from llm4teach.teacher import PlanTeacher, TeacherConfig, TeacherStats
from llm4teach.teacher.planners import PlanDist, Planner


def teacher_of(task: str, config: TeacherConfig | None = None) -> PlanTeacher:
    """The teacher ``task``'s domain builds for ``config`` (default settings when None)."""
    return resolve(task).make_teacher(config or TeacherConfig()).teacher


def planner_of(task: str, config: TeacherConfig | None = None) -> Planner:
    """The planner of that teacher: the task's packaged table, a table file, an LLM..."""
    return teacher_of(task, config).planner


class FixedPlanner:
    """Answers every text with one plan: drives a skill sequence directly."""

    asks_llm = False

    def __init__(self, plan: str) -> None:
        self.plan_text, self.stats = plan, TeacherStats()

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        return [{self.plan_text: 1.0} for _ in texts]


class Recording:
    """Answers every text with ``plan(text)`` and records the texts it was asked."""

    asks_llm = False

    def __init__(self, plan: Callable[[str], PlanDist] = lambda text: {}) -> None:
        self.make, self.texts, self.stats = plan, [], TeacherStats()

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        self.texts += texts
        return [self.make(t) for t in texts]
