"""Training: envs + teacher + student wired into Lightning (PPO + KL to the teacher).

``llm4teach fit --config configs/<task>.yaml`` runs it (``llm4teach.training.cli``).
"""

from llm4teach.training.data import RolloutDataModule
from llm4teach.training.loss import PPOTeacherLoss
from llm4teach.training.module import PPOTeacherModule

__all__ = ["PPOTeacherModule", "PPOTeacherLoss", "RolloutDataModule"]
