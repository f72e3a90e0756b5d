"""A stdlib HTTP server on 127.0.0.1 whose every reply a test scripts: the teacher's server
client meets slow, refusing, dripping and malformed servers without a network or a model."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Answer = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    """Records each request, then lets the server's ``answer`` reply."""

    protocol_version = "HTTP/1.1"
    server: StubHTTPServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = json.loads(self.rfile.read(length)) if length else None
        self.server.stub.requests.append((time.monotonic(), self.command, self.path))
        self.server.stub.answer(self)

    do_GET = do_POST = _handle  # noqa: N815 (http.server's names)

    def send(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> None:
        """``payload`` as JSON (or ``raw`` bytes) with ``status`` and ``headers``."""
        data = json.dumps(payload).encode() if raw is None else raw
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


class StubHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a dripping reply never holds the test's end
    stub: Stub


@dataclass
class Stub:
    """The running server: its ``base_url`` (``.../v1``), the requests it got as
    ``(monotonic time, method, path)``, and the ``answer`` it replies with."""

    answer: Answer
    base_url: str = ""
    requests: list[tuple[float, str, str]] = field(default_factory=list)


@contextmanager
def stub_server(answer: Answer) -> Iterator[Stub]:
    """A server replying with ``answer`` (change ``stub.answer`` at will) while the block runs."""
    stub = Stub(answer)
    httpd = StubHTTPServer(("127.0.0.1", 0), Handler)
    httpd.stub = stub
    stub.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def chat(*contents: Any) -> dict[str, Any]:
    """A ``chat/completions`` reply with one choice per content."""
    return {"choices": [{"index": i, "message": {"role": "assistant", "content": c}}
                        for i, c in enumerate(contents)]}


def drip(handler: Handler, every_s: float = 0.2, count: int = 1000) -> None:
    """A 200 whose body comes one byte every ``every_s`` seconds, ``count`` bytes long."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(count))
    handler.end_headers()
    try:
        for _ in range(count):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(every_s)
    except OSError:
        pass  # the client hung up, as it should


def hang(handler: Handler, seconds: float = 120.0) -> None:
    """Accept the request and never answer (until ``seconds`` or the client hangs up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
