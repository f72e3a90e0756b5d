"""The fault catalogue: every bad input a user can give the commands is one line on exit that
names the problem and the fix, never a traceback.

Each case is a command line (built over the files of ``bad``: damaged, missing or wrong
ones) and a fragment its one line must hold. They run in-process through ``main``, as the
``llm4teach`` command does, so a traceback fails the test with the exception itself.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fit_args import tiny_fit_args
from tiny_llm import build_tiny_llm

from llm4teach.cli import main

PLAN = '{"task": "SimpleDoorKey", "states": {"Agent sees <nothing>, holds <nothing>.": %s}}'


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """The files the cases point at: a tiny model and damaged copies, bad configs, tables,
    prompts, caches and checkpoints (one of a real tiny fit)."""
    root = tmp_path_factory.mktemp("bad")
    model = build_tiny_llm(root / "model")
    damaged = root / "damaged_model"
    damaged.mkdir()
    for file in model.iterdir():
        data = b"not weights" * 10 if file.suffix == ".safetensors" else file.read_bytes()
        (damaged / file.name).write_bytes(data)
    files = {
        "bad.yaml": "model: [unclosed", "unknown_key.yaml": "model:\n  nonsense: 3\n",
        "prompt.yaml": "system: only the system text\n", "prompt_bad.yaml": "system: [x",
        "plans_json.json": "{oops", "plans_negative.json": PLAN % '{"explore": -1}',
        "plans_nan.json": PLAN % '{"explore": NaN}', "plans_list.json": "[1, 2]",
        "plans.txt": PLAN % '{"explore": 1}',
        "corrupt.ckpt": "x" * 1000, "cache_corrupt.sqlite": "not a database" * 100,
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "cache_folder").mkdir()
    with sqlite3.connect(root / "cache_layout.sqlite") as conn:
        conn.execute("CREATE TABLE plans (x INT)")
    cwd = os.getcwd()
    os.chdir(root)  # the fit's mlruns and run folders stay in the temporary folder
    try:
        main(["fit", *tiny_fit_args(root / "source", total_frames=128)])
    finally:
        os.chdir(cwd)
    return {"root": root, "model": model, "damaged_model": damaged,
            "ckpt": root / "source/run/checkpoints/last.ckpt",
            **{name: root / name for name in [*files, "cache_folder", "cache_layout.sqlite"]}}


Case = Callable[[dict[str, Path], Path], list[str]]


def fit(*extra: str, **kwargs) -> Case:
    return lambda bad, tmp: ["fit", *tiny_fit_args(tmp, **kwargs), *extra]


def fit_with(option: str, name: str, *extra: str) -> Case:
    return lambda bad, tmp: ["fit", *tiny_fit_args(tmp), option, str(bad[name]), *extra]


def fit_missing(option: str, name: str) -> Case:
    """A fit whose ``option`` names a file that does not exist."""
    return lambda bad, tmp: ["fit", *tiny_fit_args(tmp), option, str(tmp / name)]


def hf_fit(*extra: str) -> Case:
    """A fit whose teacher is the tiny model (backend hf), with ``extra`` settings."""
    return lambda bad, tmp: ["fit", *tiny_fit_args(tmp), "--data.teacher.backend", "hf",
                             "--data.teacher.model", str(bad["model"]), *extra]


def teacher(*extra: str) -> Case:
    return lambda bad, tmp: ["teacher", "--task", "SimpleDoorKey", "--episodes", "1", *extra]


def llm_teacher(option: str, name: str, *extra: str) -> Case:
    """The teacher command with the tiny model and ``option`` set to the file ``name``."""
    return lambda bad, tmp: [
        "teacher", "--task", "SimpleDoorKey", "--episodes", "1", "--teacher.backend", "hf",
        "--teacher.model", str(bad["model"]), option, str(bad[name]), *extra]


CATALOGUE: dict[str, tuple[Case, str]] = {
    # settings of the fit
    "unknown task": (fit("--data.task", "Nope"), "unknown task 'Nope'; valid tasks"),
    "argument prefix": (fit("--data.num_env", "4"), "unrecognized arguments: --data.num_env"),
    "budget below one rollout": (fit(total_frames=10), "less than one rollout"),
    "budget negative": (fit(total_frames=-5), "total_frames must be a positive integer"),
    "no envs": (fit("--data.num_envs", "0"), "num_envs must be a positive integer"),
    "rollout not a multiple": (fit("--data.frames_per_batch", "63"), "multiple of num_envs"),
    "epoch not a multiple": (fit("--data.epoch_frames", "100"), "multiple of frames_per_batch"),
    "no minibatch": (fit("--model.minibatch_size", "0"), "minibatch_size must be in"),
    "negative lr": (fit("--model.lr", "-1"), "lr must be in"),
    "gamma above 1": (fit("--model.gamma", "1.5"), "gamma must be in"),
    "no PPO epochs": (fit("--model.epochs", "0"), "epochs must be in"),
    "no threads": (fit("--threads", "0"), "threads must be a positive integer"),
    "no evaluation episodes": (fit("--evaluation.episodes", "0"), "episodes must be a positive"),
    "gpu without one": (fit("--trainer.accelerator", "gpu"), "--trainer.accelerator cpu"),
    "unknown precision": (fit("--trainer.precision", "13"), "trainer.precision"),
    "unknown schedule": (fit("--schedule", "Nope"), "schedule"),
    "missing config": (fit_missing("--config", "none.yaml"), "File does not exist"),
    "config not YAML": (fit_with("--config", "bad.yaml"), "Problems parsing config"),
    "config unknown key": (fit_with("--config", "unknown_key.yaml"), "model.nonsense"),
    "unknown tracking scheme": (fit("--tracking.tracking_uri", "foo://x"),
                                "scheme MLflow cannot open"),
    # the teacher's settings in a fit
    "unknown backend": (fit("--data.teacher.backend", "nope"), "backend must be one of"),
    "unknown mode": (fit("--data.teacher.mode", "x"), "mode must be one of"),
    "hf without a model": (fit("--data.teacher.backend", "hf"), "needs a model"),
    "missing model folder": (lambda bad, tmp: [
        "fit", *tiny_fit_args(tmp), "--data.teacher.backend", "hf",
        "--data.teacher.model", str(tmp / "no_model")], "does not exist"),
    "teacher on cuda": (hf_fit("--data.teacher.device", "cuda"), "--data.teacher.device cpu"),
    "4-bit without a GPU": (hf_fit("--data.teacher.quantization", "4bit"), "quantization null"),
    "zero temperature": (fit("--data.teacher.temperature", "0"),
                         "temperature must be a finite number > 0"),
    "openai without a URL": (fit("--data.teacher.backend", "openai", "--data.teacher.model", "m"),
                             "needs base_url"),
    "plans with an LLM": (fit_with("--data.teacher.plans", "plans_negative.json",
                                   "--data.teacher.backend", "hf", "--data.teacher.model", "m"),
                          "set teacher backend table"),
    "missing plans": (fit_missing("--data.teacher.plans", "x.json"), "cannot be read"),
    "plans not JSON": (fit_with("--data.teacher.plans", "plans_json.json"), "not valid JSON"),
    "negative plan weight": (fit_with("--data.teacher.plans", "plans_negative.json"),
                             "finite number >= 0, got -1"),
    "NaN plan weight": (fit_with("--data.teacher.plans", "plans_nan.json"), "finite number"),
    "plans not a table": (fit_with("--data.teacher.plans", "plans_list.json"), "the format is"),
    "plans not JSON or YAML": (fit_with("--data.teacher.plans", "plans.txt"),
                               "must end with .json, .yaml or .yml"),
    # checkpoints
    "missing checkpoint": (fit_missing("--ckpt_path", "x.ckpt"), "does not exist"),
    "corrupt checkpoint": (fit_with("--ckpt_path", "corrupt.ckpt"), "pass a checkpoint a fit"),
    "nothing to continue": (fit("--ckpt_path", "last"), "start it without --ckpt_path"),
    "checkpoint of another encoder": (fit_with("--ckpt_path", "ckpt", "--model.encoder",
                                               "onehot"), "encoder 'embedding' -> 'onehot'"),
    "checkpoint of other channels": (fit_with("--ckpt_path", "ckpt", "--model.channels",
                                              "[4, 4]"), "channels [8, 8] -> [4, 4]"),
    "checkpoint of another domain": (fit_with("--ckpt_path", "ckpt", "--data.task",
                                              "TidyHabitat"), "'SimpleDoorKey' -> 'TidyHabitat'"),
    "evaluate a missing file": (lambda bad, tmp: ["evaluate", "--ckpt", str(tmp / "x.ckpt")],
                                "does not exist"),
    "evaluate a corrupt file": (lambda bad, tmp: ["evaluate", "--ckpt", str(bad["corrupt.ckpt"])],
                                "corrupt or not an llm4teach checkpoint"),
    # the teacher command and the LLM's files
    "teacher unknown task": (lambda bad, tmp: ["teacher", "--task", "Nope"], "unknown task"),
    "teacher no episodes": (teacher("--episodes", "0"), "--episodes must be a positive"),
    "damaged model weights": (lambda bad, tmp: [
        "teacher", "--task", "SimpleDoorKey", "--teacher.backend", "hf",
        "--teacher.model", str(bad["damaged_model"])], "its files are damaged"),
    "missing prompt": (lambda bad, tmp: [
        "teacher", "--task", "SimpleDoorKey", "--teacher.backend", "hf", "--teacher.model",
        str(bad["model"]), "--teacher.prompt", str(tmp / "x.yaml")], "cannot be read"),
    "prompt lacking texts": (llm_teacher("--teacher.prompt", "prompt.yaml"), "lacks logits"),
    "prompt not YAML": (llm_teacher("--teacher.prompt", "prompt_bad.yaml"), "not valid YAML"),
    "cache not a database": (llm_teacher("--teacher.cache_path", "cache_corrupt.sqlite"),
                             "file is not a database"),
    "cache a folder": (llm_teacher("--teacher.cache_path", "cache_folder"),
                       "unable to open database file"),
    "cache of another layout": (llm_teacher("--teacher.cache_path", "cache_layout.sqlite"),
                                "no such column"),
    "server not running": (teacher("--teacher.backend", "openai", "--teacher.model", "m",
                                   "--teacher.base_url", "http://127.0.0.1:9/v1",
                                   "--teacher.retries", "0", "--teacher.timeout_s", "2"),
                           "start it, or fix"),
    "compare nothing": (lambda bad, tmp: ["compare", "--tracking-uri",
                                          f"sqlite:///{tmp}/mlflow.db"], "name at least one"),
    "compare unknown scheme": (lambda bad, tmp: ["compare", "--tracking-uri", "foo://x",
                                          "--experiment", "E"],
                               "scheme MLflow cannot open"),
}


def _one_line(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = exc.value.code
    assert isinstance(message, str), f"exit {message!r}: not a message"
    assert "\n" not in message and message.startswith(f"llm4teach {argv[0]}: error: ")
    return message


def test_the_catalogue_has_forty_faults():
    assert len(CATALOGUE) >= 40


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CATALOGUE))
def test_fault_is_one_line_naming_the_fix(case, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the fit's mlruns stay in the test's folder
    build, fragment = CATALOGUE[case]
    assert fragment in _one_line(build(bad, tmp_path))


@pytest.mark.parametrize(("env", "fragment"), [
    ({"MLFLOW_TRACKING_URI": "foo://x"}, "$MLFLOW_TRACKING_URI 'foo://x' has a scheme"),
    ({"HOME": "", "XDG_CACHE_HOME": ""}, "no folder for the teacher's answer cache: HOME is ''"),
])
def test_environment_fault_is_one_line(env, fragment, bad, tmp_path, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = ["compare", "--experiment", "E"] if "MLFLOW_TRACKING_URI" in env else [
        "teacher", "--task", "SimpleDoorKey", "--episodes", "1", "--teacher.backend", "hf",
        "--teacher.model", str(bad["model"])]
    assert fragment in _one_line(argv)
