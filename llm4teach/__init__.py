"""llm4teach: a large language model teaches a small reinforcement-learning student."""

__version__ = "0.1.0"
