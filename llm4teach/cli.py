"""The ``llm4teach`` command.

Each subcommand lives with the code it drives; this module only dispatches, so that
``llm4teach --help`` stays fast and lists everything.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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

    result = compare(
        tracking_uri=args.tracking_uri, experiments=args.experiment, run_ids=args.run_id,
        filter_string=args.filter, metric=args.metric, group_by=args.group_by,
        out_dir=Path(args.out),
    )
    print(result.markdown)
    print(f"\nwrote {Path(args.out) / 'compare.md'} and {result.plot_path}")


def _evaluate(args: argparse.Namespace) -> None:
    from llm4teach.training.evaluation import evaluate_checkpoint

    for key, value in evaluate_checkpoint(args.ckpt, episodes=args.episodes).items():
        print(f"{key:28s} {value:.3f}")


def _teacher(args: argparse.Namespace) -> None:
    """Evaluate the teacher as the acting policy (sampling pi_T) on a fixed seed set."""
    from llm4teach.teacher import TeacherConfig
    from llm4teach.teacher.evaluate import EVAL_SEED, evaluate_teacher

    settings = {k: v for k, v in vars(args).items() if k in TEACHER_FLAGS and v is not None}
    for mode in [args.mode] if args.mode else ["soft", "hard"]:
        config = TeacherConfig(mode=mode, **settings)
        seed = EVAL_SEED if args.seed is None else args.seed
        result = evaluate_teacher(args.task, config, episodes=args.episodes, seed=seed)
        print(result.line())
    stats = ", ".join(f"{k} {v:g}" for k, v in result.stats.items())
    print(f"teacher counters ({mode}): {stats}")


TEACHER_FLAGS = ("backend", "method", "model", "revision", "dtype", "device", "temperature",
                 "num_samples", "cache_path", "prompt", "fallback", "lava", "trust_remote_code")


def _tasks(_: argparse.Namespace) -> None:
    from llm4teach.envs import TASKS
    from llm4teach.envs.habitat import HABITAT_LAB_TASK, HABITAT_TASK

    for name, env_id in TASKS.items():
        print(f"{name:16s} {env_id}")
    print(f"{HABITAT_TASK:16s} the Habitat domain's tidy-up task over skills (docs/habitat.md)")
    print(f"{HABITAT_LAB_TASK:16s} the same task through habitat-lab (the habitat extra)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm4teach",
        description="A large language model teaches a small reinforcement-learning student.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tasks = sub.add_parser("tasks", help="list the tasks")
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

    teach = sub.add_parser("teacher", help="evaluate the teacher acting alone (success rate)")
    teach.add_argument("--task", default="SimpleDoorKey")
    teach.add_argument("--episodes", type=int, default=200)
    teach.add_argument("--mode", choices=["soft", "hard"], help="default: both")
    teach.add_argument("--seed", type=int, help="first episode seed (default: held-out set)")
    teach.add_argument("--backend", help="table (default, no model) or hf")
    teach.add_argument("--method", help="hf: sample, prompt or logits")
    teach.add_argument("--model", help="hf: model id or local folder")
    teach.add_argument("--revision")
    teach.add_argument("--dtype")
    teach.add_argument("--device")
    teach.add_argument("--temperature", type=float)
    teach.add_argument("--num-samples", type=int)
    teach.add_argument("--cache-path")
    teach.add_argument("--prompt", help="YAML prompt file (default: the packaged prompt)")
    teach.add_argument("--fallback", help="noop or mask")
    teach.add_argument("--lava", help="avoid (default) or passable (reference)")
    teach.add_argument("--trust-remote-code", action="store_true", default=None)
    teach.set_defaults(func=_teacher)

    from llm4teach.compare import DEFAULT_GROUP_BY, DEFAULT_METRIC

    cmp = sub.add_parser("compare", help="compare MLflow runs: sample-efficiency table, curves")
    cmp.add_argument("--experiment", action="append", help="experiment name (repeatable)")
    cmp.add_argument("--run-id", action="append", help="run id (repeatable)")
    cmp.add_argument("--filter", default="", help="MLflow filter, e.g. \"tags.method = 'soft'\"")
    cmp.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db")
    cmp.add_argument("--metric", default=DEFAULT_METRIC)
    cmp.add_argument("--group-by", default=DEFAULT_GROUP_BY, help="tags.NAME or params.NAME")
    cmp.add_argument("--out", default="compare", help="folder for compare.md and curves.png")
    cmp.set_defaults(func=_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fit"]:  # LightningCLI parses its own arguments
        from llm4teach.training.cli import fit

        try:
            fit(argv[1:])
        except ValueError as err:
            sys.exit(f"llm4teach fit: error: {err}")
        return
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:  # bad task names and settings: one clear line, no traceback
        sys.exit(f"llm4teach {args.command}: error: {err}")


if __name__ == "__main__":
    main()
