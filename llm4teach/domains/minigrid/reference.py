"""The reference code's teacher (ZJLAB-AMMI/LLM4Teach), rule by rule: ``skills="reference"``.

Our teacher (``first_action``, ``skills.py``) reads plans strictly and searches paths;
the reference's is more literal, and its held-out success differs on the same tables.
This module is its rules, for comparing the two and for training a student as the
paper's was taught:

- **Reading** (``ReferenceGrammar``): every comma-separated step is read by substring:
  the verb (``explore``, ``go to``, ``pick up``, ``drop``, ``open``; anything else is a
  ``noop`` step) and the object (``door``/``key``; the last two words in ColoredDoorKey;
  ``door1``/``door2``/``key`` in TwoDoor). ``go to <door>, open <door> with <key>`` is a
  go-to and an open; ``use <key>`` acts "done". Nothing fails to parse.
- **Memory** (``ReferenceDescriber``): every object's last seen cell is kept for the
  episode, the carried key's where it was picked up; TwoDoor's doors are numbered in
  scan order at every step.
- **Steps** (``reference_action``): ``pick up``, ``drop`` and ``open`` act at once
  (pickup, drop, toggle), whatever is held or in front; ``go to`` faces the remembered
  cell (the held key's old one too) through lava, and is the only step besides
  ``explore`` that can be finished; a step naming an object never seen, an unreachable
  go-to, a ``noop`` step and a plan with every step finished act 6 ("done"). Every plan
  acts, so the fallback only serves texts the table lacks.
- **Explore** (``reference_explore``): no search but a local rule on the map.
"""

from __future__ import annotations

import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX

from llm4teach.domains.minigrid.describe import Describer, Scene, agent_states
from llm4teach.domains.minigrid.grammar import MINIGRID
from llm4teach.domains.minigrid.memory_map import AGENT_VIEW_SIZE
from llm4teach.domains.minigrid.skills import (
    DIR_VEC,
    DONE,
    DROP,
    FINISHED,
    FORWARD,
    LEFT,
    PICKUP,
    RIGHT,
    TOGGLE,
    UNREACHABLE,
)
from llm4teach.teacher.grammar import Grammar, Plan, Step

NOOP = "noop"  # a step the reference cannot read: it acts 6 ("done")
VERBS = ("explore", "go to", "pick up", "drop", "open")  # the reference's order of tests
_ACTS = {"pick up": PICKUP, "drop": DROP, "open": TOGGLE}
_WALLISH = (OBJECT_TO_IDX["wall"], OBJECT_TO_IDX["door"])
_OBJECTS = tuple(OBJECT_TO_IDX[n] for n in ("key", "ball", "box"))
_UNSEEN = OBJECT_TO_IDX["unseen"]
_AGENT = OBJECT_TO_IDX["agent"]


class ReferenceGrammar(Grammar):
    """The reference's reading of plans: by substrings, step by step; never None.

    Example:
        >>> ReferenceGrammar("plain").parse_plan("go to <door>, open <door> with <key>")
        (('go to', 'door'), ('open', 'door'))
        >>> ReferenceGrammar("colored").parse_plan("drop <red key>, go to east")
        (('drop', 'red key'), ('noop', None))
    """

    def __init__(self, style: str) -> None:
        super().__init__(f"MiniGrid (reference, {style})", MINIGRID.verbs, MINIGRID.objects,
                         candidates=MINIGRID.candidate_plans)
        self.style = style

    def parse_plan(self, text: str) -> Plan | None:
        if not isinstance(text, str):
            return None
        return tuple(self._read(part) for part in text.split(","))

    def _read(self, text: str) -> Step:
        verb = next((v for v in VERBS if v in text), NOOP)
        if self.style == "numbered":
            obj = next((o for o in ("door1", "door2", "key") if o in text), None)
        elif "door" in text or "key" in text:
            if self.style == "colored":  # the last two words, letters only: "blue key"
                obj = " ".join("".join(c for c in w if c.isalpha()) for w in text.split(" ")[-2:])
            else:
                obj = "door" if "door" in text else "key"
        else:
            obj = None
        if obj is None and verb != "explore":
            verb = NOOP  # a verb without a known kind of object
        return verb, obj


