"""Planner backends behind one batched interface: state texts in, plan distributions out.

Which class plans is the chosen backend's settings' (``TeacherConfig.settings()``, whose
``planner`` is a class path); each class's ``build`` makes it from those settings, the
domain's grammar and what the domain hands it (``PlanSources``: its table, its prompts).
"""

from __future__ import annotations

import importlib

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import (
    Placeholders,
    PlanDist,
    Planner,
    PlanSources,
    TeacherStats,
)
from llm4teach.teacher.planners.ranks import RankSharedPlanner
from llm4teach.teacher.planners.table import TablePlanner


def make_planner(config: TeacherConfig, grammar: Grammar, sources: PlanSources) -> Planner:
    """The planner of ``config``'s backend, parsing with ``grammar``, over the table or
    prompt ``sources`` holds (``hf`` loads its model lazily, on first use, and under DDP on
    rank 0 only, which answers every rank; ``openai`` asks a server)."""
    settings = config.settings()
    module, name = type(settings).planner.rsplit(".", 1)
    planner = getattr(importlib.import_module(module), name)
    return planner.build(settings, grammar, sources, config.seed)


__all__ = ["PlanDist", "PlanSources", "Placeholders", "Planner", "RankSharedPlanner",
           "TablePlanner", "TeacherStats", "make_planner"]
