"""Rollouts as a Lightning data module: a TorchRL collector over the batched, teacher-annotated env.

One batch is one rollout ``[num_envs, frames_per_batch / num_envs]``. With ``ahead`` (the
default, where it applies: one process on the CPU, a teacher that asks no LLM) a forked
process collects the next rollout while the update trains on this one, with the weights
from one update before, and plays the sampled student's held-out episodes while the fit
plays the greedy one's (``training/ahead.py``); otherwise the collector here holds the
very student the module trains, and every rollout uses the latest weights. A Lightning
epoch is ``epoch_frames`` frames; at each epoch start the envs, torch's RNG and the
teacher's generator (hard mode) are re-seeded from ``(seed, epoch, rank)``, so an epoch is
a pure function of the seed, the epoch index and the checkpointed weights: a run resumed
from an epoch-end checkpoint continues exactly as if never stopped. The reset cuts the
running episodes, so an epoch should give each env at least an episode's length of steps (a
warning says so when it does not). The teacher's counters travel in the checkpoint
(``state_dict``).
Under DDP an ``hf`` teacher's model runs on rank 0 only (``RankSharedPlanner``): every
rank settles with it after building the collector and after each rollout.

An LLM teacher answers new state texts on a worker thread (``teacher.wait`` false, the
default; one process): collection never waits on the model, a step whose text is not
answered yet carries no teacher loss (``teacher/pending``), and which steps those are
depends on how fast the model answers, so such a run is not bitwise reproducible, nor is
its resumption. ``teacher.wait`` true (and DDP) waits for every answer, as a table does.

The data module reads no counter of the module: the lambda schedule switches its
``teacher`` on and off, and the ``FrameBudget`` callback ends the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_warn
from tensordict import TensorDictBase
from torch.utils.data import DataLoader, IterableDataset
from torchrl.collectors import Collector
from torchrl.envs import EnvBase, TransformedEnv

from llm4teach.domains import DEFAULT_TASK, resolve
from llm4teach.student import ActorCritic
from llm4teach.teacher import TeacherConfig, TeacherTransform
from llm4teach.teacher.planners import RankSharedPlanner
from llm4teach.teacher.planners.background import BackgroundPlanner
from llm4teach.training.ahead import AheadCollector, reseed


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A well-mixed 32-bit seed for ``epoch`` of process ``rank`` of a run seeded ``seed``.

    Under DDP every rank collects its own episodes: the rank is part of the seed.
    """
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def make_collector(env: EnvBase, student: ActorCritic, frames_per_batch: int) -> Collector:
    """An endless on-policy collector: the student acts and writes its state values.

    It holds the very student the module trains, so every rollout uses the latest weights;
    the student acts where its weights are (a GPU, say) and the rollout is stored there,
    while the envs and the teacher run on the CPU.
    """
    device = next(student.parameters()).device
    return Collector(env, student, frames_per_batch=frames_per_batch, total_frames=-1,
                     env_device=env.device, policy_device=device, storing_device=device,
                     auto_register_policy_transforms=False)  # feed-forward: no InitTracker


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"data {name} must be a positive integer, got {value!r}")


