"""Whether an optional extra is installed, decided without importing it.

``find_spec("habitat")`` would not do: with ``tests/`` on ``sys.path`` the
``tests/habitat`` folder itself looks like a ``habitat`` package.
"""

from importlib.metadata import PackageNotFoundError, version


def installed(distribution: str) -> bool:
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True
