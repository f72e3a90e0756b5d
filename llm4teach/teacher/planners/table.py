"""The ``table`` planner: recorded (or hand-written) answer distributions, no model needed.

A table is ``{"task", "also_used_for"?, "about", "placeholders"?, "states": {state text:
{plan: probability}}}``. Each domain packages its own (``load_tables`` reads a folder of
them; the domain says which serves a task); a user brings one as a JSON or YAML file
(``TeacherConfig.plans``), used for any task, e.g.
one ``llm4teach teacher export`` wrote, which also records ``model``, ``revision``,
``method``, ``prompt``, ``settings``... Only ``states`` (and ``placeholders``) is read;
every other key is left to the people reading the file.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from llm4teach.teacher.config import TableSettings
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import (
    Placeholders,
    PlanDist,
    PlanSources,
    TeacherStats,
)

FORMAT = '{"task", "about", "states": {state text: {plan: probability}}}'
SUFFIXES = {".json": json.loads, ".yaml": yaml.safe_load, ".yml": yaml.safe_load}


def check_table(table: Any, source: str) -> dict:
    """``table`` itself when it has the table format; else one ValueError naming ``source``
    and the bad entry. Top-level keys other than ``states`` are free (``about``...)."""

    def bad(what: str) -> ValueError:
        return ValueError(f"plan table {source}: {what} (the format is {FORMAT})")

    if not isinstance(table, dict):
        raise bad(f"the file holds a {type(table).__name__}, not a mapping")
    states = table.get("states")
    if not isinstance(states, dict):
        raise bad('"states" must be a mapping of state text to {plan: probability}')
    for text, dist in states.items():
        if not isinstance(text, str):
            raise bad(f"state {text!r} is not a text")
        if not isinstance(dist, dict):
            raise bad(f"state {text!r} maps to a {type(dist).__name__}, not {{plan: probability}}")
        for plan, p in dist.items():
            number = isinstance(p, int | float) and not isinstance(p, bool)
            if not isinstance(plan, str) or not number or not math.isfinite(p) or p < 0:
                raise bad(f"state {text!r}, plan {plan!r}: the probability must be a finite "
                          f"number >= 0, got {p!r}")
        total = sum(dist.values())
        if not total > 0:
            raise bad(f"state {text!r} has no plan with a probability > 0")
        if not math.isfinite(total):
            raise bad(f"state {text!r}: its probabilities sum to {total} (they overflow): "
                      "write them as fractions of 1")
    if not states:
        raise bad('"states" is empty: the table teaches nothing')
    return table


def load_table(path: str | Path) -> dict:
    """A user's table file (``.json``, ``.yaml`` or ``.yml``), checked by ``check_table``."""
    path = Path(path)
    loads = SUFFIXES.get(path.suffix.lower())
    if loads is None:
        raise ValueError(f"plan table {path}: the file name must end with .json, .yaml or .yml")
    try:
        table = loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"plan table {path} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ValueError(f"plan table {path} is not UTF-8 text: write it as JSON or YAML "
                         "in UTF-8") from None
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"plan table {path} is not valid {path.suffix[1:].upper()}: "
                         f"{' '.join(str(err).split())}") from None
    return check_table(table, str(path))


def load_tables(folder: Traversable) -> dict[str, dict]:
    """Every table (``*.json``) of a packaged folder by the task names it serves (its
    ``task`` and ``also_used_for``), each checked by ``check_table``."""
    tables: dict[str, dict] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            table = check_table(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            for task in (table["task"], *table.get("also_used_for", [])):
                tables[task] = table
    return tables


class TablePlanner:
    """Looks state texts up in a table; plans come back verbatim (junk included).

    A table with ``placeholders`` (ColoredDoorKey's) was recorded over abstract words:
    the domain's ``placeholders`` replace them (MiniGrid's colours by ``color1``,
    ``color2``...) before lookup and restore them on the plans. A known text counts as a
    hit; an unknown one is counted in ``unknown_texts`` and gets an empty distribution.
    ``source`` names a user's table file, whose plans are checked against ``grammar``
    and whose texts against the task's (``check_matched``).

    Example:
        >>> table = {"states": {"Agent sees <key>, holds <nothing>.": {"explore": 1.0}}}
        >>> TablePlanner(table).plan(["Agent sees <key>, holds <nothing>."])
        [{'explore': 1.0}]
    """

    asks_llm = False

    def __init__(self, table: dict, grammar: Grammar | None = None,
                 placeholders: Placeholders | None = None, source: str | None = None) -> None:
        self.states: dict[str, PlanDist] = table["states"]
        self.placeholders = placeholders if table.get("placeholders") else None
        if table.get("placeholders") and placeholders is None:
            raise ValueError(f"plan table {source or table.get('task')}: placeholders is set, "
                             "and this task's texts have no words to abstract: drop it")
        self.stats = TeacherStats()
        self.source = source
        self.unknown_example: str | None = None
        if source is not None and grammar is not None:
            self._check_plans(grammar)

    @classmethod
    def build(cls, settings: TableSettings, grammar: Grammar, sources: PlanSources,
              seed: int) -> TablePlanner:
        """The table ``settings.plans`` names, else the task's packaged one (an empty one,
        every text unknown, when it has none)."""
        if settings.plans is not None:
            return cls(load_table(settings.plans), grammar, sources.placeholders,
                       source=settings.plans)
        table = sources.plan_table() or {"states": {}}
        return cls(table, grammar, sources.placeholders)

    def _check_plans(self, grammar: Grammar) -> None:
        """A user's table none of whose plans the domain's grammar reads is an error; one
        with some such plans a warning naming them (the fallback decides where they are
        drawn). Placeholders are read as the domain's example words."""
        plans = {p for dist in self.states.values() for p in dist}
        ph = self.placeholders
        outside = sorted(p for p in plans if grammar.parse_plan(
            ph.restore(p, ph.example) if ph else p) is None)
        where = (f"plan table {self.source}: {len(outside)} of its {len(plans)} plans are "
                 f"outside the {grammar.name} grammar (e.g. {outside[:1]!r})" if outside else "")
        if len(outside) == len(plans):
            raise ValueError(f"{where}, so it teaches nothing: write plans as the grammar's "
                             "steps (e.g. 'go to <key>, pick up <key>'; docs/teacher.md)")
        if outside:
            warnings.warn(f"{where}: the fallback decides where they are drawn", stacklevel=2)

    def check_matched(self, episodes: int) -> None:
        """After the teacher's held-out ``episodes``: a user's table that knew none of the
        texts the task produced teaches nothing, one ``ValueError`` naming it."""
        if self.source is not None and self.stats.hits == 0 and self.unknown_example:
            raise ValueError(
                f"plan table {self.source} knows none of the state texts the task produced in "
                f"{episodes} held-out episodes (e.g. {self.unknown_example!r}): record a table "
                "for this task (llm4teach teacher export), or write its texts as the task "
                "describes states")

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        out = []
        for text in texts:
            key, mapping = self.placeholders.abstract(text) if self.placeholders else (text, {})
            dist = self.states.get(key)
            if dist is None:
                self.stats.unknown_texts += 1
                self.unknown_example = self.unknown_example or text
                out.append({})
            else:
                self.stats.hits += 1
                out.append({self.placeholders.restore(p, mapping) if self.placeholders else p: q
                            for p, q in dist.items()})
        return out
