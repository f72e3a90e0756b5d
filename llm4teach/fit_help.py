"""``llm4teach fit --help``: the project's own settings first, one line each, in a blink.

Building the fit's parser imports Lightning, TorchRL and MLflow (15 to 30 s on a small
machine), so the help of our settings is rendered from that parser ahead of time, shipped
as ``fit_help.txt`` and printed without importing any of them. A test renders it again
from the live parser and compares, so the file cannot drift from the settings; after
changing a setting, regenerate it with ``python -m llm4teach.fit_help``.
``llm4teach fit --help-all`` prints LightningCLI's full help (the Trainer's settings too).
"""

from __future__ import annotations

import sys
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

HELP_FILE = "fit_help.txt"
SECTIONS = {  # our config sections, in the order a user meets them
    "": "the run",
    "data": "the task, its envs and rollouts",
    "data.teacher": "the teacher (llm4teach teacher takes the same settings as --teacher.*)",
    "model.student": "the student network (its domain reads what its network has)",
    "model.optimiser": "the PPO step's optimiser",
    "model.ppo": "the PPO update",
    "schedule": "lambda, the weight of the KL to the teacher",
    "budget": "how long the run trains",
    "evaluation": "the held-out evaluation",
    "tracking": "MLflow",
}
RUN = {  # the run's own options, LightningCLI's among them, with our words
    "config": ("FILE", "a fit config (configs/*.yaml); options after it override its values"),
    "ckpt_path": ("last|FILE", "continue this run folder's run (last), or branch from another "
                               "run's checkpoint"),
    "seed_everything": ("INT", "seed of torch, numpy and the envs"),
}
SKIPPED = ("weights_only",)  # the fit always loads checkpoints with weights_only=True
HEADER = """\
usage: llm4teach fit [--config FILE] [--SECTION.SETTING VALUE ...] [--ckpt_path last|FILE]

Train a student with PPO on the task's reward plus lambda * KL(teacher || student), e.g.
  llm4teach fit --config configs/simpledoorkey.yaml --budget.total_frames 100000
"""
FOOTER = """
Lightning's Trainer settings (--trainer.devices, --trainer.strategy, --trainer.precision,
--trainer.default_root_dir ...) and the full parser: llm4teach fit --help-all
The resolved config of a command line: llm4teach fit ... --print_config
A config's classes (class_path: schedule, trainer.callbacks...) must be llm4teach's,
lightning's or torchrl's; allow a module of your own on the command line with
--allow_module NAME (a config file cannot allow its own code).
"""


def fit_parser() -> Any:
    """The ``fit`` parser exactly as a fit builds it (the ``FitCLI`` is stopped once parsed)."""
    from llm4teach.training.cli import FitCLI

    class Built(Exception):
        pass

    class ParserOnly(FitCLI):
        def parse_arguments(self, parser, args) -> None:
            raise Built(parser)

    try:
        ParserOnly([])
    except Built as built:
        return built.args[0]._subcommands_action._name_parser_map["fit"]
    raise AssertionError("FitCLI parsed without building its parser")


def _type_name(hint: Any) -> str:
    """A setting's type as a metavar: INT, FLOAT, {a,b}, [INT, ...], X|null."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return "|".join(names) + ("|null" if type(None) in args else "")
    if origin is tuple:
        return f"[{_type_name(args[0])}, ...]"
    if origin is dict:
        return "{KEY: VALUE}"
    if hint is bool:
        return "{true,false}"
    if hasattr(hint, "_restrictions"):  # jsonargparse's PositiveInt...: its base type's name
        return _type_name(hint._type)
    return getattr(hint, "__name__", str(hint)).upper()


def _default(value: Any) -> str:
    """A default as a user writes it in YAML or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def render(parser: Any) -> str:
    """Our settings of ``parser`` grouped by section, one line each; a setting without a help
    line is a ``ValueError`` (every setting a user can give says what it does)."""
    from llm4teach.training.schedules import LambdaSchedule

    lines: dict[str, list[str]] = {section: [] for section in SECTIONS}
    for action in parser._actions:
        dest = action.dest
        if (dest.startswith("trainer.") or dest.endswith(".help") or dest in SKIPPED
                or "--" + dest not in action.option_strings):
            continue
        hint = getattr(action, "_typehint", None)
        if dest in RUN:
            metavar, help_text = RUN[dest]
        elif dest == "schedule":
            names = sorted(c.__name__ for c in _subclasses(LambdaSchedule))
            metavar = "NAME"
            help_text = (f"{', '.join(names)}; --schedule.help NAME lists a schedule's "
                         "settings (--schedule.init_args.NAME VALUE)")
        elif hint is None:  # section loaders (--data FILE), help, print_config, links
            continue
        else:
            metavar, help_text = _type_name(hint), " ".join((action.help or "").split())
        if not help_text:
            raise ValueError(f"setting --{dest} has no help line: document it in its class's "
                             "docstring (Args: or Attributes:)")
        section = dest.rpartition(".")[0] if dest not in ("schedule",) else "schedule"
        if section not in SECTIONS:
            section = ""
        default = action.default
        if dest == "schedule":
            default = default.class_path.rpartition(".")[2]
        said = dest in ("config", "ckpt_path") or "default" in help_text
        shown = "" if said else f" (default: {_default(default)})"
        lines[section].append(f"  --{dest} {metavar}\n      {help_text}{shown}")
    body = "".join(f"\n{title}:\n" + "\n".join(lines[section]) + "\n"
                   for section, title in SECTIONS.items() if lines[section])
    return HEADER + body + FOOTER


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def print_help() -> None:
    """Print the shipped help (no import of Lightning, torch or MLflow)."""
    print(resources.files("llm4teach").joinpath(HELP_FILE).read_text(), end="")


if __name__ == "__main__":  # regenerate the shipped help from the live parser
    path = Path(__file__).with_name(HELP_FILE)
    path.write_text(render(fit_parser()))
    print(f"wrote {path}", file=sys.stderr)
