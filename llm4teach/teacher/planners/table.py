"""The ``table`` planner: recorded answer distributions (or a stand-in's), no model needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

from llm4teach.envs import resolve_task
from llm4teach.teacher.describe import abstract_colours, restore_colours
from llm4teach.teacher.planners.base import PlanDist, TeacherStats


def load_tables() -> dict[str, dict]:
    """Every packaged table by the task names it serves (its ``task`` and ``also_used_for``).

    A table file is ``{"task", "also_used_for"?, "about", "placeholders"?, "states":
    {state text: {plan: probability}}}`` in ``llm4teach/teacher/plan_tables/``.
    """
    tables: dict[str, dict] = {}
    for entry in (resources.files("llm4teach.teacher") / "plan_tables").iterdir():
        if entry.name.endswith(".json"):
            table = json.loads(entry.read_text(encoding="utf-8"))
            for task in (table["task"], *table.get("also_used_for", [])):
                tables[task] = table
    return tables


def table_for(task: str) -> dict:
    """The table serving ``task`` (a name a table lists, or a MiniGrid task name or id);
    standard MiniGrid DoorKey uses SimpleDoorKey's."""
    tables = load_tables()
    if task in tables:
        return tables[task]
    env_id = resolve_task(task)
    for name, table in tables.items():
        if f"/{name}-" in env_id:
            return table
    return tables["SimpleDoorKey"]


class TablePlanner:
    """Looks state texts up in the task's table; plans come back verbatim (junk included).

    A table with ``placeholders`` (ColoredDoorKey's) was recorded over abstract colours:
    colour words are replaced by ``color1``/``color2`` before lookup and restored on the
    plans (``abstract_colours``). A known text counts as a hit; an unknown one is
    counted in ``unknown_texts`` and gets an empty distribution.

    Example:
        >>> planner = TablePlanner("SimpleDoorKey")
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])[0]["pick up <key>"]
        0.02
    """

    def __init__(self, task: str) -> None:
        table = table_for(task)
        self.states: dict[str, PlanDist] = table["states"]
        self.abstract_colours = "placeholders" in table
        self.stats = TeacherStats()

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        out = []
        for text in texts:
            key, mapping = abstract_colours(text) if self.abstract_colours else (text, {})
            dist = self.states.get(key)
            if dist is None:
                self.stats.unknown_texts += 1
                out.append({})
            else:
                self.stats.hits += 1
                out.append({restore_colours(p, mapping): q for p, q in dist.items()})
        return out
