"""Plan grammar: strict parsing of plans and of LLM answers that end with ``Action: {plan}``.

A plan is a comma-separated list of steps, each ``explore`` or ``<verb> <obj>``; a
``Grammar`` fixes the verbs and the object names of one domain (each domain declares
its own: ``llm4teach.domains.<family>.grammar``). A step outside them (``use <key>``,
``open <door> with <key>``, ``go to east``) does not parse. Parsing is regular
expressions only: model output is never evaluated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

Step = tuple[str, str | None]  # ("explore", None) or ("go to", "key")
Plan = tuple[Step, ...]

_ACTION_RE = re.compile(r"actions?\s*:\s*(.*)", re.IGNORECASE)  # the paper's parser: Action[s]
_ACTION_PREFIX_RE = re.compile(r"actions?\s*:", re.IGNORECASE)
_WEIGHT_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # no nested quantifiers: linear
_OBJECT_RE = re.compile(r"<([^<>]+)>")


class Grammar:
    """The plans of one domain: ``explore`` and its ``verbs`` over objects matching ``objects``.

    ``candidates`` builds the plans the ``logits`` method scores for a state text; a
    grammar without it refuses that method. ``suffix`` (a regular expression) may follow
    an object inside its brackets and is dropped from the parsed plan.

    Example:
        >>> g = Grammar("toy", verbs=("grab",), objects="ball|box")
        >>> g.parse_plan("grab <ball>, explore")
        (('grab', 'ball'), ('explore', None))
        >>> g.parse_plan("grab <moon>") is None
        True
    """

    def __init__(self, name: str, verbs: tuple[str, ...], objects: str,
                 candidates: Callable[[str], list[str]] | None = None, suffix: str = "") -> None:
        self.name, self.verbs, self.objects = name, verbs, objects
        self._candidates = candidates
        tail = f"(?:{suffix})?" if suffix else ""
        self._step = re.compile(
            r"explore|(" + "|".join(verbs) + r") <(" + objects + r")" + tail + ">")

    def __repr__(self) -> str:
        return f"Grammar({self.name!r})"

    def parse_plan(self, text: str) -> Plan | None:
        """The steps of ``text``, or None when any step is outside the grammar.

        Example:
            >>> g = Grammar("toy", verbs=("go to", "pick up"), objects="key|door")
            >>> g.parse_plan("go to <key>, pick up <key>")
            (('go to', 'key'), ('pick up', 'key'))
            >>> g.parse_plan("go to <door>, open <door> with <key>") is None
            True
        """
        if not isinstance(text, str):
            return None
        steps = []
        for part in text.strip().lower().split(","):
            match = self._step.fullmatch(part.strip())
            if match is None:
                return None
            steps.append(("explore", None) if match[1] is None else (match[1], match[2]))
        return tuple(steps)

    @staticmethod
    def format_plan(plan: Plan) -> str:
        """The canonical text of a parsed plan (inverse of ``parse_plan``)."""
        return ", ".join(verb if obj is None else f"{verb} <{obj}>" for verb, obj in plan)

    def parse_answer(self, answer: str) -> Plan | None:
        """Parse an LLM answer that ends with ``Action: {plan}``; None when it does not."""
        text = answer_plan_text(answer)
        return None if text is None else self.parse_plan(text)

    def parse_weighted_answer(self, answer: str) -> tuple[dict[str, float], int]:
        """Lines ``Action: <plan> | <probability>`` -> ``({plan: probability}, lines that
        failed)``. Plans are canonical (``format_plan``); repeated plans add up; not
        normalised. Linear in the answer's length; a weight that is not a finite
        non-negative decimal fails its line."""
        plans: dict[str, float] = {}
        failures = 0
        for line in answer.splitlines():
            if "action" not in line.lower():
                continue
            head, bar, weight = line.strip().rpartition("|")
            prefix = _ACTION_PREFIX_RE.search(head)  # "3. Action: ..." (the paper's step 3)
            value = float(weight) if bar and _WEIGHT_RE.fullmatch(weight.strip()) else math.nan
            plan = None if prefix is None or not math.isfinite(value) else self.parse_plan(
                head[prefix.end():].strip().strip("{}[]\"'` "))
            if plan is None:
                failures += 1
                continue
            key = self.format_plan(plan)
            plans[key] = plans.get(key, 0.0) + value
        return plans, failures

    def candidate_plans(self, text: str) -> list[str]:
        """Plans over the objects a state text names (the ``logits`` method scores them)."""
        if self._candidates is None:
            raise ValueError(f"the {self.name} grammar builds no candidate plans, so the "
                             "logits method cannot score them: use teacher method sample "
                             "or prompt")
        return self._candidates(text)


def answer_plan_text(answer: str) -> str | None:
    """The plan text after the last ``Action:`` of an LLM answer (first line only; inside
    the braces of the paper's ``Action: {plan}``, whatever follows them)."""
    matches = _ACTION_RE.findall(answer)
    if not matches:
        return None
    text = matches[-1].split("\n")[0].strip()
    if text.startswith("{") and "}" in text:
        text = text[: text.index("}")]
    return text.strip("{}[]\"'` ").rstrip(".").strip("{}[]\"'` ")


def named_objects(text: str) -> list[str]:
    """The ``<object>`` names of a state text, in order (candidate plans are built on them)."""
    return _OBJECT_RE.findall(text)
