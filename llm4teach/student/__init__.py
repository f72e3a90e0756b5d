"""The student every domain shares: actor-critic heads on a domain's body."""

from llm4teach.student.actor_critic import ActorCritic, assemble

__all__ = ["ActorCritic", "assemble"]
