"""The memory-map observation: what was seen stays, what was not stays hidden."""

import numpy as np
import pytest
from minigrid.core.constants import OBJECT_TO_IDX
from minigrid.core.world_object import Key

from llm4teach.domains.minigrid import TASKS, make_gym_env
from llm4teach.domains.minigrid.memory_map import NO_DIRECTION

LEFT, PICKUP = 0, 3


def test_first_observation_shows_only_the_view():
    env = make_gym_env("SimpleDoorKey")
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    assert obs.shape == (10, 10, 4) and obs.dtype == np.uint8
    seen = obs[..., 0] != 0
    assert 1 <= seen.sum() <= 9, "a 3x3 view shows at most nine cells"
    ax, ay = base.agent_pos
    assert obs[ax, ay, 3] == base.agent_dir
    assert (np.delete(obs[..., 3].ravel(), ax * 10 + ay) == NO_DIRECTION).all()


def test_turning_around_keeps_what_was_seen():
    env = make_gym_env("SimpleDoorKey")
    obs, _ = env.reset(seed=0)
    seen_before = obs[..., 0] != 0
    for _ in range(4):
        obs, *_ = env.step(LEFT)
    seen_after = obs[..., 0] != 0
    assert (seen_after >= seen_before).all() and seen_after.sum() > seen_before.sum()


@pytest.mark.parametrize("task", [*TASKS, "MiniGrid-DoorKey-8x8-v0"])
def test_seen_cells_show_current_content_and_unseen_cells_are_zero(task):
    env = make_gym_env(task)
    base = env.unwrapped
    rng = np.random.default_rng(1)
    ever_visible = np.zeros((base.width, base.height), dtype=bool)
    env.reset(seed=5)
    for _ in range(400):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(0, 7)))
        truth = base.grid.encode()
        truth[truth[..., 0] == 0] = (OBJECT_TO_IDX["empty"], 0, 0)  # None cells
        seen = obs[..., 0] != 0
        ax, ay = base.agent_pos
        others = seen.copy()
        others[ax, ay] = False
        assert (obs[..., :3][others] == truth[others]).all()
        ever_visible |= seen
        if terminated or truncated:
            obs, _ = env.reset()
            ever_visible[:] = obs[..., 0] != 0
    # cells outside the room are never seen
    w, h = getattr(base, "room_size", (base.width, base.height))
    assert not ever_visible[w:, :].any() and not ever_visible[:, h:].any()


def test_carried_object_appears_at_the_agent_cell():
    env = make_gym_env("SimpleDoorKey")
    env.reset(seed=0)
    base = env.unwrapped
    ax, ay = base.agent_pos
    fx, fy = base.front_pos
    base.grid.set(fx, fy, Key("yellow"))
    obs, *_ = env.step(PICKUP)
    assert base.carrying is not None
    assert tuple(obs[ax, ay, :3]) == Key("yellow").encode()
    assert tuple(obs[fx, fy, :3]) == (OBJECT_TO_IDX["empty"], 0, 0)


@pytest.mark.parametrize("task", [*TASKS, "MiniGrid-DoorKey-8x8-v0", "MiniGrid-KeyCorridorS3R1-v0",
                                  "MiniGrid-LavaGapS5-v0", "MiniGrid-MultiRoom-N2-S4-v0"])
@pytest.mark.parametrize("view", [3, 7])
def test_egocentric_image_equals_minigrids_own_view(task, view):
    """The fast view the wrapper installs is MiniGrid's gen_obs image, cell for cell."""
    import gymnasium as gym
    from minigrid.minigrid_env import MiniGridEnv

    from llm4teach.domains.minigrid.memory_map import egocentric_image
    from llm4teach.domains.minigrid.registry import resolve_task

    base = gym.make(resolve_task(task) if task in TASKS else task, agent_view_size=view,
                    disable_env_checker=True).unwrapped
    rng = np.random.default_rng(0)
    base.reset(seed=3)
    for _ in range(300):
        assert (egocentric_image(base) == MiniGridEnv.gen_obs(base)["image"]).all()
        _, _, terminated, truncated, _ = base.step(int(rng.integers(0, 7)))
        if terminated or truncated:
            base.reset()


def test_wrapper_installs_the_fast_view_only_over_minigrids_own():
    from llm4teach.domains.minigrid.memory_map import MemoryMapObservation
    from llm4teach.domains.minigrid.tasks import SimpleDoorKeyEnv

    env = make_gym_env("SimpleDoorKey")
    assert env.unwrapped.gen_obs.__func__.__name__ == "_fast_gen_obs"

    class OwnView(SimpleDoorKeyEnv):
        def gen_obs(self):
            return super().gen_obs()

    base = OwnView()
    MemoryMapObservation(base)
    assert base.gen_obs.__func__ is OwnView.gen_obs  # an env's own view is left alone
