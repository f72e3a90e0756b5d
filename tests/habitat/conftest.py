"""The Habitat tests run only where the ``habitat`` extra is installed (``tox -e habitat``).

Deciding by whether habitat-lab is installed, without importing it, keeps the main test
run exactly as it is without the extra; habitat-lab itself may still be unimportable
(it needs habitat-sim), which ``test_habitat_lab.py`` reports as a skip.
"""

from importlib.util import find_spec

collect_ignore_glob = [] if find_spec("habitat") is not None else ["test_*.py"]
