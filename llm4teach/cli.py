"""The ``llm4teach`` command.

Each subcommand lives with the code it drives; this module only dispatches, so that
``llm4teach --help`` stays fast and lists everything.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sys
import traceback
import urllib.error
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from llm4teach.domains import DEFAULT_TASK
from llm4teach.metrics import TEACHER_SUCCESS

if TYPE_CHECKING:  # imported where used, so that ``llm4teach --help`` stays fast
    from jsonargparse import ArgumentParser, Namespace

    from llm4teach.teacher import TeacherConfig


def _demo(args: argparse.Namespace) -> None:
    """Step a task with a random policy through a TorchRL collector and report the rate."""
    import time

    from torchrl.collectors import Collector

    from llm4teach.domains import resolve

    env = resolve(args.task).make_env(args.num_envs, args.seed)
    collector = Collector(
        env, policy=None, frames_per_batch=args.num_envs * 64, total_frames=args.frames
    )
    start, frames, successes, episodes = time.perf_counter(), 0, 0, 0
    for batch in collector:
        frames += batch.numel()
        done = batch["next", "done"]
        episodes += int(done.sum())
        successes += int((batch["next", "reward"] > 0).sum())
    collector.shutdown()
    seconds = time.perf_counter() - start
    print(
        f"{args.task}: {frames} frames in {seconds:.1f}s ({frames / seconds:,.0f} frames/s), "
        f"{episodes} episodes, random-policy success {successes / max(episodes, 1):.1%}"
    )


def _compare(args: argparse.Namespace) -> None:
    from pathlib import Path

    from llm4teach.compare import compare
    from llm4teach.tracking import check_store, resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    check_store(tracking_uri)
    result = compare(
        tracking_uri=tracking_uri, experiments=args.experiment,
        run_ids=args.run_id, filter_string=args.filter, metric=args.metric,
        group_by=args.group_by, out_dir=Path(args.out),
    )
    print(result.markdown)
    print(f"\nwrote {Path(args.out) / 'compare.md'} and {result.plot_path}")


def _evaluate(args: argparse.Namespace) -> None:
    from llm4teach.training.evaluation import evaluate_checkpoint

    for key, value in evaluate_checkpoint(args.ckpt, episodes=args.episodes).items():
        print(f"{key:28s} {value:.3f}")


def _tasks(args: argparse.Namespace) -> None:
    """The task names (``llm4teach.domains.task_names``, read from the light family
    packages: no torch, so the list comes in about a second); ``--all``: every id too."""
    from llm4teach.domains import families, task_names

    for name, about in task_names().items():
        print(f"{name:16s} {about}")
    for family in families():
        if args.all and family.other_names():
            print("and these ids:")
            print("\n".join(family.other_names()))
        elif family.more_names():
            print(f"and {family.more_names()}")


def teacher(argv: Sequence[str]) -> None:
    """``llm4teach teacher``: the teacher acting alone on the held-out episodes
    (``llm4teach teacher export ...``: ``teacher_export``).

    Its settings are ``TeacherConfig``'s (``--teacher.mode hard``...), with the same
    defaults as a fit's ``data.teacher``; ``--config`` takes the task, the teacher and the
    episode count of a fit config. The episodes and the loop are the training
    evaluation's, so the success printed equals a run's ``eval/teacher_success``.
    """
    if argv and argv[0] == "export":
        teacher_export(argv[1:])
        return
    if argv and argv[0] == "texts":
        teacher_texts(argv[1:])
        return
    import dataclasses

    from llm4teach.domains import resolve
    from llm4teach.domains.held_out import evaluate_teacher
    from llm4teach.teacher.planners.base import COUNTERS

    parser = _teacher_parser("llm4teach teacher",
                             "Evaluate the teacher acting alone (sampling pi_T) on the held-out "
                             "episodes (llm4teach teacher export --help: record an LLM's plan "
                             "table).",
                             episodes=(100, "held-out episodes: episode i is reset with seed "
                                            "2**32 + i"),
                             epilog="teacher counters (the line after the success):\n" + "\n".join(
                                 f"  {name:15s} {about}" for name, about in COUNTERS.items()))
    args, config = _parse_teacher_args(parser, argv)
    domain = resolve(args.task)
    transform = domain.make_teacher(config)
    metrics = evaluate_teacher(transform, domain.episode_envs(args.episodes), args.episodes)
    print(f"{args.task:16s} {config.mode:4s} episodes {args.episodes:4d}  "
          f"success {metrics[TEACHER_SUCCESS]:6.1%}  return {metrics['teacher_return']:.3f}"
          f"  length {metrics['teacher_length']:6.1f}")
    stats = ", ".join(f"{k} {v:g}" for k, v in dataclasses.asdict(transform.stats).items())
    print(f"teacher counters: {stats} (llm4teach teacher --help says what each counts)")


def teacher_export(argv: Sequence[str]) -> None:
    """``llm4teach teacher export``: an LLM's plans (an ``--teacher.backend`` that asks one)
    for the state texts of a task's episodes, written as a plan table file that
    ``--data.teacher.plans`` replays with no model (``llm4teach.teacher.export``)."""
    from llm4teach.teacher.config import llm_backends
    from llm4teach.teacher.export import POLICIES, check_out, export_table, write_table

    parser = _teacher_parser("llm4teach teacher export",
                             f"Ask an LLM teacher (--teacher.backend {llm_backends()}) about the "
                             "distinct state texts of a task's episodes and write its answers "
                             "as a plan table, which --data.teacher.plans (fit) and "
                             "--teacher.plans (llm4teach teacher) replay without the model.",
                             episodes=(20, "episodes to play; episode i is reset with seed "
                                           "--seed + i"))
    parser.add_argument("--out", type=str, required=True,
                        help="the table file to write (.json, .yaml or .yml)")
    parser.add_argument("--policy", type=str, default="teacher", choices=POLICIES,
                        help="who acts in the episodes: the LLM teacher itself or a uniform "
                             "random policy")
    parser.add_argument("--seed", type=int, default=0, help="the first episode's seed")
    parser.add_argument("--batch", type=int, default=16,
                        help="state texts sent to the model at a time")
    args, config = _parse_teacher_args(parser, argv)
    out = check_out(args.out)
    table = export_table(args.task, config, args.episodes, args.policy, args.seed, args.batch,
                         progress=lambda line: print(f"teacher export: {line}", file=sys.stderr))
    write_table(table, out)
    print(f"wrote {out}: {len(table['states'])} state texts with plans, "
          f"{len(table['no_plan'])} without (the fallback decides there); replay it with "
          f"--data.teacher.plans {out}")


def teacher_texts(argv: Sequence[str]) -> None:
    """``llm4teach teacher texts``: the distinct state texts a task's episodes meet, with the
    number of episodes each occurs in (the material for a plan table or a prompt)."""
    import warnings

    from llm4teach.teacher.export import POLICIES, state_texts

    parser = _teacher_parser("llm4teach teacher texts",
                             "Play episodes of a task and list the distinct state texts the "
                             "teacher would be asked about, most common first, with the number "
                             "of episodes each occurs in: the rows of a plan table "
                             "(--data.teacher.plans) for a task without one.",
                             episodes=(50, "episodes to play; episode i is reset with seed "
                                           "--seed + i"))
    parser.add_argument("--policy", type=str, default="random", choices=POLICIES,
                        help="who acts in the episodes: a uniform random policy or the teacher")
    parser.add_argument("--seed", type=int, default=0, help="the first episode's seed")
    args, config = _parse_teacher_args(parser, argv)
    with warnings.catch_warnings():  # listing texts for a task without a table is the point
        warnings.filterwarnings("ignore", message="no plan table teaches")
        counts, result = state_texts(args.task, config, args.episodes, args.policy, args.seed)
    for text, n in counts.items():
        print(f"{n:5d}  {text}")
    print(f"{len(counts)} distinct state texts in {args.episodes} episodes of {args.task} "
          f"({args.policy} policy, success {result['success']:.1%}); the number is the episodes "
          "each occurs in", file=sys.stderr)


def _teacher_parser(prog: str, description: str, episodes: tuple[int, str],
                    epilog: str | None = None) -> ArgumentParser:
    """The parser both teacher commands share: ``--config``, ``--task``, ``--episodes``
    (default and help) and ``TeacherConfig``'s settings as ``--teacher.*``; ``epilog``
    ends the help as written."""
    from argparse import RawDescriptionHelpFormatter

    from jsonargparse import ArgumentParser, DefaultHelpFormatter

    from llm4teach.teacher import TeacherConfig

    class Formatter(DefaultHelpFormatter, RawDescriptionHelpFormatter):
        """The epilog's lines as written."""

    parser = ArgumentParser(prog=prog, exit_on_error=False, description=description,
                            formatter_class=Formatter, epilog=epilog)
    parser.add_argument("--config", help="a fit config (configs/*.yaml): its data.task, "
                        "data.teacher and evaluation.episodes become the defaults")
    parser.add_argument("--task", type=str, default=DEFAULT_TASK,
                        help="a task name or id (llm4teach tasks lists them)")
    parser.add_argument("--episodes", type=int, default=episodes[0], help=episodes[1])
    # wait is a fit's (whether collection waits for the LLM): these commands always wait
    parser.add_class_arguments(TeacherConfig, "teacher", skip={"wait"})
    return parser


