"""The student: actor-critic networks as TorchRL tensordict modules."""

from llm4teach.student.networks import ENCODERS, ActorCritic, make_actor_critic

__all__ = ["ENCODERS", "ActorCritic", "make_actor_critic"]
