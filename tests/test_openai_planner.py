"""The ``openai`` planner against a real OpenAI-compatible server: ``transformers serve``
on the tiny local model, bound to 127.0.0.1 on a free port, stopped at the module's end.
``logits`` needs the prompt's log-probabilities, which ``transformers serve`` does not
return: a small stdlib server answers ``completions`` with ``echo`` as vLLM does, from
the tiny model."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from extras import installed
from fit_args import tiny_fit_args
from helpers import planner_of
from mlflow.tracking import MlflowClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm4teach.cli import main
from llm4teach.domains.minigrid.tiny_llm import TEXTS, build_tiny_llm
from llm4teach.metrics import EVAL_GREEDY, TEACHER
from llm4teach.teacher import TeacherConfig

START_S = 120  # the server imports transformers and loads the model: seconds, not minutes
SECRET = "sk-test-never-stored"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``(base_url, model)`` of a running ``transformers serve`` whose model always answers
    ``Action: explore``; skipped with the reason when it cannot start."""
    transformers_cli = Path(sys.executable).parent / "transformers"
    missing = [d for d in ("fastapi", "uvicorn", "openai") if not installed(d)]
    if missing or not transformers_cli.exists():
        pytest.skip(f"transformers serve cannot start here: {transformers_cli} or "
                    f"{', '.join(missing)} missing (pip install -e '.[test]' -c constraints.txt)")
    folder = build_tiny_llm(tmp_path_factory.mktemp("served_llm"), answer="Action: explore")
    port = free_port()
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(transformers_cli), "serve", str(folder), "--host", "127.0.0.1", "--port",
             str(port), "--device", "cpu", "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-600:]
                    pytest.skip(f"transformers serve did not start (exit {process.poll()}): "
                                f"{tail}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(folder)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    """``(base_url, model)`` of a stdlib server answering ``completions`` with ``echo``
    and ``logprobs`` in vLLM's format (tokens, token_logprobs, text_offset) from the
    tiny model, plus one greedy token."""
    folder = build_tiny_llm(tmp_path_factory.mktemp("echo_llm"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    lock = threading.Lock()

    class Completions(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/completions" and body["echo"] and body["logprobs"]
            prompt = body["prompt"]
            enc = tokenizer(prompt, return_offsets_mapping=True, add_special_tokens=False)
            ids = torch.tensor([enc["input_ids"]])
            with lock, torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            token_logprobs = [None, *logp[:-1].gather(1, ids[0, 1:, None])[:, 0].tolist()]
            greedy = int(logp[-1].argmax())
            logprobs = {"tokens": tokenizer.convert_ids_to_tokens([*enc["input_ids"], greedy]),
                        "token_logprobs": [*token_logprobs, float(logp[-1, greedy])],
                        "text_offset": [a for a, _ in enc["offset_mapping"]] + [len(prompt)]}
            reply = json.dumps({"choices": [{"index": 0, "logprobs": logprobs,
                                             "text": prompt + tokenizer.decode([greedy])}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args) -> None:  # quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Completions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", str(folder), tokenizer
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def openai_config(server, tmp_path, **kw) -> TeacherConfig:
    base_url, model = server
    kw.setdefault("cache_path", str(tmp_path / "plans.sqlite"))
    return TeacherConfig(backend="openai", base_url=base_url, model=model, num_samples=3,
                         max_new_tokens=8, **kw)


def test_sample_asks_again_when_the_server_ignores_n_and_caches(server, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", SECRET)
    config = openai_config(server, tmp_path, method="sample", api_key_env="TEACHER_KEY")
    planner = planner_of("SimpleDoorKey", config)
    assert planner.plan(TEXTS + TEXTS[:1]) == [{"explore": 1.0}] * (len(TEXTS) + 1)
    assert planner.stats.model_calls == len(TEXTS) and planner.stats.parse_failures == 0
    again = planner_of("SimpleDoorKey", config)  # a later run: all from the cache
    assert again.plan(TEXTS) == [{"explore": 1.0}] * len(TEXTS)
    assert again.stats.model_calls == 0 and again.stats.hits == len(TEXTS)
    assert SECRET.encode() not in (tmp_path / "plans.sqlite").read_bytes()
    assert SECRET not in repr(config) and SECRET not in repr(vars(planner))


def test_prompt_without_weights_counts_a_failure_and_is_cached(server, tmp_path):
    planner = planner_of("SimpleDoorKey", openai_config(server, tmp_path, method="prompt"))
    assert planner.plan(TEXTS[:2]) == [{}, {}]  # "Action: explore" has no "| weight"
    assert planner.stats.parse_failures == 4  # the line and the answer, per text
    assert planner.stats.no_plan == 2
    again = planner_of("SimpleDoorKey", openai_config(server, tmp_path, method="prompt"))
    assert again.plan(TEXTS[:2]) == [{}, {}]
    assert again.stats.model_calls == 0  # the same question gets the same answer: kept


def test_logits_on_a_server_without_prompt_logprobs_names_the_fix(server, tmp_path):
    planner = planner_of("SimpleDoorKey", openai_config(server, tmp_path, method="logits"))
    with pytest.raises(ValueError, match="use teacher method sample or prompt"):
        planner.plan(TEXTS[:1])


def test_logits_from_echoed_prompt_logprobs_mean_per_token(echo_server, tmp_path):
    base_url, model, tokenizer = echo_server
    mean = planner_of("SimpleDoorKey", openai_config((base_url, model), tmp_path))
    dists = mean.plan(TEXTS)
    for text, dist in zip(TEXTS, dists, strict=True):
        assert list(dist) == mean.grammar.candidate_plans(text)
        assert abs(sum(dist.values()) - 1) < 1e-6 and all(p > 0 for p in dist.values())
    total = planner_of("SimpleDoorKey", openai_config((base_url, model), tmp_path,
                                                        logits_norm="sum"))
    plan = "go to <key>, pick up <key>, go to <door>, open <door>"
    tokens = len(tokenizer(f" {plan}\n", add_special_tokens=False)["input_ids"])
    assert tokens > 5
    ratio = total.score(TEXTS[1], plan) / mean.score(TEXTS[1], plan)
    assert ratio == pytest.approx(tokens)  # the plan's tokens and the line's end, no more
    total.plan(TEXTS[:1])
    assert total.stats.model_calls == 1  # the norm is part of the cache key


def test_server_errors_are_one_line(server, tmp_path, monkeypatch):
    base_url, model = server
    with pytest.raises(ValueError, match="refused the request .*HTTP 400.*pinned"):
        planner_of("SimpleDoorKey", openai_config((base_url, "other-model"), tmp_path,
                                                    method="sample")).plan(TEXTS[:1])
    closed = (f"http://127.0.0.1:{free_port()}/v1", model)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="did not answer after 2 tries .*start it"):
        planner_of("SimpleDoorKey", openai_config(closed, tmp_path, retries=1)).plan(TEXTS)
    assert time.perf_counter() - start < 5
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ValueError, match="api_key_env names NO_SUCH_KEY_VAR, which is not set"):
        planner_of("SimpleDoorKey", openai_config(server, tmp_path,
                                                    api_key_env="NO_SUCH_KEY_VAR"))
    with pytest.raises(ValueError, match="needs base_url"):
        TeacherConfig(backend="openai", model="m")
    with pytest.raises(ValueError, match="concurrency must be an integer >= 1"):
        TeacherConfig(backend="openai", model="m", base_url=base_url, concurrency=0)


@pytest.mark.slow
def test_fit_with_the_server_teacher(server, in_tmp):
    base_url, model = server
    teacher = {"--data.teacher.backend": "openai", "--data.teacher.base_url": base_url,
               "--data.teacher.model": model, "--data.teacher.method": "sample",
               "--data.teacher.num_samples": "2", "--data.teacher.max_new_tokens": "8",
               "--data.teacher.cache_path": str(in_tmp / "plans.sqlite")}
    main(["fit", *tiny_fit_args(in_tmp, total_frames=128, **teacher)])
    client = MlflowClient(f"sqlite:///{in_tmp}/mlruns/mlflow.db")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.params["data.teacher.backend"] == "openai"
    assert run.data.metrics[TEACHER + "model_calls"] > 0
    assert run.data.metrics[TEACHER + "parse_failures"] == 0
    assert client.get_metric_history(run.info.run_id, EVAL_GREEDY)


def test_model_unset_where_the_server_does_not_list_it_asks_for_model(server, tmp_path):
    base_url, _ = server
    with pytest.raises(ValueError, match=r"model is not set, and .*/v1/models does not name the "
                                         r"one model served \(HTTP 500: .*set teacher model"):
        planner_of("SimpleDoorKey", TeacherConfig(backend="openai", base_url=base_url,
                                                    cache_path=str(tmp_path / "p.sqlite")))
