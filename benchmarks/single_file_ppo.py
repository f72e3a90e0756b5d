"""A minimal single-file PPO on plain gymnasium vector envs and torch.

The kind of script people write for themselves (CleanRL style), kept here only as the
throughput baseline our trainer is measured against (``benchmarks/throughput.py``).
Same task, same network, same PPO settings as the trainer's defaults; no teacher.

    python benchmarks/single_file_ppo.py --task SimpleDoorKey --frames 50000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from torch import nn

from llm4teach.domains.minigrid import make_gym_env


class ActorCritic(nn.Module):
    """The reference student: three 3x3 convs on the raw codes, separate heads."""

    def __init__(self, width: int, height: int, actions: int = 7) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        features = 64 * width * height
        self.actor = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, actions))
        self.critic = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(obs.permute(0, 3, 1, 2).float())
        return self.actor(hidden), self.critic(hidden).squeeze(-1)


def train(task: str, frames: int, num_envs: int = 32, steps: int = 64, seed: int = 0,
          epochs: int = 3, minibatch: int = 128, gamma: float = 0.99, gae_lambda: float = 0.95,
          clip: float = 0.2, lr: float = 1e-3) -> dict[str, float]:
    """Train for ``frames`` environment frames; return frames/s and the success rate seen."""
    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_gym_env(task) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    obs, _ = envs.reset(seed=seed)
    width, height = envs.single_observation_space.shape[:2]
    agent = ActorCritic(width, height)
    optimizer = torch.optim.Adam(agent.parameters(), lr=lr, eps=1e-8)

    obs_shape = envs.single_observation_space.shape
    buf_obs = torch.zeros((steps, num_envs, *obs_shape), dtype=torch.uint8)
    buf_actions = torch.zeros((steps, num_envs), dtype=torch.long)
    buf_logp, buf_values, buf_rewards, buf_dones = (
        torch.zeros((steps, num_envs)) for _ in range(4)
    )
    done = torch.zeros(num_envs)
    episodes = successes = 0
    start, collected, update_ends = time.perf_counter(), 0, []
    while collected < frames:
        # ---- collect one rollout of `steps` steps from every env
        for t in range(steps):
            obs_t = torch.from_numpy(obs)
            with torch.no_grad():
                logits, value = agent(obs_t)
            dist = torch.distributions.Categorical(logits=logits)
            action = dist.sample()
            buf_obs[t], buf_actions[t], buf_logp[t], buf_values[t] = (
                obs_t, action, dist.log_prob(action), value)
            buf_dones[t] = done
            obs, reward, terminated, truncated, _ = envs.step(action.numpy())
            buf_rewards[t] = torch.from_numpy(reward).float()
            done = torch.from_numpy(terminated | truncated).float()
            episodes += int(done.sum())
            successes += int((reward > 0).sum())
        collected += steps * num_envs

        # ---- GAE over the rollout
        with torch.no_grad():
            next_value = agent(torch.from_numpy(obs))[1]
        advantages = torch.zeros_like(buf_rewards)
        last = torch.zeros(num_envs)
        for t in reversed(range(steps)):
            not_done = 1.0 - (done if t == steps - 1 else buf_dones[t + 1])
            following = next_value if t == steps - 1 else buf_values[t + 1]
            delta = buf_rewards[t] + gamma * following * not_done - buf_values[t]
            last = delta + gamma * gae_lambda * not_done * last
            advantages[t] = last
        returns = advantages + buf_values

        # ---- clipped PPO over epochs of minibatches
        b_obs, b_actions = buf_obs.flatten(0, 1), buf_actions.flatten()
        b_logp, b_adv, b_ret, b_val = (x.flatten() for x in (buf_logp, advantages, returns,
                                                            buf_values))
        for _ in range(epochs):
            for idx in torch.randperm(b_obs.shape[0]).split(minibatch):
                logits, value = agent(b_obs[idx])
                dist = torch.distributions.Categorical(logits=logits)
                ratio = (dist.log_prob(b_actions[idx]) - b_logp[idx]).exp()
                adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                value_clipped = b_val[idx] + (value - b_val[idx]).clamp(-clip, clip)
                value_loss = torch.max((value - b_ret[idx]) ** 2,
                                       (value_clipped - b_ret[idx]) ** 2).mean()
                loss = policy_loss + 0.5 * value_loss - 0.001 * dist.entropy().mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimizer.step()
        update_ends.append(time.perf_counter())
    seconds = time.perf_counter() - start
    envs.close()
    per_update = steps * num_envs
    steady = (len(update_ends) - 1) * per_update / (update_ends[-1] - update_ends[0])
    return {"frames": collected, "seconds": seconds, "frames_per_s": collected / seconds,
            "steady_frames_per_s": steady, "success_rate": successes / max(episodes, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="SimpleDoorKey")
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--num-envs", type=int, default=32)
    args = parser.parse_args()
    print(train(args.task, args.frames, num_envs=args.num_envs))
