"""Planner backends behind one batched interface: state texts in, plan distributions out."""

from __future__ import annotations

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import MINIGRID, Grammar
from llm4teach.teacher.planners.base import PlanDist, Planner, TeacherStats
from llm4teach.teacher.planners.table import TablePlanner


def make_planner(task: str, config: TeacherConfig, grammar: Grammar = MINIGRID) -> Planner:
    """The planner ``config.backend`` names: ``task``'s table, or an LLM parsing with
    ``grammar`` (``hf`` loads its model lazily, on first use; ``openai`` asks a server)."""
    if config.backend == "table":
        return TablePlanner(task, config.plans)
    if config.backend == "openai":
        from llm4teach.teacher.planners.openai import OpenAIPlanner

        return OpenAIPlanner(task, config, grammar)
    from llm4teach.teacher.planners.hf import HFPlanner

    return HFPlanner(task, config, grammar)


__all__ = ["PlanDist", "Planner", "TablePlanner", "TeacherStats", "make_planner"]
