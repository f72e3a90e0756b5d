"""Domains: one object per task whatever the spelling; the teacher asked about chosen envs."""

from __future__ import annotations

import numpy as np
import torch
from helpers import teacher_of
from torchrl.envs import TransformedEnv

from llm4teach.domains import resolve
from llm4teach.domains.minigrid import make_env
from llm4teach.teacher import TeacherConfig, TeacherTransform


def test_every_spelling_gives_one_domain_with_its_canonical_name():
    assert resolve("tidyhabitat") is resolve("TidyHabitat")
    assert resolve("twodoor") is resolve("LLM4Teach/TwoDoor-v0")
    teacher = resolve("TIDYHABITAT").make_teacher(TeacherConfig())
    _, mask = teacher.teacher.act_probs(np.array([[1, 0, 0, 0, 0, 0]]))
    assert mask.all()  # the Habitat table found from a lower-case name


def test_rows_of_chosen_envs_use_those_envs_episode_state():
    # TwoDoor numbers doors per episode: asking about envs 1 and 3 alone, in either order,
    # must answer as the whole batch does for them
    env = TransformedEnv(make_env("TwoDoor", num_envs=4, seed=5),
                         TeacherTransform(teacher_of("TwoDoor")))
    generator = torch.Generator().manual_seed(0)

    def teacher_acts(td):  # the teacher's own policy, so the agents find the doors
        draws = torch.multinomial(td["teacher_probs"], 1, generator=generator)
        return td.set("action", draws[:, 0])

    obs = env.rollout(120, teacher_acts, break_when_any_done=False)["observation"].numpy()
    whole, some = teacher_of("TwoDoor"), teacher_of("TwoDoor")
    for t in range(obs.shape[1]):
        probs, mask = whole.act_probs(obs[:, t])
        envs = [1, 3] if t % 2 else [3, 1]
        part, part_mask = some.act_probs(obs[envs, t], envs=envs)
        np.testing.assert_array_equal(part, probs[envs])
        np.testing.assert_array_equal(part_mask, mask[envs])
