"""The LightningModule: one ``training_step`` is one PPO update over one collected rollout.

Loss per minibatch (spec 3): ``L = L_clipPPO + c_v L_value - c_e H(pi_S) + lambda KL(pi_T || pi_S)``
from ``PPOTeacherLoss``; every ``loss_*`` entry is summed. lambda is
``self.loss.distill_coef``, written only by a schedule callback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_type_hints

import torch
from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
)
from lightning.pytorch import LightningModule
from tensordict import TensorDictBase
from torchrl.objectives.value import GAE

from llm4teach.domains import DEFAULT_TASK, resolve
from llm4teach.metrics import (
    TRAIN,
    TRAIN_EPISODE_SUCCESS,
    TRAIN_FRAMES_PER_S,
    TRAIN_LAMBDA,
    TRAIN_LR,
    TRAIN_UPDATES,
)
from llm4teach.training.artifacts import log_rows
from llm4teach.training.loss import PPOTeacherLoss

LOGGED = ("loss_objective", "loss_critic", "loss_entropy", "loss_distill", "entropy",
          "kl_teacher", "teacher_agreement", "kl_approx", "clip_fraction", "explained_variance")


def _validate(settings: object) -> None:
    """Each field through its type's own check (jsonargparse checks a config's before the
    settings are made), kept as a plain number: checkpoints load with weights_only."""
    types = get_type_hints(type(settings))
    for item in fields(settings):
        kind = types[item.name]
        if not hasattr(kind, "_type"):
            continue  # a choice or a shape: jsonargparse checks it, the network refuses it
        try:
            value = kind(getattr(settings, item.name))
        except ValueError as err:
            section = type(settings).__name__.lower()
            raise ValueError(f"model {section}.{item.name}: {err}") from None
        object.__setattr__(settings, item.name, kind._type(value))


@dataclass(frozen=True)
class Student:
    """The student network's settings; its domain reads what its network has (MiniGrid's
    memory-map network all of them, the Habitat domain's visual one ``hidden``).

    Attributes:
        encoder: how the memory map's cells are encoded: embedding, onehot or the reference conv
        hidden: width of the actor and critic heads
        channels: output channels of each conv layer of the student
        strides: stride of each conv layer (default: 1 each)
        frame: map reads the memory map as it is (the reference); agent turns it so the
            agent faces up (the same decision in every direction: fewer frames to learn)
        embed_dim: size of the learned vector of each of a cell's four codes (encoder
            embedding)
    """

    encoder: Literal["onehot", "embedding", "conv"] = "embedding"
    hidden: PositiveInt = 64
    channels: tuple[int, ...] = (16, 32, 64)
    strides: tuple[int, ...] | None = None
    frame: Literal["map", "agent"] = "map"
    embed_dim: PositiveInt = 8

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class Optimiser:
    """The PPO step's optimiser (Adam).

    Attributes:
        lr: Adam learning rate
        lr_warmup: PPO updates over which the learning rate rises linearly to lr (0: from the
            start); a full first step can kill a wide student's units (large maps)
        adam_eps: Adam epsilon
        max_grad_norm: gradient norm clipped to before each step
    """

    lr: OpenUnitInterval = 1e-3
    lr_warmup: NonNegativeInt = 0
    adam_eps: PositiveFloat = 1e-8
    max_grad_norm: NonNegativeFloat = 0.5

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class PPO:
    """PPO's update over one rollout (reference settings are the defaults).

    Attributes:
        clip_epsilon: PPO's clip range of the probability ratio
        clip_value: clip range of the value update (0 turns value clipping off)
        value_coef: weight of the value loss
        entropy_coef: weight of the entropy bonus
        epochs: PPO passes over each rollout
        minibatch_size: frames per gradient step
        gamma: discount factor
        gae_lambda: GAE's lambda (bias against variance of the advantage)
    """

    clip_epsilon: ClosedUnitInterval = 0.2
    clip_value: NonNegativeFloat = 0.2
    value_coef: NonNegativeFloat = 0.5
    entropy_coef: NonNegativeFloat = 0.001
    epochs: PositiveInt = 3
    minibatch_size: PositiveInt = 128
    gamma: ClosedUnitInterval = 0.99
    gae_lambda: ClosedUnitInterval = 0.95

    def __post_init__(self) -> None:
        _validate(self)


class PPOTeacherModule(LightningModule):
    """Clipped PPO + KL to the teacher (manual optimisation).

    The student is the task's domain's (``llm4teach.domains``), built from ``student``.
    Reference settings are the defaults; ``ppo.epochs``
    are PPO passes over one rollout (a Lightning epoch is ``data.epoch_frames`` of rollouts).
    ``frames`` and ``updates`` are buffers, so the checkpoint carries the counters the
    schedules and the frame budget read.
    """

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        student: Student = Student(),  # noqa: B008 (frozen; jsonargparse shows it)
        optimiser: Optimiser = Optimiser(),  # noqa: B008 (frozen; jsonargparse shows it)
        ppo: PPO = PPO(),  # noqa: B008 (frozen; jsonargparse shows it)
    ) -> None:
        """The student and its PPO update.

        Args:
            task: the task, set from data.task (the student's shape depends on it)
            student: the student network (--model.student.*)
            optimiser: the PPO step's optimiser (--model.optimiser.*)
            ppo: PPO's update (--model.ppo.*)
        """
        super().__init__()
        self.save_hyperparameters()
        # plain values in the checkpoint: it loads with weights_only (from_hparams reads them)
        self.hparams.student = asdict(student)
        self.hparams.optimiser, self.hparams.ppo = asdict(optimiser), asdict(ppo)
        self.optimiser, self.ppo = optimiser, ppo
        self.automatic_optimization = False
        self.domain = resolve(task)
        self.student = self.domain.make_student(student)
        # The collector writes state values; bootstrap() adds the next ones (no value network).
        self.gae = GAE(gamma=ppo.gamma, lmbda=ppo.gae_lambda, value_network=None)
        # Advantages are normalised once per rollout below, as the reference does.
        self.loss = PPOTeacherLoss(self.student, clip_epsilon=ppo.clip_epsilon,
                                   clip_value=ppo.clip_value, entropy_coef=ppo.entropy_coef,
                                   value_coef=ppo.value_coef)
        self.register_buffer("frames", torch.zeros((), dtype=torch.int64))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        self.lr_scale = 1.0  # the lambda schedule's: smaller PPO steps as the teacher hands over
        self._clock: float | None = None
        self._train_rows: list[tuple[int, dict[str, float]]] = []

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> PPOTeacherModule:
        """The module of a checkpoint's ``hyper_parameters`` (settings as plain values)."""
        settings = {k: v for k, v in hparams.items() if not k.startswith("_")}
        return cls(**{**settings, "student": Student(**settings["student"]),
                      "optimiser": Optimiser(**settings["optimiser"]),
                      "ppo": PPO(**settings["ppo"])})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # One fused kernel for all parameters, not a loop over tensors. Lightning's
        # mixed precision refuses to clip a fused optimizer's gradients: foreach there.
        mixed = "mixed" in str(self.trainer.precision) if self._trainer is not None else False
        return torch.optim.Adam(
            self.student.parameters(), lr=self.optimiser.lr, eps=self.optimiser.adam_eps,
            fused=not mixed, foreach=mixed or None,
        )

    def training_step(self, dataloader_iter: Iterator) -> None:
        # The rollout is fetched here, after the previous update: no stale prefetch.
        rollout, _, _ = next(dataloader_iter)
        settings, ppo, optimizer = self.optimiser, self.ppo, self.optimizers()
        warmup = min(1.0, (int(self.updates) + 1) / max(settings.lr_warmup, 1))
        lr = settings.lr * warmup * self.lr_scale
        for group in optimizer.param_groups:
            group["lr"] = lr  # of the update count and the schedule: a resumed run continues it

        self.advantages(rollout)
        flat = rollout.select(*self.loss.in_keys, strict=False).reshape(-1)  # what the loss reads
        sums: dict[str, torch.Tensor] = {}
        for _ in range(ppo.epochs):
            for idx in torch.randperm(flat.numel(), device=flat.device).split(ppo.minibatch_size):
                losses = self.losses(flat[idx])
                optimizer.zero_grad()
                self.manual_backward(losses["loss"])
                self.clip_gradients(optimizer, gradient_clip_val=settings.max_grad_norm,
                                    gradient_clip_algorithm="norm")
                optimizer.step()
                for key in LOGGED:
                    value = losses.get(key, None)
                    if value is not None:
                        sums[key] = sums.get(key, 0.0) + value.detach().float().mean()
        steps = ppo.epochs * len(range(0, flat.numel(), ppo.minibatch_size))

        self.frames += rollout.numel() * self.trainer.world_size  # all ranks' frames
        self.updates += 1
        self._log_update({k: v / steps for k, v in sums.items()}, rollout, lr)

    def on_train_epoch_end(self) -> None:
        log_rows(self.loggers, self._train_rows)
        self._train_rows = []

    @torch.no_grad()
    def advantages(self, rollout: TensorDictBase) -> None:
        """GAE ``advantage`` (normalised per rollout, as the reference) and ``value_target``."""
        self.bootstrap(rollout)
        self.gae(rollout)
        adv = rollout["advantage"]
        rollout["advantage"] = (adv - adv.mean()) / (adv.std() + 1e-8)

    def losses(self, minibatch: TensorDictBase) -> TensorDictBase:
        """Every loss term and diagnostic of a minibatch; ``loss`` is the sum of the ``loss_*``."""
        losses = self.loss(minibatch)
        losses["loss"] = sum(v for k, v in losses.items() if k.startswith("loss_"))
        return losses

    @torch.no_grad()
    def bootstrap(self, rollout: TensorDictBase) -> None:
        """Write ``("next", "state_value")`` from the values the collector already wrote.

        A step's next value is the following step's value, except where its episode ended
        or the rollout does: only there does the critic read the next observation.
        """
        value = rollout["state_value"]  # [envs, time, 1]
        next_value = torch.empty_like(value)
        next_value[:, :-1] = value[:, 1:]
        ends = rollout["next", "done"].squeeze(-1).clone()
        ends[:, -1] = True
        next_value[ends] = self.student.value(rollout["next", "observation"][ends]).to(value)
        rollout["next", "state_value"] = next_value

    def _log_update(self, means: dict[str, Any], rollout: TensorDictBase, lr: float) -> None:
        now = time.perf_counter()
        frames = rollout.numel() * self.trainer.world_size
        fps = frames / (now - self._clock) if self._clock else 0.0
        self._clock = now
        done = rollout["next", "done"]
        episodes = done.sum()
        train = {TRAIN + k: v for k, v in means.items()}
        train[TRAIN_LAMBDA] = self.loss.distill_coef
        train[TRAIN_UPDATES] = self.updates.float()
        train[TRAIN_LR] = lr
        train[TRAIN_FRAMES_PER_S] = fps
        if episodes > 0:
            success = ((rollout["next", "reward"] > 0) & done).sum() / episodes
            train[TRAIN_EPISODE_SUCCESS] = success
        # To the loggers against environment frames (not optimizer steps), once, in one write
        # per epoch (an sqlite store commits each write): Lightning's own logging would log
        # them again at every epoch end.
        self._train_rows.append((int(self.frames), {k: float(v) for k, v in train.items()}))
        self.log_dict({"frames": self.frames.float(), "fps": fps, "lambda": self.loss.distill_coef},
                      prog_bar=True, logger=False, on_step=True, on_epoch=False,
                      batch_size=rollout.numel())
