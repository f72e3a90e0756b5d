"""The tidy-up task over skills: one decision = one skill run to its end.

Reward follows the MiniGrid tasks: ``success_reward(t, max_skills)`` when the goal object is
placed on the goal receptacle (t = skills used, this one included), which ends the
episode; placing anything else anywhere ends it with 0. ``scene`` is the privileged
episode state the teacher describes (as Habitat's task sensors and metrics are):
``[seen apple, seen cup, seen table, seen sink, held + 1, faced + 1]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llm4teach.domains.habitat.skills import SKILLS, run_skill
from llm4teach.domains.habitat.world import ENTITIES, OBJECTS, RECEPTACLES, TidyWorld
from llm4teach.domains.minigrid.reward import success_reward

SCENE_SIZE = len(ENTITIES) + 2


class TidySkillEnv:
    """Put ``goal_object`` on ``goal_receptacle`` in a ``TidyWorld``, choosing skills."""

    num_skills = len(SKILLS)

    def __init__(self, goal_object: str = "apple", goal_receptacle: str = "sink",
                 max_skills: int = 24, **world_kwargs: Any):
        if goal_object not in OBJECTS or goal_receptacle not in RECEPTACLES:
            raise ValueError(f"goal must be one of {OBJECTS} on one of {RECEPTACLES}, "
                             f"got {goal_object!r} on {goal_receptacle!r}")
        self.goal = (ENTITIES.index(goal_object), ENTITIES.index(goal_receptacle))
        self.max_skills = max_skills
        self.world = TidyWorld(**world_kwargs)
        self._t = 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(4, H, W)``: RGB and depth, channel first."""
        return (4, self.world.resolution, self.world.resolution)

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        self.world.reset(seed)
        self._t = 0
        return self._observe()

    def step(self, skill: int) -> tuple[dict[str, np.ndarray], float, bool, bool]:
        """Run one skill; returns observation, reward, terminated, truncated."""
        run_skill(self.world, int(skill))
        self._t += 1
        placed = self.world.state.placed
        terminated = placed is not None
        reward = success_reward(self._t, self.max_skills) if placed == self.goal else 0.0
        return self._observe(), float(reward), terminated, self._t >= self.max_skills

    def _observe(self) -> dict[str, np.ndarray]:
        views = self.world.render()
        image = np.concatenate([views["rgb"], (views["depth"] * 255).astype(np.uint8)], -1)
        s = self.world.state
        scene = np.concatenate([s.seen, [s.held + 1, self.world.facing() + 1]]).astype(np.int64)
        return {"observation": image.transpose(2, 0, 1).copy(), "scene": scene}