def _parse_teacher_args(parser: ArgumentParser,
                        argv: Sequence[str]) -> tuple[Namespace, TeacherConfig]:
    """``(arguments, TeacherConfig)``, a ``--config``'s values as the defaults; a bad
    argument is one ValueError line."""
    from argparse import ArgumentError

    import yaml

    from llm4teach.teacher import TeacherConfig

    try:
        fit_config = parser.parse_args(argv).config
        if fit_config:
            with open(fit_config, encoding="utf-8") as f:
                parser.set_defaults(_fit_defaults(yaml.safe_load(f) or {}, fit_config))
        args = parser.parse_args(argv)
    except yaml.YAMLError as err:
        raise ValueError(f"--config {fit_config} is not valid YAML "
                         f"({' '.join(str(err).split())[:160]}): fix the file") from None
    except OSError as err:
        raise ValueError(f"--config {fit_config} cannot be read ({err.strerror or err}): pass "
                         "a fit config such as configs/simpledoorkey.yaml") from None
    except (ArgumentError, KeyError) as err:
        raise ValueError(" ".join(str(err).split())) from None
    # a --config's values are defaults, which jsonargparse does not check
    if type(args.episodes) is not int or args.episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {args.episodes!r}")
    return args, TeacherConfig(**vars(args.teacher))


