"""Planner backends behind one batched interface: state texts in, plan distributions out."""

from __future__ import annotations

from llm4teach.domains.minigrid.grammar import MINIGRID
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import PlanDist, Planner, TeacherStats
from llm4teach.teacher.planners.ranks import RankSharedPlanner, share_across_ranks
from llm4teach.teacher.planners.table import TablePlanner


def make_planner(task: str, config: TeacherConfig, grammar: Grammar = MINIGRID) -> Planner:
    """The planner ``config.backend`` names: ``task``'s table, or an LLM parsing with
    ``grammar`` (``hf`` loads its model lazily, on first use, and under DDP on rank 0 only,
    which answers every rank; ``openai`` asks a server)."""
    if config.backend == "table":
        return TablePlanner(task, config.plans, grammar)
    if config.backend == "openai":
        from llm4teach.teacher.planners.openai import OpenAIPlanner

        return OpenAIPlanner(task, config, grammar)
    from llm4teach.teacher.planners.hf import HFPlanner

    return share_across_ranks(HFPlanner(task, config, grammar))


__all__ = ["PlanDist", "Planner", "RankSharedPlanner", "TablePlanner", "TeacherStats",
           "make_planner"]