class RolloutDataModule(LightningDataModule):
    """Collects on-policy rollouts of ``task``, ``epoch_frames`` frames per Lightning epoch.

    ``teacher`` configures the ``TeacherTransform`` that writes ``teacher_probs`` and
    ``teacher_mask``; once set up, ``self.teacher_transform`` is that transform (the schedule
    switches it off, no describing and no planning, whenever lambda is 0).
    """

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        num_envs: int = 16,
        frames_per_batch: int = 2048,
        epoch_frames: int = 20_480,
        seed: int = 0,
        ahead: bool = True,
        teacher: TeacherConfig = TeacherConfig(),  # noqa: B008 (read only; jsonargparse shows it)
    ) -> None:
        """The task's envs and their teacher.

        Args:
            task: a task name (llm4teach tasks lists them) or a MiniGrid/BabyAI id
            num_envs: envs stepped together in one batch
            frames_per_batch: frames of one rollout, one PPO update (a multiple of num_envs)
            epoch_frames: frames between evaluations and checkpoints (a multiple of
                frames_per_batch)
            seed: seed of the training envs (each epoch's is derived from it)
            ahead: collect the next rollout in a second process while the update runs, with
                the weights from one update before (one process on the CPU, a teacher that
                asks no LLM; otherwise in the fit's process)
            teacher: the teacher's settings (--data.teacher.*)
        """
        super().__init__()
        self.domain = resolve(task)  # an unknown task fails here, with the list of tasks
        for name, value in (("num_envs", num_envs), ("frames_per_batch", frames_per_batch),
                            ("epoch_frames", epoch_frames)):
            _positive(name, value)
        if frames_per_batch % num_envs:
            raise ValueError(f"data frames_per_batch ({frames_per_batch}) must be a multiple of "
                             f"num_envs ({num_envs})")
        if epoch_frames % frames_per_batch:
            raise ValueError(f"data epoch_frames ({epoch_frames}) must be a multiple of "
                             f"frames_per_batch ({frames_per_batch})")
        self.task, self.num_envs, self.seed, self.ahead = task, num_envs, seed, ahead
        self.frames_per_batch, self.epoch_frames = frames_per_batch, epoch_frames
        self.teacher_config = teacher
        self.teacher_transform: TeacherTransform | None = None
        self.env: TransformedEnv | None = None
        self.collector: Collector | None = None
        # collects ahead (``ahead``); plays the sampled evaluation beside the greedy one
        self.worker: AheadCollector | None = None
        self.teacher_only: list[str] = []  # keys the teacher reads and the student does not

    def setup(self, stage: str) -> None:
        if self.env is None:
            self.teacher_transform = self.domain.make_teacher(self.teacher_config)
            if not self.teacher_config.wait:
                self.teacher_transform.teacher.plan_in_background()
            self.env = TransformedEnv(self.domain.make_env(self.num_envs, self.seed),
                                      self.teacher_transform)

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        self._check_episode_cut()
        student = self.trainer.lightning_module.student
        self.teacher_only = [key for key in self.teacher_transform.in_keys
                             if key not in student.in_keys]
        self.collector = make_collector(self.env, student,
                                        self.frames_per_batch)  # resets the envs: may plan
        self.settle()
        if self._forks(student):
            self.worker = AheadCollector(self.env, self.teacher_transform, self.collector, student,
                                         self.domain.episode_envs, drop=self.teacher_only)
        return DataLoader(_Rollouts(self), batch_size=None, collate_fn=_identity)

    def _forks(self, student: ActorCritic) -> bool:
        """Whether collecting ahead in a forked process is asked for, safe and worth it."""
        on_cpu = next(student.parameters()).device.type == "cpu"
        llm = self.teacher_transform.teacher.planner.asks_llm
        return self.ahead and self.worker is None and on_cpu and not llm \
            and self.trainer.world_size == 1

    def _check_episode_cut(self) -> None:
        """Warn when the envs' reset at each epoch start comes before an episode can end:
        the student would never train on the later steps of a long episode."""
        limit = getattr(self.env.base_env, "max_episode_steps", None)
        world = self.trainer.world_size
        steps = self.epoch_frames // (self.num_envs * world)
        if limit is None or steps >= limit:
            return
        per_rollout = self.frames_per_batch // self.num_envs
        enough = -(-limit // per_rollout) * self.frames_per_batch * world
        rank_zero_warn(
            f"data epoch_frames {self.epoch_frames} gives each of the {self.num_envs} envs "
            f"{steps} steps per epoch, and the envs are reset at every epoch start: "
            f"{self.task}'s episodes (up to {limit} steps) are cut there, so the student never "
            f"trains on their later steps. Raise data.epoch_frames to {enough} or more, or "
            f"lower data.num_envs")

    def settle(self) -> None:
        """After each rollout: under DDP with a rank-shared planner, the point every rank
        reaches after planning (no collective may come between), where rank 0 answers the
        others until all have; with a background planner, where its failure (a dead server)
        stops the fit."""
        planner = self.teacher_transform.teacher.planner
        if isinstance(planner, RankSharedPlanner):
            planner.settle()
        elif isinstance(planner, BackgroundPlanner):
            planner.check()

    def state_dict(self) -> dict[str, dict[str, float]]:
        """The teacher's counters (``TeacherStats``, plain numbers), so that a resumed run's
        ``teacher/*`` continue from the checkpoint instead of restarting at 0."""
        transform = self.teacher_transform
        return {"teacher_stats": transform.stats.as_dict()} if transform else {}

    def load_state_dict(self, state_dict: dict[str, dict[str, float]]) -> None:
        self.setup("fit")
        stats = self.teacher_transform.stats
        for key, value in state_dict.get("teacher_stats", {}).items():
            setattr(stats, key, type(getattr(stats, key))(value))

    def teardown(self, stage: str) -> None:
        if self.teacher_transform is not None:
            teacher = self.teacher_transform.teacher
            teacher.close()
            planner = teacher.planner
            failure = planner.failure if isinstance(planner, BackgroundPlanner) else None
            if failure is not None:  # after the last rollout: too late to stop, not to tell
                rank_zero_warn(f"the teacher's model failed after the last rollout ({failure}):"
                               " the steps it had not answered were trained without a teacher")
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.collector is not None:
            self.collector.shutdown()
            self.collector = None
        if self.env is not None:
            self.env.close()
            self.env = None


class _Rollouts(IterableDataset):
    """One epoch of rollouts, re-seeded at its start."""

    def __init__(self, data: RolloutDataModule) -> None:
        self.data = data

    def __iter__(self) -> Iterator[TensorDictBase]:
        data, trainer = self.data, self.data.trainer
        seed = epoch_seed(data.seed, trainer.current_epoch, trainer.global_rank)
        # frames are counted over all ranks: each rank collects its share of an epoch
        per_update = data.frames_per_batch * trainer.world_size
        if data.epoch_frames % per_update:
            raise ValueError(
                f"data epoch_frames ({data.epoch_frames}) must be a multiple of frames_per_batch "
                f"x processes ({data.frames_per_batch} x {trainer.world_size} = {per_update})")
        count = data.epoch_frames // per_update
        if data.worker is not None:
            torch.manual_seed(seed)  # the updates' minibatch draws; the child seeds its own
            rollouts = data.worker.epoch(seed, count)
        else:
            reseed(data.env, data.teacher_transform, data.collector, seed)
            rollouts = (data.collector.next() for _ in range(count))
        for rollout in rollouts:
            data.settle()
            # what only the teacher reads: the update need not gather it per minibatch
            only = data.teacher_only
            yield rollout.exclude(*only, *(("next", key) for key in only))
        if data.worker is not None:  # the epoch's end: the next one's first rollout may be
            # collected while this one is evaluated
            data.worker.next_epoch(epoch_seed(data.seed, trainer.current_epoch + 1,
                                              trainer.global_rank))


def _identity(batch: TensorDictBase) -> TensorDictBase:
    return batch
