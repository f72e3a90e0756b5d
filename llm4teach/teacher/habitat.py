"""The teacher in the Habitat domain: describe the episode, plan, choose a skill.

Same three steps as on MiniGrid (spec 2), over the skill action space of
``llm4teach.envs.habitat``: ``scene`` -> ``Agent sees <apple>, <sink>, holds <nothing>.``
-> a planner's ``{plan: p}`` -> the skill of each plan's first unfinished step.
Planners share the MiniGrid teacher's interface (``Planner``); the default is the
packaged stand-in table ``plan_tables_habitat.json`` (hand-written, not LLM answers).
A skill space has no no-op, so states where no plan gives a skill are masked out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.data import Bounded, Categorical, Composite

from llm4teach.envs.habitat.skills import SKILL_INDEX, SKILLS
from llm4teach.envs.habitat.world import ENTITIES
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.planners import PlanDist, Planner, TeacherStats
from llm4teach.teacher.transform import MASK_KEY, PROBS_KEY, TeacherTransform

_NAME = "|".join(ENTITIES)
_STEP_RE = re.compile(rf"explore|(navigate to|pick|place on) <({_NAME})>")
Plan = tuple[tuple[str, str | None], ...]


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


def parse_plan(text: str) -> Plan | None:
    """Steps of a plan over the Habitat grammar; None when a step is outside it."""
    steps = []
    for part in text.strip().lower().split(","):
        match = _STEP_RE.fullmatch(part.strip())
        if match is None:
            return None
        steps.append(("explore", None) if match[1] is None else (match[1], match[2]))
    return tuple(steps)


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


class TablePlanner:
    """The packaged stand-in table (same interface as the MiniGrid table planner)."""

    def __init__(self) -> None:
        path = resources.files("llm4teach.teacher") / "plan_tables_habitat.json"
        self.states: dict[str, PlanDist] = json.loads(path.read_text("utf-8"))["states"]
        self.stats = TeacherStats()

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        self.stats.unknown_texts += sum(t not in self.states for t in texts)
        return [dict(self.states.get(t, {})) for t in texts]


class SkillTeacher:
    """``scene`` batch -> distribution over the skills (soft) or one sampled plan's (hard).

    Example:
        >>> probs, mask = SkillTeacher().act_probs(np.array([[1, 0, 0, 0, 0, 0]]))
        >>> SKILLS[int(probs[0].argmax())], bool(mask[0])
        ('navigate to <apple>', True)
    """

    num_actions = len(SKILLS)

    def __init__(self, config: TeacherConfig | None = None, planner: Planner | None = None):
        self.config = config or TeacherConfig(fallback="mask")
        if self.config.fallback != "mask":
            raise ValueError("the Habitat skill space has no no-op action: use teacher "
                             "fallback 'mask'")
        self.planner = planner if planner is not None else TablePlanner()
        self.stats = self.planner.stats
        self._plans: dict[str, list[tuple[Plan | None, float]]] = {}
        self._rng = np.random.default_rng(self.config.seed)

    def reset(self, indices: list[int] | None = None) -> None:
        """Nothing is kept per episode: the scene already carries the episode's memory."""

    def plans(self, texts: list[str]) -> list[list[tuple[Plan | None, float]]]:
        new = list(dict.fromkeys(t for t in texts if t not in self._plans))
        for text, dist in zip(new, self.planner.plan(new) if new else [], strict=True):
            total = sum(dist.values())
            parsed = [(parse_plan(p), q / total) for p, q in dist.items() if q > 0]
            self.stats.parse_failures += sum(p is None for p, _ in parsed)
            self._plans[text] = parsed
        return [self._plans[t] for t in texts]

    def act_probs(self, scenes: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs float32 [N, num_skills], mask bool [N])`` for a batch of scenes."""
        scenes = scenes.numpy() if isinstance(scenes, torch.Tensor) else np.asarray(scenes)
        dists = self.plans([describe(s) for s in scenes])
        probs = np.zeros((len(scenes), self.num_actions))
        for i, (scene, dist) in enumerate(zip(scenes, dists, strict=True)):
            if self.config.mode == "hard" and dist:
                weights = np.array([q for _, q in dist])
                dist = [dist[self._rng.choice(len(dist), p=weights / weights.sum())]]
            for plan, q in dist:
                skill = plan_skill(plan, scene)
                if skill is not None:
                    probs[i, skill] += q
        mask = probs.sum(1) > 0
        self.stats.fallbacks += int((~mask).sum())
        probs[~mask] = 1.0
        return (probs / probs.sum(1, keepdims=True)).astype(np.float32), mask


class SkillTeacherTransform(TeacherTransform):
    """``TeacherTransform`` reading ``scene`` and writing ``num_skills`` probabilities."""

    def __init__(self, teacher: SkillTeacher | None = None, enabled: bool = True) -> None:
        super().__init__(teacher or SkillTeacher(), enabled)
        self.in_keys = ["scene"]

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        scene = next_tensordict.get("scene")
        batch, n = scene.shape[:-1], self.teacher.num_actions
        if self.enabled:
            probs, mask = self.teacher.act_probs(scene.reshape(-1, scene.shape[-1]).cpu())
            probs, mask = torch.from_numpy(probs), torch.from_numpy(mask)
        else:
            probs = torch.full((batch.numel(), n), 1.0 / n)
            mask = torch.zeros(batch.numel(), dtype=torch.bool)
        next_tensordict.set(PROBS_KEY, probs.reshape(*batch, n).to(scene.device))
        next_tensordict.set(MASK_KEY, mask.reshape(batch).to(scene.device))
        return next_tensordict

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        shape, device = observation_spec.shape, observation_spec.device
        observation_spec[PROBS_KEY] = Bounded(
            0.0, 1.0, shape=(*shape, self.teacher.num_actions), dtype=torch.float32,
            device=device,
        )
        observation_spec[MASK_KEY] = Categorical(2, shape=shape, dtype=torch.bool, device=device)
        return observation_spec
