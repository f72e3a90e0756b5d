"""The Habitat tests run only where the ``habitat`` extra is installed (``tox -e habitat``).

Deciding by the installed ``habitat-lab`` distribution, without importing it, keeps the
main test run exactly as it is without the extra. habitat-lab itself needs habitat-sim
to import; see ``_import_standins.py``.
"""

from extras import installed

collect_ignore_glob = [] if installed("habitat-lab") else ["test_*.py"]
