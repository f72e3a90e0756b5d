"""Describe: memory-map observation -> state text (``Agent sees <key>, holds <nothing>.``).

The text is what the planner sees; the ``Scene`` also keeps where each named object
is, so that skills can act on the same names the plan uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from minigrid.core.constants import COLOR_NAMES, IDX_TO_COLOR, OBJECT_TO_IDX

from llm4teach.envs import resolve_task

KEY, DOOR = OBJECT_TO_IDX["key"], OBJECT_TO_IDX["door"]
NO_DIRECTION = 4
STYLES = ("plain", "colored", "numbered")
_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOR_NAMES) + r")\b")


def style_of(task: str) -> str:
    """How a task names objects: ``colored`` (``blue key``), ``numbered`` (``door1``) or plain."""
    env_id = resolve_task(task)
    if "ColoredDoorKey" in env_id:
        return "colored"
    if "TwoDoor" in env_id:
        return "numbered"
    return "plain"


@dataclass(frozen=True)
class Scene:
    """One observation as the teacher sees it: the text and the named objects' cells."""

    text: str
    objects: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    held: str | None = None


def agent_state(obs: np.ndarray) -> tuple[int, int, int]:
    """The agent's ``(x, y, direction)`` in a memory map."""
    flat = int(np.argmin(obs[..., 3]))  # the only cell whose direction channel is < 4
    x, y = divmod(flat, obs.shape[1])
    return x, y, int(obs[x, y, 3])


class Describer:
    """Turns one env's observations into ``Scene``s; keeps TwoDoor's door numbers per episode.

    Doors are numbered in the order they are first seen (ties in scan order), so
    ``door1`` stays ``door1`` for the whole episode. Call ``reset()`` at episode start.

    Example:
        >>> from llm4teach.envs import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> Describer("SimpleDoorKey")(obs).text.startswith("Agent sees ")
        True
    """

    def __init__(self, task: str) -> None:
        self.style = style_of(task)
        self._door_numbers: dict[tuple[int, int], int] = {}

    def reset(self) -> None:
        self._door_numbers.clear()

    def _name(self, code: int, colour: int, cell: tuple[int, int]) -> str:
        kind = "key" if code == KEY else "door"
        if self.style == "colored":
            return f"{IDX_TO_COLOR[colour]} {kind}"
        if self.style == "numbered" and kind == "door":
            number = self._door_numbers.setdefault(cell, len(self._door_numbers) + 1)
            return f"door{number}"
        return kind

    def __call__(self, obs: np.ndarray) -> Scene:
        ax, ay, _ = agent_state(obs)
        codes = obs[..., 0]
        objects: dict[str, list[tuple[int, int]]] = {}
        for code in (KEY, DOOR):
            xs, ys = np.nonzero(codes == code)
            for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
                if (x, y) != (ax, ay):  # the agent's cell shows what it carries
                    objects.setdefault(self._name(code, obs[x, y, 1], (x, y)), []).append((x, y))
        held = None
        if codes[ax, ay] == KEY:
            held = self._name(KEY, obs[ax, ay, 1], (ax, ay))
        names = [n for n in objects if n.endswith("key")]
        names += sorted((n for n in objects if not n.endswith("key")), key=_door_order)
        seen = ", ".join(f"<{n}>" for n in names) or "<nothing>"
        text = f"Agent sees {seen}, holds <{held or 'nothing'}>."
        return Scene(text, {n: tuple(c) for n, c in objects.items()}, held)


def _door_order(name: str) -> tuple[int, str]:
    digits = name.removeprefix("door")
    return (int(digits), name) if digits.isdigit() else (0, name)


def abstract_colours(text: str) -> tuple[str, dict[str, str]]:
    """Replace colour words by ``color1``, ``color2``... in order of first appearance.

    Returns the abstract text and ``{placeholder: colour}`` to undo it on plans.
    """
    mapping: dict[str, str] = {}

    def sub(match: re.Match[str]) -> str:
        for placeholder, colour in mapping.items():
            if colour == match.group(1):
                return placeholder
        placeholder = f"color{len(mapping) + 1}"
        mapping[placeholder] = match.group(1)
        return placeholder

    return _COLOUR_RE.sub(sub, text), mapping


def restore_colours(plan: str, mapping: dict[str, str]) -> str:
    """Undo ``abstract_colours`` on a plan; placeholders it did not make stay as they are."""
    return re.sub(r"\bcolor\d+\b", lambda m: mapping.get(m.group(0), m.group(0)), plan)
