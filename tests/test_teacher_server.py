"""The server client of the ``openai`` teacher against scripted stdlib servers on 127.0.0.1:
one deadline per request however the server stalls, ``Retry-After`` honoured within it,
content parts read, the served model's name asked where the server tells it."""

from __future__ import annotations

import socket
import time

import pytest
from fit_args import tiny_fit_args
from helpers import planner_of
from stub_server import Handler, chat, drip, hang, stub_server

from llm4teach.cli import main
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.export import export_table

TEXT = "Agent sees <key>, holds <nothing>."


def planner(base_url: str, **kw):
    kw.setdefault("model", "m")
    return planner_of("SimpleDoorKey", TeacherConfig(
        backend="openai", base_url=base_url, method="sample", num_samples=2,
        cache_path=":memory:", **kw))


def test_a_429s_retry_after_is_waited_for():
    def answer(handler: Handler) -> None:
        if len(stub.requests) == 1:
            handler.send({"error": "busy"}, 429, {"Retry-After": "2"})
        else:
            handler.send(chat("Action: explore", "Action: explore"))

    with stub_server(answer) as stub:
        assert planner(stub.base_url).plan([TEXT]) == [{"explore": 1.0}]
    (first, *_), (again, *_) = stub.requests
    assert 2.0 <= again - first < 3.0  # the server's 2 s, not the 0.5 s backoff


def test_a_retry_after_past_the_deadline_gives_up_at_once_saying_so():
    with stub_server(lambda h: h.send({}, 503, {"Retry-After": "50"})) as stub:
        start = time.monotonic()
        with pytest.raises(ValueError, match=r"after 1 try \(HTTP 503.*50 s later, would pass"):
            planner(stub.base_url, timeout_s=5).plan([TEXT])
        assert time.monotonic() - start < 1
        assert len(stub.requests) == 1


def test_a_dripping_server_is_cut_at_the_deadline():
    with stub_server(drip) as stub:
        start = time.monotonic()
        with pytest.raises(ValueError, match="no complete reply within timeout_s 2 s"):
            planner(stub.base_url, timeout_s=2).plan([TEXT])
        assert 2 <= time.monotonic() - start < 3


def test_a_hung_server_costs_one_deadline_whatever_the_retries_and_texts():
    with stub_server(hang) as stub:
        start = time.monotonic()
        with pytest.raises(ValueError, match="no complete reply within timeout_s 1 s"):
            planner(stub.base_url, timeout_s=1, retries=3, concurrency=2).plan(
                [f"{TEXT} {i}" for i in range(20)])
        assert time.monotonic() - start < 2  # not 20 texts / 2 at a time * 1 s
        assert len(stub.requests) <= 2


def test_defaults_give_up_on_a_closed_port_within_seconds():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"did not answer after 4 tries \(Connection refused"):
        planner(f"http://127.0.0.1:{port}/v1").plan([TEXT])
    assert time.monotonic() - start < 5  # backoff 0.5 + 1 + 2 s


@pytest.mark.slow
def test_defaults_give_up_on_a_hung_server_in_about_thirty_seconds():
    assert TeacherConfig().timeout_s == 30
    with stub_server(hang) as stub:
        start = time.monotonic()
        with pytest.raises(ValueError, match="no complete reply within timeout_s 30 s"):
            planner(stub.base_url).plan([TEXT])
        assert 30 <= time.monotonic() - start < 32


def test_content_parts_are_read_as_their_text():
    parts = [{"type": "text", "text": "Action: "}, {"type": "image_url", "image_url": {}},
             {"type": "text", "text": "explore"}]
    with stub_server(lambda h: h.send(chat(parts, parts))) as stub:
        assert planner(stub.base_url).plan([TEXT]) == [{"explore": 1.0}]


def test_the_served_models_name_is_asked_when_model_is_unset():
    def answer(handler: Handler) -> None:
        if handler.path == "/v1/models":
            handler.send({"object": "list", "data": [{"id": "served", "object": "model"}]})
        else:
            assert handler.body["model"] == "served"
            handler.send(chat("Action: explore", "Action: explore"))

    with stub_server(answer) as stub:
        assert planner(stub.base_url, model=None).plan([TEXT]) == [{"explore": 1.0}]


@pytest.mark.parametrize(("models", "fragment"), [
    ((500, {"detail": "Internal Server Error"}), r"\(HTTP 500: .*Internal Server Error"),
    ((200, {"data": [{"id": "a"}, {"id": "b"}]}), r"it lists 2 models: a, b"),
    ((200, ["a"]), r"it lists 0 models: none"),
])
def test_a_server_that_does_not_name_one_model_asks_for_model(models, fragment):
    status, reply = models
    with stub_server(lambda h: h.send(reply, status)) as stub:
        with pytest.raises(ValueError, match=f"model is not set, .*{fragment}.*set teacher model"):
            planner(stub.base_url, model=None)
        assert len(stub.requests) == 1  # asked once: a server without the route is no outage


@pytest.mark.slow
def test_a_fit_whose_server_dies_keeps_its_checkpoint_and_says_how_to_continue(in_tmp):
    """A run trained with the server, waiting for it; continued once the server fails (a new
    process asks again: ``:memory:`` cache), it stops at the first request, its checkpoint
    untouched. (Answering in the background, the fit stops at the rollout after the failure:
    tests/test_background_teacher.py.)"""
    down = False

    def answer(handler: Handler) -> None:
        if down:
            handler.send({"detail": "model crashed"}, 503)
        else:
            handler.send(chat("Action: explore", "Action: explore"))

    with stub_server(answer) as stub:
        teacher = {"--data.teacher.backend": "openai", "--data.teacher.base_url": stub.base_url,
                   "--data.teacher.model": "m", "--data.teacher.method": "sample",
                   "--data.teacher.num_samples": "2", "--data.teacher.retries": "1",
                   "--data.teacher.cache_path": ":memory:",
                   "--data.teacher.wait": "true"}
        main(["fit", *tiny_fit_args(in_tmp, total_frames=128, **teacher)])
        last = in_tmp / "run/checkpoints/last.ckpt"
        kept = last.read_bytes()
        down = True
        with pytest.raises(SystemExit) as exc:
            main(["fit", *tiny_fit_args(in_tmp, total_frames=256, **teacher),
                  "--ckpt_path", "last"])
    assert exc.value.code.startswith(f"llm4teach fit: error: the teacher server {stub.base_url}"
                                     "/chat/completions did not answer after 2 tries (HTTP 503")
    assert exc.value.code.endswith(
        f"(the checkpoints in {in_tmp}/run/checkpoints are kept: continue the run with the "
        "same command and --ckpt_path last)")
    assert last.read_bytes() == kept


def test_an_export_records_the_model_the_server_named():
    def answer(handler: Handler) -> None:
        if handler.path == "/v1/models":
            handler.send({"data": [{"id": "served"}]})
        else:
            handler.send(chat("Action: explore", "Action: explore"))

    with stub_server(answer) as stub:
        table = export_table("SimpleDoorKey", TeacherConfig(
            backend="openai", base_url=stub.base_url, method="sample", num_samples=2,
            cache_path=":memory:"), episodes=1, policy="random")
    assert table["model"] == "served" and "openai model served" in table["about"]
    assert table["states"] and all(d == {"explore": 1.0} for d in table["states"].values())
