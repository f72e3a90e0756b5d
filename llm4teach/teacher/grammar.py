"""Plan grammar: strict parsing of plans and of LLM answers that end with ``Action: {plan}``.

A plan is a comma-separated list of steps ``explore``, ``go to <obj>``, ``pick up <obj>``,
``drop <obj>``, ``open <obj>``; objects are keys and doors, optionally with a colour
(or a ``color1`` placeholder) or a door number. Anything else (``use <key>``,
``open <door> with <key>``, ``go to east``) does not parse. Parsing is regular
expressions only: model output is never evaluated.
"""

from __future__ import annotations

import re

from minigrid.core.constants import COLOR_NAMES

VERBS = ("go to", "pick up", "drop", "open")
OBJECT_PATTERN = r"(?:(?:" + "|".join(COLOR_NAMES) + r"|color\d) )?(?:key|door\d*)"
_STEP_RE = re.compile(r"explore|(" + "|".join(VERBS) + r") <(" + OBJECT_PATTERN + r")>")
_ACTION_RE = re.compile(r"action\s*:\s*(.*)", re.IGNORECASE)

Step = tuple[str, str | None]  # ("explore", None) or ("go to", "key")
Plan = tuple[Step, ...]


def parse_plan(text: str) -> Plan | None:
    """The steps of ``text``, or None when any step is outside the grammar.

    Example:
        >>> parse_plan("go to <key>, pick up <key>")
        (('go to', 'key'), ('pick up', 'key'))
        >>> parse_plan("go to <door>, open <door> with <key>") is None
        True
    """
    if not isinstance(text, str):
        return None
    steps = []
    for part in text.strip().lower().split(","):
        match = _STEP_RE.fullmatch(part.strip())
        if match is None:
            return None
        steps.append(("explore", None) if match.group(1) is None else (match[1], match[2]))
    return tuple(steps)


def format_plan(plan: Plan) -> str:
    """The canonical text of a parsed plan (inverse of ``parse_plan``)."""
    return ", ".join(verb if obj is None else f"{verb} <{obj}>" for verb, obj in plan)


def answer_plan_text(answer: str) -> str | None:
    """The plan text after the last ``Action:`` of an LLM answer (first line only)."""
    matches = _ACTION_RE.findall(answer)
    if not matches:
        return None
    text = matches[-1].split("\n")[0].strip()
    return text.strip("{}[]\"'` ").rstrip(".").strip("{}[]\"'` ")


def parse_answer(answer: str) -> Plan | None:
    """Parse an LLM answer that ends with ``Action: {plan}``; None when it does not."""
    text = answer_plan_text(answer)
    return None if text is None else parse_plan(text)


def plan_objects(plan: Plan) -> set[str]:
    """The object names a plan refers to."""
    return {obj for _, obj in plan if obj is not None}
