"""The Habitat tests run only where the ``habitat`` extra is installed (``tox -e habitat``).

Deciding by the installed ``habitat-lab`` distribution, without importing it, keeps the
main test run exactly as it is without the extra (``find_spec("habitat")`` would not do:
with ``tests/`` on ``sys.path`` this folder itself looks like a ``habitat`` package).
habitat-lab itself needs habitat-sim to import; see ``_import_standins.py``.
"""

from importlib.metadata import PackageNotFoundError, version


def _installed(distribution: str) -> bool:
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


collect_ignore_glob = [] if _installed("habitat-lab") else ["test_*.py"]
