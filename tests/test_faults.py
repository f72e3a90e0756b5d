"""The fault catalogue: every bad input a user can give the commands is one line on exit that
names the problem and the fix, never a traceback.

Each case is a command line (built over the files of ``bad``: damaged, missing or wrong
ones) and a fragment its one line must hold. They run in-process through ``main``, as the
``llm4teach`` command does, so a traceback fails the test with the exception itself.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fit_args import tiny_fit_args
from helpers import planner_of
from lightning.pytorch import Callback
from stub_server import Handler, chat, drip, hang, stub_server

from llm4teach.cli import main
from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.teacher import TeacherConfig

PLAN = '{"task": "SimpleDoorKey", "states": {"Agent sees <nothing>, holds <nothing>.": %s}}'


PROMPT = "sample: s\nprompt: p\nlogits: l\n"
PLANS = '{"states": {"Agent sees <nothing>, holds <nothing>.": {"explore": 1}}}'


def serve(handler: Handler) -> None:
    """The stub teacher server of the catalogue: the path's first part picks the fault
    (``/list/v1/chat/completions`` answers a JSON list...)."""
    fault = handler.path.split("/")[1]
    replies = {
        "list": [1, 2], "string": "hello", "number": 3, "null": None,
        "choices_string": {"choices": "abc"}, "choices_strings": {"choices": ["a"]},
        "no_choices": {"choices": []}, "message_string": {"choices": [{"message": "hi"}]},
        "content_number": chat(5), "content_numbers": chat([1, 2]),
        "content_part_number": chat([{"type": "text", "text": 5}]),
        "content_dict": chat({"text": "explore"}),
        "logprobs_string": {"choices": [{"logprobs": "x"}]},
        "logprobs_strings": {"choices": [{"logprobs": {"token_logprobs": ["a"],
                                                       "text_offset": [0]}}]},
        "no_logprobs": {"choices": [{"text": "x"}]},
        "models_two": {"data": [{"id": "a"}, {"id": "b"}]},
    }
    raw = {"html": b"<html>hi</html>", "empty": b"", "not_utf8": b"\xff\xfe{",
           "deep": b"[" * 100_000, "huge": b" " * ((16 << 20) + 1),
           "nan_logprobs": b'{"choices": [{"logprobs": {"token_logprobs": [NaN, NaN], '
                           b'"text_offset": [0, 1000000]}}]}'}
    statuses = {"400": 400, "401": 401, "403": 403, "404": 404, "422": 422, "500": 500,
                "503": 503, "models_500": 500}
    if fault == "drip":
        drip(handler)
    elif fault == "hang":
        hang(handler, seconds=10)
    elif fault == "busy":
        handler.send({"error": "busy"}, 429, {"Retry-After": "100"})
    elif fault in statuses:
        handler.send({"detail": f"status {fault}"}, statuses[fault])
    elif fault in raw:
        handler.send(None, raw=raw[fault])
    else:
        handler.send(replies[fault])


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The files the cases point at: a tiny model and damaged copies, bad configs, tables,
    prompts, caches, stores and checkpoints (one of a real tiny fit), and a teacher server
    answering each fault at its own base URL (``serve``)."""
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
        # the teacher command's --config of another shape
        "list.yaml": "- data\n- model\n", "scalar.yaml": "just text\n",
        "data_list.yaml": "data: [1]\n", "teacher_list.yaml": "data:\n  teacher: [1]\n",
        "evaluation_list.yaml": "evaluation: [1]\n",
        "teacher_key.yaml": "data:\n  teacher:\n    nonsense: 1\n",
        "inf.yaml": "data:\n  teacher:\n    backend: openai\n    base_url: http://127.0.0.1:9"
                    "/v1\n    model: m\n    timeout_s: .inf\n",
        "nan.yaml": "data:\n  teacher:\n    temperature: .nan\n",
        "episodes_text.yaml": "evaluation:\n  episodes: many\n",
        "task_number.yaml": "data:\n  task: 5\n",
        # plan tables that teach nothing
        "plans_empty.json": '{"states": {}}',
        "plans_overflow.json": PLAN % '{"explore": 1e308, "go to <key>": 1e308}',
        "plans_grammar.json": PLAN % '{"fly to <moon>": 1, "dance": 1}',
        "plans_unmatched.json": '{"states": {"Agent sees <moon>.": {"explore": 1}}}',
        "plans_state_list.json": PLAN % "[1]",
        "plans_weight_text.json": PLAN % '{"explore": "0.5"}',
        "plans_weight_bool.json": PLAN % '{"explore": true}',
        "plans_zero.json": PLAN % '{"explore": 0}',
        "plans_states_list.json": '{"states": [1]}',
        "plans_int_key.yaml": "states:\n  1: {explore: 1}\n",
        "plans_bad.yaml": "states: [unclosed",
        # prompt files whose fields are not texts, or too long
        "prompt_number.yaml": "system: 1\n" + PROMPT, "prompt_null.yaml": "system:\n" + PROMPT,
        "prompt_list.yaml": "system: [a, b]\n" + PROMPT,
        "prompt_mapping.yaml": "system: {a: 1}\n" + PROMPT,
        "prompt_huge.yaml": f"system: {'x' * 40_000}\n" + PROMPT,
        "prompt_is_list.yaml": "- system\n", "prompt_empty.yaml": "",
        # configs naming code outside the project
        "class_callback.yaml": "trainer:\n  callbacks:\n    - class_path: evil.Hook\n",
        "class_schedule.yaml": "schedule:\n  class_path: evil.Schedule\n",
        "class_string.yaml": "schedule: evil.Schedule\n",
        "class_logger.yaml": "trainer:\n  logger:\n    class_path: evil.Logger\n",
        "class_nested.yaml": "schedule:\n  class_path: llm4teach.training.schedules."
                             "LinearSchedule\n  init_args:\n    helper:\n      class_path: "
                             "evil.Helper\n",
        "class_function.yaml": "trainer:\n  callbacks:\n    - class_path: os.system\n",
        "trainer_callbacks.yaml": "callbacks:\n  - class_path: evil.Hook\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "not_utf8.json").write_bytes(b'{"states": {"\xff": {}}}')
    (root / "prompt_not_utf8.yaml").write_bytes(b"system: \xff\n")
    (root / "store_corrupt.db").write_bytes(b"not a database" * 300)
    (root / "a_file").write_text("x")
    (root / "evil.py").write_text("raise SystemExit('evil ran')\n")
    for folder in ("cache_folder", "a_folder", "folder.json"):
        (root / folder).mkdir()
    with sqlite3.connect(root / "cache_layout.sqlite") as conn:
        conn.execute("CREATE TABLE plans (x INT)")
    cwd = os.getcwd()
    os.chdir(root)  # the fit's mlruns and run folders stay in the temporary folder
    try:
        main(["fit", *tiny_fit_args(root / "source", total_frames=128)])
    finally:
        os.chdir(cwd)
    # the same checkpoint with the model settings flat, as an earlier llm4teach wrote them
    checkpoint = torch.load(root / "source/run/checkpoints/last.ckpt", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    hparams.update({**hparams.pop("optimiser"), **hparams.pop("ppo")})
    torch.save(checkpoint, root / "flat.ckpt")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with stub_server(serve) as stub:
        yield {"root": root, "model": model, "damaged_model": damaged,
               "ckpt": root / "source/run/checkpoints/last.ckpt",
               "store": f"sqlite:///{root}/source/mlruns/mlflow.db",
               "server": stub.base_url.removesuffix("/v1"), "closed": closed,
               **{name: root / name for name in [
                   *files, "cache_folder", "cache_layout.sqlite", "not_utf8.json",
                   "prompt_not_utf8.yaml", "store_corrupt.db", "a_file", "a_folder",
                   "folder.json", "flat.ckpt"]}}


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


def served(fault: str, *extra: str, method: str = "sample", model: bool = True) -> Case:
    """The teacher command asking the stub server's ``fault`` (no retries, a 2 s deadline)."""
    return lambda bad, tmp: [
        "teacher", "--task", "SimpleDoorKey", "--episodes", "1", "--teacher.backend", "openai",
        "--teacher.base_url", f"{bad['server']}/{fault}/v1", "--teacher.method", method,
        *(["--teacher.model", "m"] if model else []), "--teacher.retries", "0",
        "--teacher.timeout_s", "2", "--teacher.cache_path", ":memory:", *extra]


def teacher_config(name: str, *extra: str) -> Case:
    """The teacher command with ``--config`` set to the file ``name``."""
    return lambda bad, tmp: ["teacher", "--config", str(bad[name]), "--episodes", "1", *extra]


def teacher_with(option: str, name: str, *extra: str) -> Case:
    """The teacher command with ``option`` set to the file ``name``."""
    return lambda bad, tmp: ["teacher", "--task", "SimpleDoorKey", "--episodes", "1", option,
                             str(bad[name]), *extra]


def prompted(name: str) -> Case:
    """The server teacher (on a closed port: the prompt is read before any request) with
    the prompt file ``name``."""
    return lambda bad, tmp: [
        "teacher", "--task", "SimpleDoorKey", "--episodes", "1", "--teacher.backend", "openai",
        "--teacher.base_url", f"http://127.0.0.1:{bad['closed']}/v1", "--teacher.model", "m",
        "--teacher.prompt", str(bad[name])]


def fit_store(uri: Callable[[dict[str, Any]], str]) -> Case:
    """A fit tracked in the store ``uri(bad)``."""
    return lambda bad, tmp: ["fit", *tiny_fit_args(tmp), "--tracking.tracking_uri", uri(bad)]


def compare(*extra: str) -> Case:
    """``compare`` over the store of the fixture's fit."""
    return lambda bad, tmp: ["compare", "--tracking-uri", bad["store"], *extra]


CLASS_FIX = "--allow_module evil"
SHAPE = "answered JSON of another shape than the OpenAI protocol's"
CATALOGUE: dict[str, tuple[Case, str]] = {
    # settings of the fit
    "unknown task": (fit("--data.task", "Nope"), "unknown task 'Nope'; valid tasks"),
    "argument prefix": (fit("--data.num_env", "4"), "unrecognized arguments: --data.num_env"),
    "budget below one rollout": (fit(total_frames=10), "less than one rollout"),
    "budget negative": (fit(total_frames=-5), "total_frames must be a positive integer"),
    "no envs": (fit("--data.num_envs", "0"), "num_envs must be a positive integer"),
    "rollout not a multiple": (fit("--data.frames_per_batch", "63"), "multiple of num_envs"),
    "epoch not a multiple": (fit("--data.epoch_frames", "100"), "multiple of frames_per_batch"),
    "no minibatch": (fit("--model.ppo.minibatch_size", "0"),
                     '"model.ppo.minibatch_size": Not of type PositiveInt'),
    "negative lr": (fit("--model.optimiser.lr", "-1"),
                    '"model.optimiser.lr": Not of type OpenUnitInterval'),
    "gamma above 1": (fit("--model.ppo.gamma", "1.5"),
                      '"model.ppo.gamma": Not of type ClosedUnitInterval'),
    "no PPO epochs": (fit("--model.ppo.epochs", "0"),
                      '"model.ppo.epochs": Not of type PositiveInt'),
    "no student width": (fit("--model.student.hidden", "0"),
                         '"model.student.hidden": Not of type PositiveInt'),
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
    "checkpoint of another encoder": (
        fit_with("--ckpt_path", "ckpt", "--model.student.encoder", "onehot"),
        "student.encoder 'embedding' -> 'onehot'"),
    "checkpoint of other channels": (fit_with("--ckpt_path", "ckpt", "--model.student.channels",
                                              "[4, 4]"), "student.channels (8, 8) -> (4, 4)"),
    "checkpoint of another domain": (fit_with("--ckpt_path", "ckpt", "--data.task",
                                              "TidyHabitat"), "'SimpleDoorKey' -> 'TidyHabitat'"),
    "checkpoint of an earlier version": (fit_with("--ckpt_path", "flat.ckpt"),
                                         "evaluate or continue it with the llm4teach that"),
    "evaluate an earlier version's checkpoint": (
        lambda bad, tmp: ["evaluate", "--ckpt", str(bad["flat.ckpt"])], "written by an earlier"),
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
    # the teacher command's --config of another shape
    "teacher config a list": (teacher_config("list.yaml"), "the file is a list, not a mapping"),
    "teacher config a text": (teacher_config("scalar.yaml"), "the file is a str, not a mapping"),
    "teacher config data a list": (teacher_config("data_list.yaml"), "data is a list"),
    "teacher config teacher a list": (teacher_config("teacher_list.yaml"),
                                      "data.teacher is a list, not a mapping"),
    "teacher config evaluation a list": (teacher_config("evaluation_list.yaml"),
                                         "evaluation is a list"),
    "teacher config unknown teacher key": (teacher_config("teacher_key.yaml"), "nonsense"),
    "teacher config infinite timeout": (teacher_config("inf.yaml"),
                                        "timeout_s must be a finite number > 0, got inf"),
    "teacher config NaN temperature": (teacher_config("nan.yaml"),
                                       "temperature must be a finite number > 0, got nan"),
    "teacher config episodes a text": (lambda bad, tmp: [
        "teacher", "--config", str(bad["episodes_text.yaml"])],
        "--episodes must be a positive integer, got 'many'"),
    "teacher config task a number": (teacher_config("task_number.yaml"),
                                     'Parser key "task"'),
    "teacher config not YAML": (teacher_config("bad.yaml"), "is not valid YAML"),
    "teacher config missing": (lambda bad, tmp: ["teacher", "--config", str(tmp / "x.yaml")],
                               "cannot be read (No such file or directory)"),
    "teacher config a folder": (teacher_config("a_folder"), "a_folder"),
    # numbers out of range, non-finite ones included (YAML's .inf, the command line's inf)
    "teacher infinite timeout": (teacher("--teacher.timeout_s", "inf"),
                                 'Parser key "teacher.timeout_s"'),
    "teacher NaN temperature": (teacher("--teacher.temperature", "nan"),
                                'Parser key "teacher.temperature"'),
    "teacher -inf temperature": (teacher("--teacher.temperature=-inf"),
                                 'Parser key "teacher.temperature"'),
    "fit infinite timeout": (fit("--data.teacher.timeout_s", "inf"),
                             'Parser key "data.teacher.timeout_s"'),
    "answers too long": (teacher("--teacher.max_new_tokens", "100000"),
                         "max_new_tokens must be an integer from 1 to 1024"),
    "no samples": (teacher("--teacher.num_samples", "0"), "num_samples must be a positive"),
    "negative retries": (teacher("--teacher.retries", "-1"), "retries must be an integer >= 0"),
    "no concurrency": (teacher("--teacher.concurrency", "0"), "concurrency must be an integer"),
    "zero timeout": (teacher("--teacher.timeout_s", "0"), "timeout_s must be a finite number"),
    # the teacher server's replies: shapes, refusals, stalls
    "server answers a list": (served("list"), f"{SHAPE} (the reply is not an object"),
    "server answers a string": (served("string"), "the reply is not an object"),
    "server answers a number": (served("number"), "the reply is not an object"),
    "server answers null": (served("null"), "the reply is not an object"),
    "server choices a string": (served("choices_string"), "choices must be a list of objects"),
    "server choices of strings": (served("choices_strings"), "choices must be a list of objects"),
    "server without choices": (served("no_choices"), "answered without choices"),
    "server message a string": (served("message_string"), "message is not an object"),
    "server content a number": (served("content_number"), "message.content must be a text"),
    "server content numbers": (served("content_numbers"), "message.content must be a text"),
    "server content part a number": (served("content_part_number"), "list of content parts"),
    "server content a mapping": (served("content_dict"), "message.content must be a text"),
    "server prompt content a number": (served("content_number", method="prompt"),
                                       "message.content must be a text"),
    "server answers HTML": (served("html"), "answered something other than JSON"),
    "server answers nothing": (served("empty"), "answered something other than JSON"),
    "server answers bytes": (served("not_utf8"), "answered something other than JSON"),
    "server nests too deep": (served("deep"), "nested too deep"),
    "server answers 16 MiB": (served("huge"), "a reply over 16 MiB"),
    "server refuses 400": (served("400"), "refused the request (HTTP 400"),
    "server refuses 401": (served("401"), "set the server's key in the environment variable"),
    "server refuses 403": (served("403"), "api_key_env names"),
    "server refuses 404": (served("404"), "check base_url"),
    "server refuses 422": (served("422"), "refused the request (HTTP 422"),
    "server fails 500": (served("500"), "did not answer after 1 try (HTTP 500"),
    "server fails 503": (served("503"), "did not answer after 1 try (HTTP 503"),
    "server busy for long": (served("busy", "--teacher.retries", "1"),
                             "60 s later, would pass the deadline"),
    "server drips": (served("drip"), "no complete reply within timeout_s 2 s"),
    "server hangs": (served("hang"), "no complete reply within timeout_s 2 s"),
    "server logprobs a string": (served("logprobs_string", method="logits"),
                                 "choices[0].logprobs is not an object"),
    "server logprobs strings": (served("logprobs_strings", method="logits"),
                                "token_logprobs must be a list of finite numbers"),
    "server logprobs NaN": (served("nan_logprobs", method="logits"), "finite numbers"),
    "server without logprobs": (served("no_logprobs", method="logits"),
                                "use teacher method sample or prompt"),
    "server models route fails": (served("models_500", model=False),
                                  "does not name the one model served (HTTP 500"),
    "server serves two models": (served("models_two", model=False), "it lists 2 models: a, b"),
    "server down, no model": (lambda bad, tmp: [
        "teacher", "--teacher.backend", "openai", "--teacher.base_url",
        f"http://127.0.0.1:{bad['closed']}/v1"], "set teacher model to the name"),
    "server URL not http": (teacher("--teacher.backend", "openai", "--teacher.model", "m",
                                    "--teacher.base_url", "ftp://x"), "needs base_url"),
    # plan tables that teach nothing, or cannot be read
    "plans empty": (teacher_with("--teacher.plans", "plans_empty.json"), '"states" is empty'),
    "plans overflow": (teacher_with("--teacher.plans", "plans_overflow.json"),
                       "its probabilities sum to inf"),
    "plans outside the grammar": (teacher_with("--teacher.plans", "plans_grammar.json"),
                                  "2 of its 2 plans are outside the MiniGrid grammar"),
    "plans of another task": (teacher_with("--teacher.plans", "plans_unmatched.json"),
                              "knows none of the state texts the task produced"),
    "plans of another task in a fit": (fit_with("--data.teacher.plans", "plans_unmatched.json"),
                                       "knows none of the state texts the task produced"),
    "plans state a list": (teacher_with("--teacher.plans", "plans_state_list.json"),
                           "maps to a list"),
    "plans weight a text": (teacher_with("--teacher.plans", "plans_weight_text.json"),
                            "finite number >= 0, got '0.5'"),
    "plans weight a boolean": (teacher_with("--teacher.plans", "plans_weight_bool.json"),
                               "finite number >= 0, got True"),
    "plans weights zero": (teacher_with("--teacher.plans", "plans_zero.json"),
                           "no plan with a probability > 0"),
    "plans states a list": (teacher_with("--teacher.plans", "plans_states_list.json"),
                            '"states" must be a mapping'),
    "plans state a number": (teacher_with("--teacher.plans", "plans_int_key.yaml"),
                             "state 1 is not a text"),
    "plans not YAML": (teacher_with("--teacher.plans", "plans_bad.yaml"), "is not valid YAML"),
    "plans not UTF-8": (teacher_with("--teacher.plans", "not_utf8.json"), "is not UTF-8 text"),
    "plans a folder": (lambda bad, tmp: ["teacher", "--teacher.plans", str(tmp)],
                       "must end with .json"),
    "plans a folder named .json": (teacher_with("--teacher.plans", "folder.json"),
                                   "cannot be read: Is a directory"),
    # prompt files whose fields are not texts, or too long
    "prompt field a number": (prompted("prompt_number.yaml"), "system is 1, not a text"),
    "prompt field null": (prompted("prompt_null.yaml"), "system is None, not a text"),
    "prompt field a list": (prompted("prompt_list.yaml"), "not a text (quote it)"),
    "prompt field a mapping": (prompted("prompt_mapping.yaml"), "not a text (quote it)"),
    "prompt too long": (prompted("prompt_huge.yaml"), "more than the 32,000 a prompt may"),
    "prompt a list": (prompted("prompt_is_list.yaml"), "lacks logits, prompt, sample, system"),
    "prompt empty": (prompted("prompt_empty.yaml"), "lacks logits, prompt, sample, system"),
    "prompt not UTF-8": (prompted("prompt_not_utf8.yaml"), "cannot be read (UnicodeDecodeError)"),
    "prompt a folder": (prompted("a_folder"), "cannot be read (Is a directory)"),
    # stores and run folders: checked before anything is made
    "store not a database": (fit_store(lambda bad: f"sqlite:///{bad['store_corrupt.db']}"),
                             "cannot be used (file is not a database)"),
    "store in no folder": (fit_store(lambda bad: "sqlite:////proc/no/mlflow.db"),
                           "cannot be used"),
    "store server down": (fit_store(lambda bad: f"http://127.0.0.1:{bad['closed']}"),
                          "is not reachable (Connection refused): start it"),
    "compare store not a database": (lambda bad, tmp: [
        "compare", "--tracking-uri", f"sqlite:///{bad['store_corrupt.db']}", "--experiment",
        "E"], "cannot be used (file is not a database)"),
    "compare store server down": (lambda bad, tmp: [
        "compare", "--tracking-uri", f"http://127.0.0.1:{bad['closed']}", "--experiment", "E"],
        "is not reachable"),
    "run folder under a file": (lambda bad, tmp: [
        "fit", *tiny_fit_args(tmp), "--trainer.default_root_dir", str(bad["a_file"] / "run")],
        "is not writable"),
    "artifact folder cannot be made": (fit("--tracking.artifact_root", "/proc/no/artifacts"),
                                       "(/proc/no): check that the path exists"),
    "config a folder": (fit_with("--config", "a_folder"), "a_folder"),
    "checkpoint a folder": (fit_with("--ckpt_path", "a_folder"), "a_folder is a folder: pass"),
    "evaluate a folder": (lambda bad, tmp: ["evaluate", "--ckpt", str(bad["a_folder"])],
                          "a_folder is a folder: pass a checkpoint file"),
    # compare's own arguments
    "compare unknown run id": (compare("--run-id", "nope"), "no run 'nope' in"),
    "compare malformed filter": (compare("--experiment", "SimpleDoorKey", "--filter", "tags.x="),
                                 "is not an MLflow filter"),
    "compare out a file": (lambda bad, tmp: [
        "compare", "--tracking-uri", bad["store"], "--experiment", "SimpleDoorKey", "--out",
        str(bad["a_file"])], "is a file, not a folder"),
    "compare unknown experiment": (compare("--experiment", "Nope"), "no experiment named Nope"),
    "compare group-by malformed": (compare("--experiment", "SimpleDoorKey", "--group-by", "x"),
                                   "--group-by must look like tags.NAME"),
    "compare metric nobody logged": (compare("--experiment", "SimpleDoorKey", "--metric", "x"),
                                     "none of the selected runs logged the metric 'x'"),
    # code named by a config: refused before it is imported
    "config names a callback's module": (fit_with("--config", "class_callback.yaml"), CLASS_FIX),
    "config names a schedule's module": (fit_with("--config", "class_schedule.yaml"), CLASS_FIX),
    "config names a schedule by text": (fit_with("--config", "class_string.yaml"), CLASS_FIX),
    "config names a logger's module": (fit_with("--config", "class_logger.yaml"), CLASS_FIX),
    "config names a module in init_args": (fit_with("--config", "class_nested.yaml"), CLASS_FIX),
    "config names a function": (fit_with("--config", "class_function.yaml"),
                                "--allow_module os"),
    "command line names a callback": (fit("--trainer.callbacks+=evil.Hook"), CLASS_FIX),
    "command line names a schedule": (fit("--schedule", "evil.Schedule"), CLASS_FIX),
    "command line names a class_path": (fit("--schedule.class_path", "evil.Schedule"),
                                        CLASS_FIX),
    "trainer file names a callback": (fit_with("--trainer", "trainer_callbacks.yaml"), CLASS_FIX),
    "allow_module without a name": (fit("--allow_module"), "--allow_module takes a module name"),
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


def test_the_catalogue_has_a_hundred_and_twenty_faults():
    assert len(CATALOGUE) >= 120


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


def test_a_closed_pipe_is_one_line():
    """``llm4teach tasks | head -0``: the reader has gone before the first line."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "llm4teach", "tasks"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 1
    assert done.stderr == ("llm4teach tasks: error: the output's reader closed the pipe before "
                           "the end (stdout): let it read everything (not | head), or redirect "
                           "the output to a file\n")


class Boom(Callback):
    """A bug: an exception no check expects, as the fit starts."""

    def on_fit_start(self, trainer, pl_module) -> None:
        raise ZeroDivisionError("a bug")


def test_an_unexpected_exception_is_its_traceback_and_a_line_saying_it_is_a_bug(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["fit", *tiny_fit_args(tmp_path), "--allow_module", "test_faults",
              "--trainer.callbacks+=test_faults.Boom"])
    assert exc.value.code == (
        "llm4teach fit: error: this is a bug in llm4teach, not a fault of the input: please "
        "report it as an issue of the llm4teach project, with the command line and the "
        "traceback above (ZeroDivisionError)")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err


def test_a_configs_module_is_refused_before_it_is_imported(bad, tmp_path, monkeypatch):
    """``evil.py`` lies on the import path (as the current folder does under ``python -m``)
    and would exit on import; the config naming it is refused first. Allowed on the command
    line, it is imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(bad["root"]))
    argv = ["fit", *tiny_fit_args(tmp_path), "--config", str(bad["class_callback.yaml"])]
    assert "--allow_module evil" in _one_line(argv)
    assert "evil" not in sys.modules
    with pytest.raises(SystemExit, match="evil ran"):
        main([*argv, "--allow_module", "evil"])
    sys.modules.pop("evil", None)


@pytest.mark.parametrize("uri", ["corrupt", "down"])
def test_a_store_that_cannot_be_used_leaves_no_run_folder(uri, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = (f"sqlite:///{bad['store_corrupt.db']}" if uri == "corrupt"
             else f"http://127.0.0.1:{bad['closed']}")
    _one_line(["fit", *tiny_fit_args(tmp_path), "--tracking.tracking_uri", store])
    assert not (tmp_path / "run").exists()


def test_a_table_partly_outside_the_grammar_warns_with_the_count(tmp_path):
    table = tmp_path / "partly.json"
    table.write_text(PLAN % '{"explore": 1, "fly": 1, "swim": 1}')
    with pytest.warns(UserWarning, match=r"partly.json: 2 of its 3 plans are outside the "
                                         r"MiniGrid grammar \(e.g. \['fly'\]\): the fallback"):
        planner = planner_of("SimpleDoorKey", TeacherConfig(plans=str(table)))
    assert planner.plan(["Agent sees <nothing>, holds <nothing>."])[0]["explore"] == 1


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, leaning to the protocol's own keys and shapes."""
    kinds = ["null", "bool", "int", "float", "text", "list", "object", "choices", "message"]
    kind = rng.choice(kinds[:5] if depth > 4 else kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 10**30])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300])
    if kind == "text":
        return rng.choice(["", "Action: explore", "explore", "x" * 100, "\u2603"])
    if kind == "list":
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "choices":
        return {"choices": [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    if kind == "message":
        return {"message": {"content": _json_value(rng, depth + 1)},
                "logprobs": {"token_logprobs": _json_value(rng, depth + 1),
                             "text_offset": _json_value(rng, depth + 1)}}
    keys = ["choices", "message", "content", "type", "text", "logprobs", "token_logprobs",
            "text_offset", "data", "id"]
    return {rng.choice(keys): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _reply(rng: random.Random) -> Any:
    """A random reply: a quarter of the protocol's shape (for every method at once), the
    rest any JSON."""
    if rng.random() < 0.25:
        content = rng.choice(["Action: explore | 1", None, [{"type": "text", "text": "explore"}]])
        offsets = list(range(0, 20_000, 5))
        return {"choices": [{"message": {"content": content},
                             "logprobs": {"token_logprobs": [-0.5] * len(offsets),
                                          "text_offset": offsets}}],
                "data": [{"id": "m"}]}
    return _json_value(rng)


def test_any_json_the_server_answers_is_an_answer_or_one_line():
    """300 random JSON replies (a fixed seed), each to the three methods' requests and the
    models question: every one gives plans or one ValueError line, never another exception."""
    rng, replies = random.Random(28), []

    def answer(handler: Handler) -> None:
        handler.send(replies[-1])

    outcomes = {"answered": 0, "refused": 0}
    with stub_server(answer) as stub:
        config = {"backend": "openai", "base_url": stub.base_url, "retries": 0,
                  "timeout_s": 5, "cache_path": ":memory:", "num_samples": 2}
        planners = [planner_of("SimpleDoorKey", TeacherConfig(model="m", method=method,
                                                                **config))
                    for method in ("sample", "prompt", "logits")]
        for _ in range(300):
            replies.append(_reply(rng))
            for ask in (lambda: planners[0].samples("Agent sees <key>, holds <nothing>."),
                        lambda: planners[1].weighted("Agent sees <key>, holds <nothing>."),
                        lambda: planners[2].score("Agent sees <key>, holds <nothing>.",
                                                  "explore"),
                        lambda: planner_of("SimpleDoorKey", TeacherConfig(**config))):
                try:
                    ask()
                    outcomes["answered"] += 1
                except ValueError as err:
                    assert "\n" not in str(err) and "teacher" in str(err)
                    outcomes["refused"] += 1
    assert outcomes["answered"] > 100 and outcomes["refused"] > 600, outcomes
