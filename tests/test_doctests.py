"""Every docstring example of the package runs, as a test (``python -m doctest`` style).

The habitat-lab adapter's modules import habitat-lab, so they run only where the extra is
installed (``tox -e habitat``).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from extras import installed

import llm4teach

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(llm4teach.__path__, "llm4teach.")
    if not info.name.endswith("__main__")  # runs the command when imported
    and (installed("habitat-lab") or "habitat_lab" not in info.name)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, in_tmp):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_package_has_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for name in MODULES
                   for test in finder.find(importlib.import_module(name)))
    assert examples >= 40