def _fit_defaults(fit: object, path: str) -> dict[str, object]:
    """The teacher command's defaults from a fit config (dotted keys, as jsonargparse sets);
    a file of another shape is a ValueError naming the part that is not a mapping."""

    def mapping(value: object, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"--config {path}: {where} is a {type(value).__name__}, not a "
                             "mapping: pass a fit config (data: {task: ..., teacher: {...}}, "
                             "evaluation: {episodes: ...}), such as configs/simpledoorkey.yaml")
        return value

    fit = mapping(fit, "the file")
    data = mapping(fit.get("data"), "data")
    defaults: dict[str, object] = {f"teacher.{k}": v for k, v in
                                   mapping(data.get("teacher"), "data.teacher").items()
                                   if k != "wait"}
    if "task" in data:
        defaults["task"] = data["task"]
    episodes = mapping(fit.get("evaluation"), "evaluation").get("episodes")
    if episodes is not None:
        defaults["episodes"] = episodes
    return defaults


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm4teach",
        description="A large language model teaches a small reinforcement-learning student.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tasks = sub.add_parser("tasks", help="list the tasks")
    tasks.add_argument("--all", action="store_true",
                       help="also list every other id a family accepts, one a line")
    tasks.set_defaults(func=_tasks)

    demo = sub.add_parser("demo", help="run a random policy through the TorchRL collector")
    demo.add_argument("--task", default=DEFAULT_TASK)
    demo.add_argument("--num-envs", type=int, default=8)
    demo.add_argument("--frames", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    sub.add_parser(
        "fit", add_help=False,
        help="train a student (LightningCLI: llm4teach fit --config configs/simpledoorkey.yaml; "
             "llm4teach fit --help lists every setting)",
    )

    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint on held-out seeds")
    evaluate.add_argument("--ckpt", required=True, help="checkpoint file (e.g. .../last.ckpt)")
    evaluate.add_argument("--episodes", type=int, default=100)
    evaluate.set_defaults(func=_evaluate)

    sub.add_parser("teacher", add_help=False,
                   help="evaluate the teacher acting alone on the held-out episodes "
                        "(llm4teach teacher --help lists every setting); teacher export: "
                        "write an LLM's answers as a plan table")

    from llm4teach.compare import COLUMNS, DEFAULT_GROUP_BY, DEFAULT_METRIC

    cmp = sub.add_parser("compare", help="compare MLflow runs: sample-efficiency table, curves",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="columns of the table:\n" + "\n".join(
                             f"  {name:14s} {about}" for name, about in COLUMNS.items()))
    cmp.add_argument("--experiment", action="append", help="experiment name (repeatable)")
    cmp.add_argument("--run-id", action="append", help="run id (repeatable)")
    cmp.add_argument("--filter", default="", help="MLflow filter, e.g. \"tags.method = 'soft'\"")
    cmp.add_argument("--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI, "
                     "else sqlite:///mlruns/mlflow.db)")
    cmp.add_argument("--metric", default=DEFAULT_METRIC)
    cmp.add_argument("--group-by", nargs="+", default=DEFAULT_GROUP_BY, metavar="KEY",
                     help="tags.NAME or params.NAME, one or more; runs with equal values form "
                          f"a group (default: {' '.join(DEFAULT_GROUP_BY)}: one task's method)")
    cmp.add_argument("--out", default="compare", help="folder for compare.md and curves.png")
    cmp.set_defaults(func=_compare)
    return parser


BUG_REPORT = ("this is a bug in llm4teach, not a fault of the input: please report it as an "
              "issue of the llm4teach project, with the command line and the traceback above")
NETWORK_FIX = "check the address and that the server there is running and reachable"
FILE_FIX = ("check that the path exists, that you may read (and write) it, and that its disk "
            "has room")


class Stopped(Exception):
    """A command stopped by a signal (Ctrl-C, SIGTERM) at a safe point: its message says how
    to continue, its exit code is the shell's for the signal (128 + its number), so that
    ``&&`` chains and schedulers do not read success."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def main(argv: Sequence[str] | None = None) -> None:
    """``llm4teach ARGS``: every expected failure (a setting, a file, a store, a server, a
    signal, a closed pipe) is one line ``llm4teach CMD: error: ...`` naming the fix; any
    other exception is a bug, shown with its traceback and where to report it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    # a warning is its line (Python's shows our file and source line, not the user's)
    before = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: f"llm4teach{command}: warning: {message}\n"
    try:
        _dispatch(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except SystemExit:
        raise
    except BaseException as err:  # the command's boundary: every failure ends here
        _fail(command, err)
    finally:
        warnings.formatwarning = before


def _dispatch(argv: list[str]) -> None:
    if argv in (["fit", "--help"], ["fit", "-h"]):  # our settings, without importing Lightning
        from llm4teach.fit_help import print_help

        print_help()
        return
    if argv == ["fit", "--help-all"]:
        argv = ["fit", "--help"]  # LightningCLI's own help, the Trainer's settings too
    if argv[:1] in (["fit"], ["teacher"]):  # jsonargparse: they parse their own arguments
        if argv[0] == "fit":
            from llm4teach.training.cli import fit as run
        else:
            run = teacher
        run(argv[1:])
        return
    args = build_parser().parse_args(argv)
    args.func(args)


def _command(argv: list[str]) -> str:
    """The command a failure line names (`` fit``, `` teacher export``...): argparse has
    refused an unknown one before anything can fail."""
    if argv[:2] in (["teacher", "export"], ["teacher", "texts"]):
        return f" {argv[0]} {argv[1]}"
    return f" {argv[0]}" if argv else ""


def _fail(command: str, err: BaseException) -> NoReturn:
    """Exit with ``err`` as the one line of its failure class; an unexpected class is a bug:
    its traceback, then the line saying so."""
    prefix = f"llm4teach{command}: error:"
    if isinstance(err, Stopped):
        print(f"{prefix} {err}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code)
    if isinstance(err, KeyboardInterrupt):
        print(f"{prefix} interrupted (Ctrl-C): nothing was finished; run the command again",
              file=sys.stderr, flush=True)
        raise SystemExit(128 + signal.SIGINT)
    if isinstance(err, BrokenPipeError):
        # the reader went away (`| head`): no more output, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(f"{prefix} the output's reader closed the pipe before the end (stdout): "
                 "let it read everything (not | head), or redirect the output to a file")
    line = _expected(err)
    if line is None:
        traceback.print_exception(err)
        line = f"{BUG_REPORT} ({type(err).__name__})"
    sys.exit(f"{prefix} {' '.join(line.split())}")


def _expected(err: BaseException) -> str | None:
    """The one line of an expected failure class, or None: a bug."""
    if isinstance(err, ValueError):
        return str(err)
    if isinstance(err, MemoryError):
        return ("out of memory (MemoryError): lower the sizes given (data.num_envs, "
                "evaluation.episodes, the teacher's batch or prompt) or use a larger machine")
    network = (ConnectionError, TimeoutError, socket.gaierror, urllib.error.URLError,
               http.client.HTTPException)
    if isinstance(err, network):
        return f"the network failed ({_reason(err)}): {NETWORK_FIX}"
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return f"{err.strerror or err}{where}: {FILE_FIX}"
    mlflow = sys.modules.get("mlflow.exceptions")
    if mlflow is not None and isinstance(err, mlflow.MlflowException):
        return (f"the MLflow store failed ({_reason(err)}): check the tracking URI "
                "(--tracking.tracking_uri, --tracking-uri or $MLFLOW_TRACKING_URI), the "
                "store's file and its permissions")
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(err, yaml.YAMLError):
        return f"a YAML file is not valid ({_reason(err)}): fix the file the command names"
    return None


def _reason(err: BaseException) -> str:
    """An error's message in at most 200 characters of one line."""
    text = " ".join(str(getattr(err, "reason", None) or err).split()) or type(err).__name__
    return text[:200]


if __name__ == "__main__":
    main()
