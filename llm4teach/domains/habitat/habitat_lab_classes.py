"""The tidy-up task's habitat-lab classes, registered with habitat-lab on import.

The simulator (``TidyWorld`` behind habitat-lab's ``Simulator`` API, with RGB and depth
sensors), a dataset of seeded episodes, the tidy-up task, one task action per skill, the
``scene`` task sensor and the reward and success measures. This module imports
habitat-lab (and gym 0.22) at its top: only ``habitat_lab.register()`` imports it, so
nothing else needs the ``habitat`` extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gym import spaces
from habitat.core.dataset import Dataset, Episode
from habitat.core.embodied_task import EmbodiedTask, Measure, SimulatorTaskAction
from habitat.core.registry import registry
from habitat.core.simulator import (
    DepthSensor,
    RGBSensor,
    Sensor,
    SensorSuite,
    SensorTypes,
    Simulator,
)

from llm4teach.domains.habitat.habitat_lab import (
    DATASET,
    PREFIX,
    SIM,
    SPLIT_SEED_OFFSET,
    TASK,
    action_key,
)
from llm4teach.domains.habitat.skills import SKILLS, run_skill
from llm4teach.domains.habitat.task import SCENE_SIZE
from llm4teach.domains.habitat.world import ENTITIES, TidyWorld
from llm4teach.domains.minigrid.reward import success_reward


class _Camera:
    """Shared by the two sim sensors: size from their config, image from the render."""

    def __init__(self, *args: Any, config, **kwargs: Any):
        self._size = (int(config.height), int(config.width))
        super().__init__(*args, config=config, **kwargs)

    def get_observation(self, *args: Any, views: dict[str, np.ndarray], **kwargs: Any):
        return views[self.uuid]


@registry.register_sensor(name=f"{PREFIX}RGB")
class TidyRGBSensor(_Camera, RGBSensor):
    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "rgb"

    def _get_observation_space(self, *args: Any, **kwargs: Any):
        return spaces.Box(0, 255, (*self._size, 3), dtype=np.uint8)


@registry.register_sensor(name=f"{PREFIX}Depth")
class TidyDepthSensor(_Camera, DepthSensor):
    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "depth"

    def _get_observation_space(self, *args: Any, **kwargs: Any):
        return spaces.Box(0.0, 1.0, (*self._size, 1), dtype=np.float32)


@registry.register_simulator(name=SIM)
class TidySimulator(Simulator):
    """habitat-lab's Simulator API over ``TidyWorld``; episodes carry their seed."""

    def __init__(self, config) -> None:
        self.habitat_config = config
        agent = config.agents[config.agents_order[config.default_agent_id]]
        sensors = [registry.get_sensor(c.type)(config=c) for c in
                   (agent.sim_sensors[k] for k in agent.sim_sensors)]
        self._sensor_suite = SensorSuite(sensors)
        self.world = TidyWorld(resolution=sensors[0].observation_space.shape[0])
        self._episode: Episode | None = None

    @property
    def sensor_suite(self) -> SensorSuite:
        return self._sensor_suite

    @property
    def action_space(self):
        return spaces.Discrete(5)  # the world's low-level actions

    def reconfigure(self, config, episode: Episode | None = None) -> None:
        self.habitat_config, self._episode = config, episode

    def reset(self):
        self.world.reset(seed=self._episode.info["seed"])
        return self.get_observations()

    def step(self, action: int | None, *args: Any, **kwargs: Any):
        if action is not None:
            self.world.step(int(action))
        return self.get_observations()

    def get_observations(self):
        return self._sensor_suite.get_observations(views=self.world.render())

    def seed(self, seed: int) -> None:
        """Episodes carry their own seeds; nothing else is random."""

    def step_physics(self, dt: float) -> None:
        """No physics: skills move the agent cell by cell."""

    def previous_step_collided(self) -> bool:
        return False


