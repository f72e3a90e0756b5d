"""The one reward formula of every task: success pays more the sooner it comes."""


def success_reward(steps: int, max_steps: int) -> float:
    """``1 - 0.9 * steps / max_steps``: the reward for succeeding on step ``steps``.

    It stays in ``[0.1, 1]`` for ``1 <= steps <= max_steps``, so a late success still
    pays more than failure (0).

    Example:
        >>> success_reward(15, 150)
        0.91
    """
    return 1.0 - 0.9 * steps / max_steps
