"""Which code a fit's settings may name.

A ``class_path`` (``schedule``, ``trainer.callbacks``, ``trainer.logger``...) makes
jsonargparse import the named module before it checks the class's type, so a config
naming any other module would run that module's code, and under ``python -m llm4teach``
a file in the current folder is such a module. ``check_class_paths`` reads the command
line and its config files before they are parsed and refuses every dotted name outside
the packages the project offers classes from (``llm4teach``, ``lightning``, ``torchrl``)
and the modules ``--allow_module`` names on the command line: a config file cannot
allow its own code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

OFFERED = ("llm4teach", "lightning", "torchrl")
ALLOW_OPTION = "--allow_module"
# settings whose values jsonargparse resolves as classes (the Trainer's among them)
CLASS_SETTINGS = ("schedule", "trainer.callbacks", "trainer.logger", "trainer.plugins",
                  "trainer.strategy", "trainer.profiler", "trainer.accelerator")
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def split_allowed(argv: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
    """``argv`` without its ``--allow_module NAME`` pairs, and those names."""
    rest, allowed, items = [], [], iter(argv)
    for item in items:
        if item == ALLOW_OPTION:
            name = next(items, "")
            if not DOTTED.fullmatch(name) and not name.isidentifier():
                raise ValueError(f"{ALLOW_OPTION} takes a module name (e.g. my_callbacks), got "
                                 f"{name!r}")
            allowed.append(name)
        elif item.startswith(f"{ALLOW_OPTION}="):
            raise ValueError(f"write {ALLOW_OPTION} NAME, not {item}")
        else:
            rest.append(item)
    return rest, tuple(allowed)


def check_class_paths(argv: Sequence[str], allowed: Sequence[str] = ()) -> None:
    """Refuse, before anything is imported, a class of a module neither offered nor
    ``allowed`` in the command line's class settings or its ``--config`` files: one
    ``ValueError`` naming the setting, where it was found and the two fixes."""
    roots = (*OFFERED, *allowed)
    for where, setting, name in _named_classes(argv):
        if not any(name == root or name.startswith(f"{root}.") for root in roots):
            module = name.rpartition(".")[0]
            raise ValueError(
                f"{setting} names {name} ({where}), a class of the module {module}, which a "
                f"fit may not import (its code would run before any check): use a class of "
                f"{', '.join(OFFERED[:-1])} or {OFFERED[-1]}, or allow your module on the "
                f"command line with {ALLOW_OPTION} {module}")


def _named_classes(argv: Sequence[str]) -> Iterator[tuple[str, str, str]]:
    """``(where, setting, dotted name)`` of every class the command line names."""
    for option, value in _options(argv):
        key = option.removeprefix("--").removesuffix("+")
        if key == "config":
            yield from _in_tree(_read(value), "", f"config {value}")
        elif _names_classes(key) or any(s.startswith(f"{key}.") for s in CLASS_SETTINGS):
            tree = _read(value) if Path(value).is_file() else _inline(value)
            yield from _in_tree(tree, key, f"command line {option}")


def _options(argv: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(--option, value)`` pairs, ``--option=value`` and ``--option value`` alike."""
    for i, item in enumerate(argv):
        if not item.startswith("--"):
            continue
        if "=" in item:
            option, value = item.split("=", 1)
            yield option, value
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            yield item, argv[i + 1]


def _names_classes(key: str) -> bool:
    return key.split(".")[-1] == "class_path" or any(
        key == s or key.startswith(f"{s}.") for s in CLASS_SETTINGS)


def _in_tree(tree: Any, key: str, where: str) -> Iterator[tuple[str, str, str]]:
    """The dotted names in a config (sub)tree at ``key`` that jsonargparse would import."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from _in_tree(value, f"{key}.{name}".lstrip("."), where)
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _in_tree(value, f"{key}[{i}]", where)
    elif isinstance(tree, str) and DOTTED.fullmatch(tree) and _names_classes(
            re.sub(r"\[\d+\]", "", key)):
        yield where, key, tree


def _read(path: str) -> Any:
    """A config file's tree; one that cannot be read is left to the parser to report."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _inline(value: str) -> Any:
    """A command-line value as jsonargparse reads it: YAML (a list, a mapping) or a string."""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value
