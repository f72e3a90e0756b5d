"""Describe: memory-map observation -> state text (``Agent sees <key>, holds <nothing>.``).

The text is what the planner sees; the ``Scene`` also keeps where each named object
is, so that skills can act on the same names the plan uses.

A task's style decides the text. The four paper tasks keep the spec's texts over keys
and doors (their recorded tables match them): ``plain`` (``<key>``, ``<door>``),
``colored`` (``<blue key>``) and ``numbered`` (``<door1>``). Every other MiniGrid or
BabyAI task is ``generic``: the mission, then every key, ball, box, door (with its
state), goal and lava seen, sorted by type, colour and state, and the carried object::

    Mission: pick up the red ball. Agent sees <red ball>, <blue door (locked)>, <blue key>,
    holds <nothing>.

(one line). Plans name an object without its state (``open <blue door>``); lava is one
object however many cells it covers, and so are equal objects (two ``<red ball>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from minigrid.core.constants import COLOR_NAMES, IDX_TO_COLOR, IDX_TO_OBJECT, OBJECT_TO_IDX

from llm4teach.domains.minigrid import resolve_task
from llm4teach.domains.minigrid.registry import TASKS

KEY, DOOR = OBJECT_TO_IDX["key"], OBJECT_TO_IDX["door"]
GOAL, LAVA = OBJECT_TO_IDX["goal"], OBJECT_TO_IDX["lava"]
PAPER_OBJECTS = (KEY, DOOR)
GENERIC_OBJECTS = tuple(OBJECT_TO_IDX[n] for n in ("key", "ball", "box", "door", "goal", "lava"))
CARRIABLE = tuple(OBJECT_TO_IDX[n] for n in ("key", "ball", "box"))
DOOR_STATES = ("open", "closed", "locked")  # MiniGrid's state codes 0, 1, 2
GOAL_NAME = "goal"  # the one object "go to" steps onto instead of facing
NO_DIRECTION = 4
_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOR_NAMES) + r")\b")
_PAPER_STYLES = {"SimpleDoorKey": "plain", "LavaDoorKey": "plain",
                 "ColoredDoorKey": "colored", "TwoDoor": "numbered"}


def style_of(task: str) -> str:
    """How a task's text names objects: a paper task's ``plain`` (``key``), ``colored``
    (``blue key``) or ``numbered`` (``door1``); ``generic`` for every other task."""
    env_id = resolve_task(task)
    return next((style for name, style in _PAPER_STYLES.items() if TASKS[name] == env_id),
                "generic")


@dataclass(frozen=True)
class Scene:
    """One observation as the teacher sees it: the text and the named objects' cells."""

    text: str
    objects: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    held: str | None = None


def agent_states(obs: np.ndarray) -> np.ndarray:
    """The agents' ``(x, y, direction)`` ``[N, 3]`` in a batch of memory maps ``[N, W, H, 4]``."""
    n, _, h = obs.shape[:3]
    flat = obs[..., 3].reshape(n, -1).argmin(axis=1)  # the only cell whose channel 3 is < 4
    x, y = flat // h, flat % h
    return np.stack([x, y, obs[np.arange(n), x, y, 3].astype(np.int64)], axis=1)