@registry.register_dataset(name=DATASET)
class TidyEpisodes(Dataset):
    """``num_episodes`` seeded episodes per split (seeds do not overlap across splits)."""

    def __init__(self, config=None) -> None:
        meta = config.metadata
        offset = SPLIT_SEED_OFFSET[config.split]
        self.episodes = [
            Episode(episode_id=str(i), scene_id="llm4teach-tidy",
                    start_position=[0.0, 0.0, 0.0], start_rotation=[0.0, 0.0, 0.0, 1.0],
                    info={"seed": offset + i, "goal": list(meta.goal),
                          "max_skills": int(meta.max_skills)})
            for i in range(int(meta.num_episodes))
        ]


@registry.register_task_action(name=f"{PREFIX}SkillAction")
class SkillAction(SimulatorTaskAction):
    """One skill run to its end by the scripted controllers (the oracle skills here)."""

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skill = [action_key(s) for s in SKILLS].index(name)

    def step(self, *args: Any, **kwargs: Any):
        run_skill(self._sim.world, self.skill)
        return self._sim.get_observations()


@registry.register_sensor(name=f"{PREFIX}SceneSensor")
class SceneSensor(Sensor):
    """What the teacher reads: seen flags, held + 1, faced + 1."""

    def __init__(self, *args: Any, sim, config, **kwargs: Any) -> None:
        self._sim = sim
        super().__init__(*args, config=config, **kwargs)

    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "scene"

    def _get_sensor_type(self, *args: Any, **kwargs: Any):
        return SensorTypes.TENSOR

    def _get_observation_space(self, *args: Any, **kwargs: Any):
        return spaces.Box(0, 255, (SCENE_SIZE,), dtype=np.int64)

    def get_observation(self, *args: Any, **kwargs: Any) -> np.ndarray:
        world = self._sim.world
        s = world.state
        return np.concatenate([s.seen, [s.held + 1, world.facing() + 1]]).astype(np.int64)


def _goal(episode: Episode) -> tuple[int, int]:
    return tuple(ENTITIES.index(n) for n in episode.info["goal"])


class _WorldMeasure(Measure):
    """A measure read off the simulator's ``TidyWorld``."""

    def __init__(self, *args: Any, sim, config, **kwargs: Any) -> None:
        self._sim = sim
        super().__init__(*args, **kwargs)


@registry.register_measure(name=f"{PREFIX}TidySuccess")
class TidySuccess(_WorldMeasure):
    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "tidy_success"

    def reset_metric(self, *args: Any, episode: Episode, **kwargs: Any) -> None:
        self._metric = False

    def update_metric(self, *args: Any, episode: Episode, **kwargs: Any) -> None:
        self._metric = self._sim.world.state.placed == _goal(episode)


@registry.register_measure(name=f"{PREFIX}TidyReward")
class TidyReward(_WorldMeasure):
    """``success_reward(t, max_skills)`` on the step that succeeds, else 0 (as TidySkillEnv)."""

    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "tidy_reward"

    def reset_metric(self, *args: Any, episode: Episode, **kwargs: Any) -> None:
        self._metric, self._t = 0.0, 0

    def update_metric(self, *args: Any, episode: Episode, **kwargs: Any) -> None:
        self._t += 1
        success = self._sim.world.state.placed == _goal(episode)
        self._metric = success_reward(self._t, episode.info["max_skills"]) if success else 0.0


@registry.register_measure(name=f"{PREFIX}TidyPlaced")
class TidyPlaced(TidySuccess):
    def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
        return "tidy_placed"

    def update_metric(self, *args: Any, episode: Episode, **kwargs: Any) -> None:
        self._metric = self._sim.world.state.placed is not None


@registry.register_task(name=TASK)
class TidyTask(EmbodiedTask):
    """Active until something is placed (the world's terminal event)."""

    def _check_episode_is_active(self, *args: Any, **kwargs: Any) -> bool:
        return self._sim.world.state.placed is None
