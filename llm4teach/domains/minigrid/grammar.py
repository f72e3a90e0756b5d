"""MiniGrid's plan grammars.

``MINIGRID`` (the four paper tasks) has the verbs ``go to``, ``pick up``, ``drop``,
``open`` over keys and doors, optionally with a colour (or a ``color1`` placeholder) or a
door number. ``MINIGRID_GENERIC`` (every other MiniGrid or BabyAI task) adds ``toggle``
and the objects ``<colour> ball``, ``<colour> box``, ``goal`` and ``lava``; an object may
carry the state the generic text shows (``<blue door (locked)>``), which parsing drops.
"""

from __future__ import annotations

from minigrid.core.constants import COLOR_NAMES

from llm4teach.domains.minigrid.interpret import STEPS
from llm4teach.teacher.grammar import Grammar, named_objects

# the verbs are the interpreter's steps; the paper tasks' plans have no toggle
GENERIC_VERBS = tuple(verb for verb in STEPS if verb != "explore")
PAPER_VERBS = tuple(verb for verb in GENERIC_VERBS if verb != "toggle")


def _minigrid_candidates(text: str) -> list[str]:
    """MiniGrid's key-and-door plans over the objects ``text`` names.

    Example:
        >>> _minigrid_candidates("Agent sees <key>, holds <nothing>.")
        ['explore', 'go to <key>, pick up <key>', 'pick up <key>']
    """
    *seen, held = named_objects(text) or ["nothing"]
    keys = [o for o in seen if o.endswith("key")]
    doors = [o for o in seen if not o.endswith("key") and o != "nothing"]
    out = ["explore"]
    for k in keys:
        out += [f"go to <{k}>, pick up <{k}>", f"pick up <{k}>"]
    for d in doors:
        out += [f"go to <{d}>, open <{d}>", f"open <{d}>"]
    if held != "nothing":
        out.append(f"drop <{held}>")
        out += [f"drop <{held}>, go to <{k}>, pick up <{k}>" for k in keys]
    else:
        out += [f"go to <{k}>, pick up <{k}>, go to <{d}>, open <{d}>" for k in keys for d in doors]
    return out


MINIGRID = Grammar(
    "MiniGrid",
    verbs=PAPER_VERBS,
    objects=r"(?:(?:" + "|".join(COLOR_NAMES) + r"|color\d) )?(?:key|door\d*)",
    candidates=_minigrid_candidates,
)


_COLOURED = r"(?:(?:" + "|".join(COLOR_NAMES) + r"|color\d) )"


def _generic_candidates(text: str) -> list[str]:
    """Plans over the objects a generic state text names: reach each object and act on it.

    Example:
        >>> _generic_candidates("Agent sees <red ball>, <goal>, holds <blue key>.")
        ['explore', 'go to <red ball>', 'go to <red ball>, pick up <red ball>', \
'go to <goal>', 'drop <blue key>']
    """
    *seen, held = [o.split(" (")[0] for o in named_objects(text)] or ["nothing"]
    out = ["explore"]
    for obj in (o for o in seen if o != "nothing"):
        kind = obj.rsplit(" ", 1)[-1]
        out.append(f"go to <{obj}>")
        if kind in ("key", "ball", "box"):
            out.append(f"go to <{obj}>, pick up <{obj}>")
        if kind in ("door", "box"):
            out.append(f"go to <{obj}>, toggle <{obj}>")
    if held != "nothing":
        out.append(f"drop <{held}>")
    return out


MINIGRID_GENERIC = Grammar(
    "MiniGrid (any task)",
    verbs=GENERIC_VERBS,
    objects=_COLOURED + r"?(?:key|ball|box|door\d*)|goal|lava",
    candidates=_generic_candidates,
    suffix=r" \((?:open|closed|locked)\)",
)
