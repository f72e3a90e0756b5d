"""llm4teach: a large language model teaches a small reinforcement-learning student."""

from llm4teach import clock  # noqa: F401  (this process's clock starts at the first import)

__version__ = "0.1.0"
