"""The ``table`` planner: the reference's recorded answer distributions, no model needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

from llm4teach.envs import resolve_task
from llm4teach.teacher.describe import abstract_colours, restore_colours
from llm4teach.teacher.planners.base import PlanDist, TeacherStats


def load_tables() -> dict[str, dict]:
    """Every packaged table by the task names it serves (its ``task`` and ``also_used_for``)."""
    tables: dict[str, dict] = {}
    for entry in (resources.files("llm4teach.teacher") / "plan_tables").iterdir():
        if entry.name.endswith(".json"):
            table = json.loads(entry.read_text(encoding="utf-8"))
            for task in (table["task"], *table.get("also_used_for", [])):
                tables[task] = table
    return tables


def table_for(task: str) -> dict:
    """The table of ``task``; standard MiniGrid DoorKey uses SimpleDoorKey's."""
    env_id = resolve_task(task)
    tables = load_tables()
    for name, table in tables.items():
        if f"/{name}-" in env_id:
            return table
    return tables["SimpleDoorKey"]


class TablePlanner:
    """Looks state texts up in the recorded table; plans come back verbatim (junk included).

    Colour words are abstracted to ``color1``/``color2`` before lookup and restored on
    the plans (the table's ``placeholders`` rule). Unknown texts are counted and get
    an empty distribution.

    Example:
        >>> planner = TablePlanner("SimpleDoorKey")
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])[0]["pick up <key>"]
        0.02
    """

    def __init__(self, task: str) -> None:
        self.task = task
        self.states: dict[str, PlanDist] = table_for(task)["states"]
        self.stats = TeacherStats()

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        out = []
        for text in texts:
            abstract, mapping = abstract_colours(text)
            dist = self.states.get(abstract)
            if dist is None:
                self.stats.unknown_texts += 1
                out.append({})
            else:
                self.stats.hits += 1
                out.append({restore_colours(p, mapping): q for p, q in dist.items()})
        return out
