"""The generic batched TorchRL env that every domain's env derives from (``batch.py``).

Each domain's own envs live in ``llm4teach.domains.<family>``.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "BatchEnv":  # torch and TorchRL only when an env is made
        from llm4teach.envs.batch import BatchEnv

        return BatchEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BatchEnv"]
