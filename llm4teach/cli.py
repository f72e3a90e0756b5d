"""The ``llm4teach`` command.

Each subcommand lives with the code it drives; this module only dispatches, so that
``llm4teach --help`` stays fast and lists everything.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that ``llm4teach --help`` stays fast
    from jsonargparse import ArgumentParser, Namespace

    from llm4teach.teacher import TeacherConfig


def _demo(args: argparse.Namespace) -> None:
    """Step a task with a random policy through a TorchRL collector and report the rate."""
    import time

    from torchrl.collectors import Collector

    from llm4teach.envs import make_env

    env = make_env(args.task, num_envs=args.num_envs, seed=args.seed)
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
    from llm4teach.tracking import resolve_tracking_uri

    result = compare(
        tracking_uri=resolve_tracking_uri(args.tracking_uri), experiments=args.experiment,
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
    """The task names (``llm4teach.domains.task_names``'s, read from the light modules that
    hold them: no torch, so the list comes in about a second); ``--all``: every id too."""
    from llm4teach.envs.habitat import TASK_NAMES as HABITAT
    from llm4teach.envs.registry import TASK_NAMES as MINIGRID
    from llm4teach.envs.registry import more_names, standard_ids

    for name, about in {**MINIGRID, **HABITAT}.items():
        print(f"{name:16s} {about}")
    if args.all:
        print("and every registered MiniGrid-*/BabyAI-* id:")
        print("\n".join(standard_ids()))
    else:
        print(f"and {more_names()}")


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
          f"success {metrics['teacher_success']:6.1%}  return {metrics['teacher_return']:.3f}"
          f"  length {metrics['teacher_length']:6.1f}")
    stats = ", ".join(f"{k} {v:g}" for k, v in dataclasses.asdict(transform.stats).items())
    print(f"teacher counters: {stats} (llm4teach teacher --help says what each counts)")


def teacher_export(argv: Sequence[str]) -> None:
    """``llm4teach teacher export``: an LLM's plans (``--teacher.backend hf`` or ``openai``)
    for the state texts of a task's episodes, written as a plan table file that
    ``--data.teacher.plans`` replays with no model (``llm4teach.teacher.export``)."""
    from llm4teach.teacher.export import POLICIES, check_out, export_table, write_table

    parser = _teacher_parser("llm4teach teacher export",
                             "Ask an LLM teacher (--teacher.backend hf or openai) about the "
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
    parser.add_argument("--task", type=str, default="SimpleDoorKey",
                        help="a task name or id (llm4teach tasks lists them)")
    parser.add_argument("--episodes", type=int, default=episodes[0], help=episodes[1])
    parser.add_class_arguments(TeacherConfig, "teacher")
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
                parser.set_defaults(_fit_defaults(yaml.safe_load(f) or {}))
        args = parser.parse_args(argv)
    except (ArgumentError, KeyError, OSError) as err:
        raise ValueError(" ".join(str(err).split())) from None
    if args.episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {args.episodes}")
    return args, TeacherConfig(**vars(args.teacher))


def _fit_defaults(fit: dict) -> dict[str, object]:
    """The teacher command's defaults from a fit config (dotted keys, as jsonargparse sets)."""
    data = fit.get("data") or {}
    defaults: dict[str, object] = {f"teacher.{k}": v
                                   for k, v in (data.get("teacher") or {}).items()}
    if "task" in data:
        defaults["task"] = data["task"]
    episodes = (fit.get("evaluation") or {}).get("episodes")
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
                       help="also list every registered MiniGrid-*/BabyAI-* id, one a line")
    tasks.set_defaults(func=_tasks)

    demo = sub.add_parser("demo", help="run a random policy through the TorchRL collector")
    demo.add_argument("--task", default="SimpleDoorKey")
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


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
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
        try:
            run(argv[1:])
        except ValueError as err:
            command = " ".join(argv[:2]) if argv[:2] == ["teacher", "export"] else argv[0]
            sys.exit(f"llm4teach {command}: error: {err}")
        return
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:  # bad task names and settings: one clear line, no traceback
        sys.exit(f"llm4teach {args.command}: error: {err}")


if __name__ == "__main__":
    main()
