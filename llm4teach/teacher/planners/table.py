"""The ``table`` planner: recorded (or hand-written) answer distributions, no model needed.

A table is ``{"task", "also_used_for"?, "about", "placeholders"?, "states": {state text:
{plan: probability}}}``. The packaged ones live in ``llm4teach/domains/minigrid/plan_tables/``; a
user brings one as a JSON or YAML file (``TeacherConfig.plans``), used for any task, e.g.
one ``llm4teach teacher export`` wrote, which also records ``model``, ``revision``,
``method``, ``prompt``, ``settings``... Only ``states`` (and ``placeholders``) is read;
every other key is left to the people reading the file.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from minigrid.core.constants import COLOR_NAMES

from llm4teach.domains.minigrid import resolve_task
from llm4teach.domains.minigrid.describe import abstract_colours, restore_colours
from llm4teach.domains.minigrid.registry import UnknownTaskError
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import PlanDist, TeacherStats

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


@functools.cache  # read and checked once per process, not once per teacher (evaluation, forks)
def load_tables() -> dict[str, dict]:
    """Every packaged table by the task names it serves (its ``task`` and ``also_used_for``)."""
    tables: dict[str, dict] = {}
    folders = (resources.files(f"llm4teach.domains.{family}") / "plan_tables"
               for family in ("minigrid", "habitat"))
    for entry in (entry for folder in folders for entry in folder.iterdir()):
        if entry.name.endswith(".json"):
            table = check_table(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            for task in (table["task"], *table.get("also_used_for", [])):
                tables[task] = table
    return tables


def table_for(task: str) -> dict:
    """The packaged table serving ``task`` (a name or id a table lists, or another name of
    the same env); an empty table (every text unknown) when none does."""
    tables = load_tables()
    if task in tables:
        return tables[task]
    try:
        env_id = resolve_task(task)
    except UnknownTaskError:
        env_id = None
    for name, table in tables.items():
        try:
            if env_id is not None and resolve_task(name) == env_id:
                return table
        except UnknownTaskError:
            continue  # a table of another domain (TidyHabitat)
    return {"task": task, "about": NO_TABLE, "states": {}}


NO_TABLE = "no packaged table: every state text is unknown"


def has_table(task: str) -> bool:
    """Whether a packaged table teaches ``task`` (else every step of a table teacher falls
    back: the run learns from the reward alone)."""
    return table_for(task).get("about") != NO_TABLE


class TablePlanner:
    """Looks state texts up in a table; plans come back verbatim (junk included).

    The table is the file ``plans`` names when given, else ``task``'s packaged one. A
    table with ``placeholders`` (ColoredDoorKey's) was recorded over abstract colours:
    colour words are replaced by ``color1``/``color2`` before lookup and restored on the
    plans (``abstract_colours``). A known text counts as a hit; an unknown one is
    counted in ``unknown_texts`` and gets an empty distribution.

    Example:
        >>> planner = TablePlanner("SimpleDoorKey")
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])[0]["pick up <key>"]
        0.02
    """

    def __init__(self, task: str, plans: str | Path | None = None,
                 grammar: Grammar | None = None) -> None:
        table = table_for(task) if plans is None else load_table(plans)
        if plans is None and not has_table(task):
            warnings.warn(
                f"no plan table teaches {task}: every step falls back and the student learns "
                "from the reward alone. Give it an LLM (--data.teacher.backend hf "
                "--data.teacher.model smollm2), a table file (--data.teacher.plans FILE; "
                f"`llm4teach teacher texts --task {task}` lists its state texts), or train "
                "without a teacher (--schedule NoTeacher)", stacklevel=2)
        self.states: dict[str, PlanDist] = table["states"]
        self.abstract_colours = bool(table.get("placeholders"))
        self.stats = TeacherStats()
        self.source = plans  # a user's table, checked against the task it teaches
        self.unknown_example: str | None = None
        if plans is not None and grammar is not None:
            self._check_plans(grammar)

    def _check_plans(self, grammar: Grammar) -> None:
        """A user's table none of whose plans the domain's grammar reads is an error; one
        with some such plans a warning naming them (the fallback decides where they are
        drawn). Placeholders are read as colours."""
        colours = {f"color{i + 1}": c for i, c in enumerate(COLOR_NAMES)}
        plans = {p for dist in self.states.values() for p in dist}
        outside = sorted(p for p in plans if grammar.parse_plan(
            restore_colours(p, colours) if self.abstract_colours else p) is None)
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
            key, mapping = abstract_colours(text) if self.abstract_colours else (text, {})
            dist = self.states.get(key)
            if dist is None:
                self.stats.unknown_texts += 1
                self.unknown_example = self.unknown_example or text
                out.append({})
            else:
                self.stats.hits += 1
                out.append({restore_colours(p, mapping): q for p, q in dist.items()})
        return out
