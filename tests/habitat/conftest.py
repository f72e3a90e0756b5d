"""The habitat-lab tests run only where the ``habitat`` extra is installed (``tox -e habitat``).

The other tests here (world, skills and env, teacher, visual student) need numpy and
torch only and run in the main test run too. Deciding by the installed ``habitat-lab``
distribution, without importing it, keeps the main run free of habitat-lab. habitat-lab
itself needs habitat-sim to import; see ``_import_standins.py``.
"""

from extras import installed

collect_ignore = [] if installed("habitat-lab") else ["test_habitat_lab.py"]