class ReferenceDescriber(Describer):
    """The reference's state text and object memory (its ``obj_coordinate``).

    The text is ours (the reference's, as the tables key on), but doors are numbered in
    scan order at every step, and the scene's objects are every object seen in the
    episode at its last seen cell (the last in scan order): a carried key stays where it
    was picked up. ``state`` is that memory, which ``reset()`` forgets.
    """

    def __init__(self, task: str) -> None:
        super().__init__(task)
        self._cells: dict[str, tuple[int, int]] = {}

    def reset(self) -> None:
        self._cells.clear()

    @property
    def state(self) -> tuple:
        return tuple(self._cells.items())

    def restore(self, state: tuple) -> None:
        self._cells = dict(state)

    def scene(self, cells: list[tuple[int, int, int, int, int]], held: tuple[int, int],
              mission: str = "") -> Scene:
        self._door_numbers.clear()  # numbered afresh, in scan order
        seen = super().scene(cells, held, mission)
        for name, where in seen.objects.items():
            self._cells[name] = where[-1]
        return Scene(seen.text, {n: (c,) for n, c in self._cells.items()}, seen.held)


def reference_action(plan: Plan | None, scene: Scene, obs: np.ndarray, route) -> int | None:
    """The reference's action for one plan: its first step that acts, 6 when none does.

    ``route(obj)`` is ``first_action``'s (the first action toward facing ``obj``'s cell,
    ``FINISHED``, ``UNREACHABLE`` or pending); ``explore`` is ``reference_explore``.
    """
    if plan is None:
        return None
    for verb, obj in plan:
        if verb == NOOP or (obj is not None and obj not in scene.objects):
            return DONE
        if verb == "explore":
            action = reference_explore(obs)
            if action is not None:
                return action
        elif verb == "go to":
            action = route(obj)
            if action != FINISHED:
                return DONE if action == UNREACHABLE else action
        else:
            return _ACTS[verb]
    return DONE


def reference_explore(obs: np.ndarray) -> int | None:
    """The reference's explore on one memory map ``[W, H, 4]``; None when it is finished.

    A key, ball or box ahead: turn (right when the cell to the left is a wall, door or
    such an object). Else the first of: a never-seen cell in the room beyond the view
    ahead (forward), to the left (left), to the right (right), behind the cell ahead
    (left). The room ends at the first seen wall corner (``_room_ends``). Lava and
    walls ahead are not looked at: it walks into lava, and it pushes against a wall
    while never-seen cells lie beyond it.
    """
    kinds = obs[..., 0].astype(np.int64)
    x, y, d = (int(v) for v in agent_states(obs[None])[0])
    kinds[x, y] = _AGENT
    ends = _room_ends(kinds)

    def ahead(direction: int) -> int:
        code = kinds[x + DIR_VEC[direction][0], y + DIR_VEC[direction][1]]
        return 1 if code in _WALLISH else 2 if code in _OBJECTS else 0

    if ahead(d) == 2:
        return RIGHT if ahead((d - 1) % 4) else LEFT
    front = (x + DIR_VEC[d][0], y + DIR_VEC[d][1])
    for direction, start, action in ((d, (x, y), FORWARD), ((d - 1) % 4, (x, y), LEFT),
                                     ((d + 1) % 4, (x, y), RIGHT), ((d + 2) % 4, front, LEFT)):
        if _unseen_beyond(kinds, ends, direction, start):
            return action
    return None


def _room_ends(kinds: np.ndarray) -> tuple[int, int]:
    """The reference's room extent ``(x end, y end)``: scanning x then y from (1, 1), a
    wall or door over another (x end = its x + 1), else beside another (y end); the
    grid's size while not seen."""
    width, height = kinds.shape
    ends = [width, height]
    cells = kinds.tolist()
    for i in range(1, width - 1):
        for j in range(1, height - 1):
            if cells[i][j] not in _WALLISH:
                continue
            if ends[0] == width and cells[i][j + 1] in _WALLISH:
                ends[0] = i + 1
            elif ends[1] == height and cells[i + 1][j] in _WALLISH:
                ends[1] = j + 1
            if ends[0] != width and ends[1] != height:
                return ends[0], ends[1]
    return ends[0], ends[1]


def _unseen_beyond(kinds: np.ndarray, ends: tuple[int, int], direction: int,
                   start: tuple[int, int]) -> bool:
    """Whether a never-seen cell lies in the room past the view from ``start`` toward
    ``direction`` (Python's slice bounds, a negative end included, as the reference's)."""
    half = AGENT_VIEW_SIZE // 2
    x0, y0, (x1, y1) = 0, 0, ends
    if direction == 0:
        x0 = start[0] + half + 1
    elif direction == 1:
        y0 = start[1] + half + 1
    elif direction == 2:
        x1 = start[0] - half
    else:
        y1 = start[1] - half
    return bool((kinds[x0:x1, y0:y1] == _UNSEEN).any())