class Describer:
    """Turns one env's observations into ``Scene``s; keeps TwoDoor's door numbers per episode.

    Doors are numbered in the order they are first seen (ties in scan order), so
    ``door1`` stays ``door1`` for the whole episode. Call ``reset()`` at episode start.

    Example:
        >>> from llm4teach.domains.minigrid import make_gym_env
        >>> obs, _ = make_gym_env("SimpleDoorKey").reset(seed=0)
        >>> Describer("SimpleDoorKey")(obs).text.startswith("Agent sees ")
        True
        >>> env = make_gym_env("BabyAI-GoToRedBallNoDists-v0")
        >>> obs, _ = env.reset(seed=0)
        >>> Describer("BabyAI-GoToRedBallNoDists-v0")(obs, env.unwrapped.mission).text
        'Mission: go to the red ball. Agent sees <red ball>, holds <nothing>.'
    """

    def __init__(self, task: str) -> None:
        self.style = style_of(task)
        self.codes = GENERIC_OBJECTS if self.style == "generic" else PAPER_OBJECTS
        self._door_numbers: dict[tuple[int, int], int] = {}

    def reset(self) -> None:
        self._door_numbers.clear()

    @property
    def state(self) -> tuple:
        """The per-episode state (door numbers), hashable, for memoising on it."""
        return tuple(self._door_numbers.items())

    def restore(self, state: tuple) -> None:
        self._door_numbers = dict(state)

    def _name(self, code: int, colour: int, cell: tuple[int, int]) -> str:
        kind = "key" if code == KEY else "door"
        if self.style == "colored":
            return f"{IDX_TO_COLOR[colour]} {kind}"
        if self.style == "numbered" and kind == "door":
            number = self._door_numbers.setdefault(cell, len(self._door_numbers) + 1)
            return f"door{number}"
        return kind

    def __call__(self, obs: np.ndarray, mission: str = "") -> Scene:
        """The scene of one memory map ``[W, H, 4]``; ``mission``: the episode's (the
        generic style's text starts with it)."""
        cells, held = object_cells(obs[None], agent_states(obs[None]), self.codes)[0]
        return self.scene(cells, held, mission)

    def scene(self, cells: list[tuple[int, int, int, int, int]], held: tuple[int, int],
              mission: str = "") -> Scene:
        """The scene from ``object_cells``' output: a paper task's keys first, then doors;
        the generic style's objects sorted, after the mission."""
        if self.style == "generic":
            return _generic_scene(cells, held, mission)
        objects: dict[str, list[tuple[int, int]]] = {}
        for code, colour, _, x, y in cells:
            objects.setdefault(self._name(code, colour, (x, y)), []).append((x, y))
        held_name = self._name(KEY, held[1], (-1, -1)) if held[0] == KEY else None
        names = [n for n in objects if n.endswith("key")]
        names += sorted((n for n in objects if not n.endswith("key")), key=_door_order)
        seen = ", ".join(f"<{n}>" for n in names) or "<nothing>"
        text = f"Agent sees {seen}, holds <{held_name or 'nothing'}>."
        return Scene(text, {n: tuple(c) for n, c in objects.items()}, held_name)


def _generic_name(code: int, colour: int) -> str:
    kind = IDX_TO_OBJECT[code]
    return kind if code in (GOAL, LAVA) else f"{IDX_TO_COLOR[colour]} {kind}"


def _generic_scene(cells: list[tuple[int, int, int, int, int]], held: tuple[int, int],
                   mission: str) -> Scene:
    """Every object seen, a door labelled with its state, sorted by (type, colour, state)."""
    objects: dict[str, list[tuple[int, int]]] = {}
    labels: dict[tuple[str, str, int], str] = {}
    for code, colour, state, x, y in cells:
        name = _generic_name(code, colour)
        objects.setdefault(name, []).append((x, y))
        door = code == DOOR
        sort_key = (IDX_TO_OBJECT[code], IDX_TO_COLOR[colour], state if door else 0)
        labels[sort_key] = f"{name} ({DOOR_STATES[state]})" if door else name
    held_name = _generic_name(*held) if held[0] in CARRIABLE else None
    seen = ", ".join(f"<{labels[k]}>" for k in sorted(labels)) or "<nothing>"
    prefix = f"Mission: {mission.rstrip('.')}. " if mission else ""
    text = f"{prefix}Agent sees {seen}, holds <{held_name or 'nothing'}>."
    return Scene(text, {n: tuple(c) for n, c in objects.items()}, held_name)


def object_cells(obs: np.ndarray, agents: np.ndarray, codes: tuple[int, ...] = PAPER_OBJECTS
                 ) -> list[tuple[list, tuple[int, int]]]:
    """Per observation of a batch: the cells of the objects of types ``codes`` as
    ``(code, colour, state, x, y)`` in scan order (the agent's cell excluded), and the
    carried ``(code, colour)``."""
    kinds = obs[..., 0]
    n_idx, xs, ys = np.nonzero(np.isin(kinds, codes))
    found = np.stack([kinds[n_idx, xs, ys], obs[n_idx, xs, ys, 1], obs[n_idx, xs, ys, 2],
                      xs, ys], axis=1).tolist()
    carried = obs[np.arange(len(obs)), agents[:, 0], agents[:, 1], :2].tolist()
    out: list[tuple[list, tuple[int, int]]] = [([], (c[0], c[1])) for c in carried]
    for n, cell in zip(n_idx.tolist(), found, strict=True):
        if cell[3] != agents[n, 0] or cell[4] != agents[n, 1]:
            out[n][0].append(tuple(cell))
    return out


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
