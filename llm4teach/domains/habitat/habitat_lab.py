"""The small world as a habitat-lab task, reached through ``habitat.gym``.

``register()`` adds to habitat-lab's registry the classes of ``habitat_lab_classes`` (a
simulator, its RGB and depth sensors, a dataset of seeded episodes, the tidy-up task, one
task action per skill, the ``scene`` task sensor, the reward and success measures).
``make_gym_env()`` then builds the env the way habitat-lab
builds any task (``habitat.gym.make_gym_from_config``: ``Env`` -> ``RLTaskEnv`` ->
``HabGymWrapper``), and ``HabitatGymSkillEnv`` gives it the ``TidySkillEnv`` interface
so that ``SkillBatchEnv(make=HabitatGymSkillEnv)`` batches it for TorchRL.

habitat-lab is imported when these functions run, never at import of this module, so
the names here import without the ``habitat`` extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llm4teach.domains.habitat.skills import SKILLS

PREFIX = "LLM4Teach"
SIM, TASK, DATASET = f"{PREFIX}-TidySim-v0", f"{PREFIX}-Tidy-v0", f"{PREFIX}-TidyEpisodes-v0"
SPLIT_SEED_OFFSET = {"train": 0, "val": 1_000_000, "test": 2_000_000}


def action_key(skill: str) -> str:
    """Config key of a skill's task action: ``navigate to <apple>`` -> ``navigate_to_apple``."""
    return skill.replace("<", "").replace(">", "").replace(" ", "_")


def config(resolution: int = 64, max_skills: int = 24, num_episodes: int = 1000,
           split: str = "train", seed: int = 0, goal: tuple[str, str] = ("apple", "sink")):
    """A habitat-lab ``HabitatConfig`` (``{"habitat": ...}``) for the tidy-up task.

    The goal and the number of episodes travel in ``dataset.metadata``; the camera
    resolution in the main agent's ``rgb_sensor``; one skill = one env step, so
    ``environment.max_episode_steps = max_skills`` truncates as ``TidySkillEnv`` does.
    """
    from habitat.config.default_structured_configs import (
        ActionConfig,
        AgentConfig,
        DatasetConfig,
        EnvironmentConfig,
        HabitatConfig,
        LabSensorConfig,
        MeasurementConfig,
        SimulatorConfig,
        TaskConfig,
    )
    from omegaconf import OmegaConf

    agent = AgentConfig(sim_sensors={
        "rgb_sensor": {"type": f"{PREFIX}RGB", "width": resolution, "height": resolution},
        "depth_sensor": {"type": f"{PREFIX}Depth", "width": resolution, "height": resolution},
    })
    task = TaskConfig(
        type=TASK,
        actions={action_key(s): ActionConfig(type=f"{PREFIX}SkillAction") for s in SKILLS},
        lab_sensors={"scene": LabSensorConfig(type=f"{PREFIX}SceneSensor")},
        measurements={name: MeasurementConfig(type=f"{PREFIX}{kind}") for name, kind in (
            ("tidy_reward", "TidyReward"), ("tidy_success", "TidySuccess"),
            ("tidy_placed", "TidyPlaced"))},
        reward_measure="tidy_reward", success_measure="tidy_success",
        success_reward=0.0, slack_reward=0.0, end_on_success=True,
    )
    cfg = HabitatConfig(
        seed=seed,
        environment=EnvironmentConfig(max_episode_steps=max_skills),
        simulator=SimulatorConfig(type=SIM, agents={"main_agent": agent},
                                  agents_order=["main_agent"], scene="llm4teach-tidy"),
        task=task,
        dataset=DatasetConfig(type=DATASET, split=split, data_path="", metadata={
            "num_episodes": num_episodes, "goal": list(goal), "max_skills": max_skills}),
    )
    cfg.gym.obs_keys = ["rgb", "depth", "scene"]
    return OmegaConf.create({"habitat": OmegaConf.structured(cfg)})


def make_gym_env(cfg=None):
    """habitat-lab's gym env of the tidy-up task (``habitat.gym.make_gym_from_config``)."""
    register()
    from habitat.gym import make_gym_from_config

    return make_gym_from_config(cfg if cfg is not None else config())


class HabitatGymSkillEnv:
    """``TidySkillEnv``'s interface over a ``habitat.gym`` env (gym 0.22 API)."""

    def __init__(self, cfg=None, **config_kwargs: Any):
        self.env = make_gym_env(cfg if cfg is not None else config(**config_kwargs))
        rgb = self.env.observation_space["rgb"].shape
        self.image_shape = (4, rgb[0], rgb[1])
        self.num_skills = int(self.env.action_space.n)

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """A seed picks the episode (id ``seed % len(episodes)``); None takes the next one.

        habitat-lab's episode iterator shuffles the episode list, hence the lookup by id.
        """
        if seed is not None:
            core = self.env.unwrapped.habitat_env
            wanted = str(seed % len(core.episodes))
            core.current_episode = next(e for e in core.episodes if e.episode_id == wanted)
        return self._convert(self.env.reset())

    def step(self, skill: int) -> tuple[dict[str, np.ndarray], float, bool, bool]:
        obs, reward, done, info = self.env.step(int(skill))
        success = bool(info.get("tidy_success", False))
        placed = bool(info.get("tidy_placed", False))
        return self._convert(obs), float(reward), success or placed, done and not placed

    @staticmethod
    def _convert(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        depth = (np.asarray(obs["depth"]) * 255).astype(np.uint8)
        image = np.concatenate([np.asarray(obs["rgb"]), depth], -1)
        return {"observation": image.transpose(2, 0, 1).copy(),
                "scene": np.asarray(obs["scene"], dtype=np.int64)}


def register() -> None:
    """Register the simulator, dataset, task, action, sensors and measures with habitat-lab.

    Importing ``habitat_lab_classes`` registers them; Python imports a module once, so a
    second call does nothing. Without the extra, the ``ImportError`` names habitat-lab.
    """
    import habitat  # noqa: F401  (before gym, which habitat-lab brings)

    import llm4teach.domains.habitat.habitat_lab_classes  # noqa: F401
