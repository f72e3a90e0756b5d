"""The teacher in the Habitat domain: describe the episode, plan, choose a skill.

Same three steps as on MiniGrid (spec 2), over the skill action space of
``llm4teach.domains.habitat``: ``scene`` -> ``Agent sees <apple>, <sink>, holds <nothing>.``
-> a planner's ``{plan: p}`` in the ``HABITAT`` grammar -> the skill of each plan's
first unfinished step. The planner is the stand-in table ``plan_tables/tidyhabitat.json``
(hand-written, not LLM answers) or an LLM asked with ``prompts/ours.yaml``. A skill space
has no no-op, so states where no plan gives a skill are masked out (fallback ``mask``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm4teach.domains.habitat import ENTITIES, OBJECTS, RECEPTACLES, SKILL_INDEX, SKILLS
from llm4teach.teacher.core import PlanTeacher, Resolved
from llm4teach.teacher.grammar import Grammar, Plan, named_objects


def candidate_plans(text: str) -> list[str]:
    """The plans the ``logits`` method scores: reach and pick each object seen, place what
    is held on each receptacle seen.

    Example:
        >>> candidate_plans("Agent sees <apple>, <sink>, holds <nothing>.")
        ['explore', 'navigate to <apple>, pick <apple>', 'pick <apple>', 'navigate to <sink>']
        >>> candidate_plans("Agent sees <sink>, holds <apple>.")
        ['explore', 'navigate to <sink>, place on <sink>', 'place on <sink>']
    """
    *seen, held = named_objects(text) or ["nothing"]
    out = ["explore"]
    for name in (o for o in seen if o != "nothing"):
        if name in OBJECTS and held == "nothing":
            out += [f"navigate to <{name}>, pick <{name}>", f"pick <{name}>"]
        elif name in RECEPTACLES and held != "nothing":
            out += [f"navigate to <{name}>, place on <{name}>", f"place on <{name}>"]
        elif name in RECEPTACLES:
            out.append(f"navigate to <{name}>")
    return out


HABITAT = Grammar("Habitat", verbs=("navigate to", "pick", "place on"),
                  objects="|".join(ENTITIES), candidates=candidate_plans)


def describe(scene: np.ndarray) -> str:
    """State text of one ``scene`` row (seen flags, held + 1, faced + 1).

    Example:
        >>> describe(np.array([1, 0, 0, 1, 0, 0]))
        'Agent sees <apple>, <sink>, holds <nothing>.'
    """
    held = int(scene[len(ENTITIES)]) - 1
    seen = [f"<{e}>" for i, e in enumerate(ENTITIES) if scene[i] and i != held]
    holds = ENTITIES[held] if held >= 0 else "nothing"
    return f"Agent sees {', '.join(seen) or '<nothing>'}, holds <{holds}>."


def plan_skill(plan: Plan | None, scene: np.ndarray) -> int | None:
    """The skill of the first unfinished step; None when none (or an unseen target)."""
    held, faced = int(scene[len(ENTITIES)]) - 1, int(scene[len(ENTITIES) + 1]) - 1
    for verb, obj in plan or ():
        if verb == "explore":
            return SKILL_INDEX["explore"]
        target = ENTITIES.index(obj)
        if target == held:
            continue  # navigate to / pick what is already in hand: done
        if not scene[target]:
            return None
        if verb == "navigate to" and faced == target:
            continue
        return SKILL_INDEX[f"{verb} <{obj}>"]
    return None


class SkillTeacher(PlanTeacher):
    """``scene`` batch -> distribution over the skills (soft) or one sampled plan's (hard).

    Nothing is kept per episode: the scene already carries the episode's memory.

    Example:
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.teacher import TeacherConfig
        >>> teacher = resolve("TidyHabitat").make_teacher(TeacherConfig()).teacher
        >>> probs, mask = teacher.act_probs(np.array([[1, 0, 0, 0, 0, 0]]))
        >>> SKILLS[int(probs[0].argmax())], bool(mask[0])
        ('navigate to <apple>', True)
    """

    grammar = HABITAT
    num_actions = len(SKILLS)
    in_keys = ("scene",)

    def _resolve(self, batch: dict[str, np.ndarray], envs: Sequence[int]) -> list[Resolved]:
        """Each scene's plans and skills."""
        scenes = batch["scene"]
        dists = self.plans([describe(s) for s in scenes])
        return [self._entry(dist, tuple(plan_skill(plan, scene) for plan, _ in dist))
                for scene, dist in zip(scenes, dists, strict=True)]
