"""What the trainer needs of a task's domain: its batched env, teacher, student and evaluation.

The MiniGrid tasks (memory-map observations, primitive actions, the plan-table teacher)
and the Habitat domain's tidy-up task (egocentric RGB + depth, skills, the skill
teacher) differ in all four; the module, the rollout data and the evaluation ask
``domain_of(task)`` instead of knowing either. Neither domain imports habitat-lab: the
Habitat task here is the small rendered world of ``llm4teach.envs.habitat``.

Held-out episodes never meet training ones: training envs are seeded with 32-bit words
(``SeedSequence``); MiniGrid evaluation resets with seeds ``2**32 + i`` and Habitat
evaluation seeds its envs from ``2**32``. Success means a positive return (the door
opened; the apple reached the sink).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torchrl.envs import EnvBase

from llm4teach.envs import make_env, make_gym_env, resolve_task
from llm4teach.envs.habitat import (
    HABITAT_LAB_TASK,
    HABITAT_TASK,
    SKILLS,
    SkillBatchEnv,
    TidySkillEnv,
)
from llm4teach.student import ActorCritic, make_actor_critic
from llm4teach.student.visual import make_visual_actor_critic
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.teacher.habitat import SkillTeacher, SkillTeacherTransform

HELD_OUT_BASE = 2**32  # MiniGrid held-out episodes are reset with seeds 2**32 + i
HABITAT_HELD_OUT = 2**32  # SkillBatchEnv seed of the held-out Habitat episodes


class Domain(Protocol):
    """A family of tasks as the trainer sees it."""

    def make_env(self, task: str, num_envs: int, seed: int) -> EnvBase: ...

    def make_teacher(self, task: str, config: TeacherConfig) -> TeacherTransform: ...

    def make_student(self, task: str, encoder: str, hidden: int, channels: tuple[int, ...],
                     strides: tuple[int, ...] | None) -> ActorCritic: ...

    def evaluate_student(self, student: ActorCritic, task: str, episodes: int,
                         seed: int) -> dict[str, float]: ...

    def evaluate_teacher(self, transform: TeacherTransform, task: str,
                         episodes: int) -> dict[str, float]: ...


class MiniGridDomain:
    """The four LLM4Teach tasks and the standard MiniGrid DoorKey envs."""

    def __init__(self) -> None:
        self._held_out: dict[str, list] = {}  # envs reused across evaluations (reset by seed)

    def make_env(self, task: str, num_envs: int, seed: int) -> EnvBase:
        return make_env(task, num_envs, seed)

    def make_teacher(self, task: str, config: TeacherConfig) -> TeacherTransform:
        return TeacherTransform.from_config(task, config)

    def make_student(self, task: str, encoder: str, hidden: int, channels: tuple[int, ...],
                     strides: tuple[int, ...] | None) -> ActorCritic:
        shape = make_gym_env(task).observation_space.shape
        return make_actor_critic(shape, encoder=encoder, hidden=hidden, channels=channels,
                                 strides=strides)

    @torch.no_grad()
    def evaluate_student(self, student: ActorCritic, task: str, episodes: int,
                         seed: int) -> dict[str, float]:
        """Keyed ``student_greedy_*`` and ``student_sampled_*``; ``seed`` seeds the sampling.

        Both modes play the held-out episodes side by side, one student forward per step
        for every episode still running.
        """
        generator = torch.Generator().manual_seed(seed)
        greedy = torch.arange(2 * episodes) < episodes  # copy 0 greedy, copy 1 sampled

        def act(obs: np.ndarray, live: np.ndarray) -> torch.Tensor:
            logits = student.logits(torch.from_numpy(obs[live]))
            actions = logits.argmax(-1)
            sampled = ~greedy[torch.from_numpy(live)]
            actions[sampled] = _sample(logits[sampled].softmax(-1), generator)
            return actions

        greedy_metrics, sampled_metrics = self.play(task, act, episodes, copies=2)
        return {**{f"student_greedy_{k}": v for k, v in greedy_metrics.items()},
                **{f"student_sampled_{k}": v for k, v in sampled_metrics.items()}}

    def evaluate_teacher(self, transform: TeacherTransform, task: str,
                         episodes: int) -> dict[str, float]:
        teacher = transform.teacher

        def act(obs: np.ndarray, live: np.ndarray) -> np.ndarray:
            return teacher.sample_actions(obs)[live]  # every env: one describer per env

        teacher.reset()
        return self.play(task, act, episodes)[0]

    def play(self, task: str, policy: Callable, episodes: int,
             copies: int = 1) -> list[dict[str, float]]:
        """Play ``copies`` x ``episodes`` held-out episodes side by side (copy ``c``, episode
        ``i`` is reset with seed ``2**32 + i``); per copy: success rate, mean return, length.

        ``policy(obs, live)`` gets the observations ``[N, W, H, 4]`` of all envs and the
        mask of those still running, and returns the actions of those.
        """
        envs = self._held_out.setdefault(task, [])
        envs += [make_gym_env(task) for _ in range(copies * episodes - len(envs))]
        n = copies * episodes
        obs = np.stack([envs[i].reset(seed=HELD_OUT_BASE + i % episodes)[0] for i in range(n)])
        returns, lengths = np.zeros(n), np.zeros(n)
        live = np.ones(n, dtype=bool)
        while live.any():
            running = np.flatnonzero(live)
            actions = np.asarray(policy(obs, live)).tolist()
            for i, action in zip(running, actions, strict=True):
                obs[i], reward, terminated, truncated, _ = envs[i].step(action)
                returns[i] += reward
                lengths[i] += 1
                live[i] = not (terminated or truncated)
        return [{"success": float((r > 0).mean()), "return": float(r.mean()),
                 "length": float(length.mean())}
                for r, length in zip(returns.reshape(copies, episodes),
                                     lengths.reshape(copies, episodes), strict=True)]


class HabitatDomain:
    """The tidy-up task over skills in the small rendered world (``llm4teach.envs.habitat``).

    ``TidyHabitat`` steps the world directly; ``TidyHabitatLab`` trains on the same world
    through habitat-lab (registry, ``Env``, ``habitat.gym``), which is tested step for
    step equal to it, so both are evaluated on the direct one. ``encoder``,
    ``channels`` and ``strides`` describe the memory-map student and are not used here;
    the student is the visual one. Held-out episodes come from ``SkillBatchEnv`` seeded ``2**32``;
    success means a positive return (the apple reached the sink).
    """

    def make_env(self, task: str, num_envs: int, seed: int) -> EnvBase:
        return SkillBatchEnv(num_envs=num_envs, seed=seed, make=_skill_env(task))

    def make_teacher(self, task: str, config: TeacherConfig) -> TeacherTransform:
        if config.backend != "table":
            raise ValueError(f"the {HABITAT_TASK} teacher has only its stand-in plan table: "
                             f"set data.teacher.backend to table (got {config.backend!r})")
        return SkillTeacherTransform(SkillTeacher(config))

    def make_student(self, task: str, encoder: str, hidden: int, channels: tuple[int, ...],
                     strides: tuple[int, ...] | None) -> ActorCritic:
        return make_visual_actor_critic(TidySkillEnv().image_shape, len(SKILLS), hidden=hidden)

    @torch.no_grad()
    def evaluate_student(self, student: ActorCritic, task: str, episodes: int,
                         seed: int) -> dict[str, float]:
        """Keyed ``student_greedy_*`` and ``student_sampled_*``; ``seed`` seeds the sampling."""
        generator = torch.Generator().manual_seed(seed)
        out = {}
        for mode in ("greedy", "sampled"):
            def act(td, greedy=mode == "greedy"):
                logits = student.logits(td["observation"])
                return logits.argmax(-1) if greedy else _sample(logits.softmax(-1), generator)

            for key, value in self.play(task, act, episodes).items():
                out[f"student_{mode}_{key}"] = value
        return out

    def evaluate_teacher(self, transform: TeacherTransform, task: str,
                         episodes: int) -> dict[str, float]:
        teacher, generator = transform.teacher, torch.Generator().manual_seed(0)

        def act(td):
            probs, _ = teacher.act_probs(td["scene"])
            return _sample(torch.from_numpy(probs), generator)

        return self.play(task, act, episodes)

    @staticmethod
    @torch.no_grad()
    def play(task: str, policy: Callable, episodes: int) -> dict[str, float]:
        """First episode of each of ``episodes`` held-out envs: success, return, length.

        ``policy`` maps a step's tensordict (``observation``, ``scene``) to skills ``[N]``.
        """
        env = SkillBatchEnv(num_envs=episodes, seed=HABITAT_HELD_OUT)
        steps = env.envs[0].max_skills  # every episode ends by then

        def act(td):
            return td.set("action", policy(td))

        td = env.rollout(steps, act, break_when_any_done=False)
        reward, done = td["next", "reward"][..., 0], td["next", "done"][..., 0]
        first = done.cumsum(-1).cumsum(-1) == 1  # the step that ends the first episode
        returns = (reward * first).sum(-1)
        lengths = first.float().argmax(-1) + 1
        return {"success": float((returns > 0).float().mean()), "return": float(returns.mean()),
                "length": float(lengths.float().mean())}


def _skill_env(task: str) -> Callable[..., object]:
    """What one skill-level env is made by: the world itself, or habitat-lab's gym env of it."""
    if task.lower() != HABITAT_LAB_TASK.lower():
        return TidySkillEnv
    try:
        from llm4teach.envs.habitat.habitat_lab import HabitatGymSkillEnv, register

        register()
    except ImportError as err:
        raise ValueError(
            f"task {HABITAT_LAB_TASK} runs through habitat-lab, which cannot be imported here "
            f"({err}): install the habitat extra and habitat-sim in their own environment "
            f"(docs/habitat.md), or use task {HABITAT_TASK}") from None
    return HabitatGymSkillEnv


def _sample(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


_MINIGRID, _HABITAT = MiniGridDomain(), HabitatDomain()


def domain_of(task: str) -> Domain:
    """The domain of ``task``; an unknown name is one error line listing every task."""
    if task.lower() in (HABITAT_TASK.lower(), HABITAT_LAB_TASK.lower()):
        return _HABITAT
    try:
        resolve_task(task)
    except ValueError as err:
        raise ValueError(f"{err}; or the Habitat domain's {HABITAT_TASK}, {HABITAT_LAB_TASK}"
                         ) from None
    return _MINIGRID
