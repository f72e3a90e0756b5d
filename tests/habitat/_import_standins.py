"""Inert stand-ins for ``habitat_sim``, ``magnum`` and ``corrade``, for importing habitat-lab.

habitat-lab 0.3.3 imports habitat-sim, Magnum and Corrade at ``import habitat`` (through
its rearrange task and object-state modules), although its core (``Env``, ``RLTaskEnv``,
the registry, the config system, ``habitat.gym``) never calls them for a simulator of
ours. habitat-sim is not on the package index, so on machines without conda the tests
install these stand-ins, only when the real modules are absent, only in the test process.
They simulate nothing: every attribute is an empty class, so any code path that really
used habitat-sim would produce nothing useful; every observation in these tests comes
from ``TidyWorld``. Tests that need the real habitat-sim check ``REAL_HABITAT_SIM``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from importlib.util import find_spec

NAMES = ("habitat_sim", "magnum", "corrade")
REAL_HABITAT_SIM = find_spec("habitat_sim") is not None


class _InertMeta(type):
    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _inert(name)

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator: leave the function as it is
        return type.__call__(cls)

    def __or__(cls, other):
        return cls

    __ror__ = __or__

    def __getitem__(cls, key):
        return cls

    def __iter__(cls):
        return iter(())


def _inert(name: str) -> type:
    class Inert(metaclass=_InertMeta):
        def __getattr__(self, attr: str):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _inert(attr)

        def __call__(self, *args, **kwargs):
            return _inert("result")()

    Inert.__name__ = Inert.__qualname__ = name
    return Inert


class _InertModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _inert(name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in NAMES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _InertModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:
        return None


def install() -> None:
    """Make ``import habitat`` possible without habitat-sim (no-op where it is installed)."""
    if not REAL_HABITAT_SIM and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
