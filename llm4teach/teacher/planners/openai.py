"""The ``openai`` planner: a server speaking the OpenAI-compatible protocol (vLLM, TGI,
Ollama, ``transformers serve``...), with the spec's three methods where it allows them.

``sample``: ``chat/completions`` asked for ``n`` answers at the temperature; a server
that returns fewer (``transformers serve`` and Ollama ignore ``n``) is asked again, each
call with the next seed, until there are ``num_samples``.
``prompt``: one greedy (temperature 0) chat answer listing weighted plans.
``logits``: each candidate plan after the plain-text context (no chat template), sent
to ``completions`` with ``echo`` and ``logprobs`` (vLLM returns the prompt's token
log-probabilities so); a server that returns none gets one ``ValueError`` naming the fix.
Without a ``model``, the one the server lists at ``GET models`` is asked.

Requests run ``concurrency`` at a time (threads; stdlib ``urllib``). Each has one
deadline, ``timeout_s`` from its start, that bounds everything it does: connecting,
waiting, reading a reply however slowly it comes, and its retries (with backoff, or as
long as a 429 or 503's ``Retry-After`` asks, on connection errors, 408, 429 and 5xx).
Every reply is checked against the protocol's shape before it is read, so a server
answering something else is one ``ValueError`` naming it, never a traceback. The API key
is read from the environment variable ``api_key_env`` names at each request: never
stored, logged or cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import http.client
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any, TypeVar

from llm4teach.teacher.config import OpenAISettings
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import LLMPlanner, PlanDist

RETRIED_STATUS = {408, 429, 500, 502, 503, 504}  # worth asking again: busy or restarting
BACKOFF_S = 0.5  # first wait before a retry; doubled each time, at most BACKOFF_MAX_S
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 60.0  # the longest Retry-After honoured; the deadline still bounds it
MAX_REPLY_BYTES = 16 << 20  # a reply larger than this is no answer to a plan question
T = TypeVar("T")
R = TypeVar("R")


class OpenAIPlanner(LLMPlanner):
    """Plans with a model behind an OpenAI-compatible server at ``config.base_url``.

    Example (a server on this machine serving the model under the name ``my-model``):
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.teacher import TeacherConfig
        >>> config = TeacherConfig(backend="openai", base_url="http://127.0.0.1:8000/v1",
        ...                        model="my-model", method="sample")
        >>> teacher = resolve("SimpleDoorKey").make_teacher(config).teacher  # doctest: +SKIP
        >>> planner = teacher.planner  # doctest: +SKIP
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])  # doctest: +SKIP
        [{'go to <key>, pick up <key>': 0.9, 'explore': 0.1}]
    """

    name = "openai"
    KEYED = ("base_url", "model", "method", "temperature", "num_samples", "max_new_tokens",
             "logits_norm")
    config: OpenAISettings

    def __init__(self, config: OpenAISettings, grammar: Grammar, prompt: dict[str, str],
                 seed: int = 0) -> None:
        if config.api_key_env is not None and not os.environ.get(config.api_key_env):
            raise ValueError(
                f"teacher api_key_env names {config.api_key_env}, which is not set: export "
                f"{config.api_key_env}=<key> (the variable's name goes in the config, never "
                "the key), or leave api_key_env unset for a server without keys"
            )
        self.base_url = str(config.base_url).rstrip("/")
        self.config = config
        if not config.model:  # the cache key holds the name the server gave
            config = dataclasses.replace(config, model=self.served_model())
        super().__init__(config, grammar, prompt, seed)

    def _answer(self, texts: list[str]) -> dict[str, PlanDist]:
        if self.config.method == "logits":
            return self.candidate_dists(texts, lambda jobs: self._map(
                lambda job: self.score(*job), jobs))
        ask = self.samples if self.config.method == "sample" else self.weighted
        answers = self._map(ask, texts)
        if self.config.method == "sample":
            return {t: self.sample_dist(a) for t, a in zip(texts, answers, strict=True)}
        return {t: self.weighted_dist(a) for t, a in zip(texts, answers, strict=True)}

    def _map(self, ask: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``ask`` over ``items``, ``concurrency`` at a time; the first failure cancels the
        requests not yet started, so a dead server costs one deadline, not one per text."""
        failed = threading.Event()

        def guarded(item: T) -> R:
            if failed.is_set():  # a later item than the failed one: never reached by map
                raise CancelledError
            try:
                return ask(item)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(self.config.concurrency) as pool:
            return list(pool.map(guarded, items))

    # --------------------------------------------------------------- the methods
    def _chat(self, text: str, method: str, n: int, temperature: float, seed: int) -> list[str]:
        route = "chat/completions"
        reply = self.request(route, {
            "model": self.config.model,
            "messages": [{"role": "system", "content": self.prompt["system"]},
                         {"role": "user", "content": self.instruction(text, method)}],
            "n": n, "temperature": temperature, "max_tokens": self.max_new_tokens,
            "seed": seed,
        })
        choices = self._choices(route, reply)
        return [self._content(route, choice) for choice in choices]

    def samples(self, text: str) -> list[str]:
        """``num_samples`` free-text answers for one state text (``sample``)."""
        n, answers = self.config.num_samples, []
        while len(answers) < n:
            seed = self.seed + len(answers)
            answers += self._chat(text, "sample", n - len(answers), self.config.temperature,
                                  seed)[: n - len(answers)]
        return answers

    def weighted(self, text: str) -> str:
        """The greedy answer listing weighted plans for one state text (``prompt``)."""
        return self._chat(text, "prompt", 1, 0.0, self.seed)[0]

    def score(self, text: str, plan: str) -> float:
        """Mean (or sum, ``logits_norm``) log-probability of ``plan`` and the line's end
        after ``text``'s plain-text context, from the echoed prompt's logprobs."""
        route = "completions"
        context = self.plain_context(text, "logits") + "Action:"
        continuation = f" {plan}\n"
        reply = self.request(route, {
            "model": self.config.model, "prompt": context + continuation, "echo": True,
            "logprobs": 1, "max_tokens": 1, "temperature": 0.0,
        })
        logprobs = self._choices(route, reply)[0].get("logprobs") or {}
        if not isinstance(logprobs, dict):
            raise self._shape(route, "choices[0].logprobs is not an object", reply)
        values, offsets = logprobs.get("token_logprobs") or [], logprobs.get("text_offset") or []
        if not (isinstance(values, list) and isinstance(offsets, list)
                and all(v is None or _finite(v) for v in values)
                and all(isinstance(at, int) and not isinstance(at, bool) for at in offsets)):
            raise self._shape(route, "logprobs.token_logprobs must be a list of finite numbers "
                                     "and text_offset a list of integers", reply)
        start, end = len(context), len(context) + len(continuation)
        picked = [lp for lp, at in zip(values, offsets, strict=False)
                  if start <= at < end and lp is not None]
        if not picked:
            raise ValueError(
                f"the teacher server {self.base_url} returned no log-probabilities of the "
                "prompt (completions with echo and logprobs), so method logits cannot "
                "score plans there: use teacher method sample or prompt, or a server that "
                "returns them (vLLM)"
            )
        return sum(picked) / (len(picked) if self.config.logits_norm == "mean" else 1)

    def served_model(self) -> str:
        """The one model the server lists at ``GET models`` (vLLM, Ollama, TGI do); a server
        that does not say (``transformers serve`` answers 500 there) or serves several is
        one ``ValueError`` asking for ``model``. One try: no route is no outage."""
        url, reply = f"{self.base_url}/models", None
        try:
            status, _, raw = _exchange(url, None, self._headers(),
                                       time.monotonic() + self.config.timeout_s)
            reason = f"HTTP {status}: {_detail(raw)}"
            reply = json.loads(raw) if status == 200 else None
        except TimeoutError:
            reason = f"no reply within timeout_s {self.config.timeout_s:g} s"
        except (OSError, http.client.HTTPException) as err:
            reason = _oserror(err)
        except (ValueError, RecursionError):
            reason = "not JSON"
        data = reply.get("data") if isinstance(reply, dict) else None
        names = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) \
            else []
        names = [n for n in names if isinstance(n, str) and n]
        if len(names) == 1:
            return names[0]
        if reply is not None:
            reason = f"it lists {len(names)} models: {', '.join(names[:10]) or 'none'}"
        raise ValueError(f"teacher model is not set, and {url} does not name the one model "
                         f"served ({reason}): set teacher model to the name the server "
                         "serves the model under")

    # ------------------------------------------------------------ reply shapes
    def _shape(self, route: str, what: str, reply: Any) -> ValueError:
        return ValueError(
            f"the teacher server {self.base_url}/{route} answered JSON of another shape than "
            f"the OpenAI protocol's ({what}; got {json.dumps(reply)[:160]}); check that "
            "base_url is an OpenAI-compatible server's root (e.g. http://127.0.0.1:8000/v1)")

    def _choices(self, route: str, reply: Any) -> list[dict[str, Any]]:
        """The reply's ``choices``, a non-empty list of objects."""
        if not isinstance(reply, dict):
            raise self._shape(route, "the reply is not an object", reply)
        choices = reply.get("choices")
        if not choices:
            raise ValueError(f"the teacher server {self.base_url} answered without choices "
                             f"({json.dumps(reply)[:200]}); check it serves {route}")
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise self._shape(route, "choices must be a list of objects", reply)
        return choices

    def _content(self, route: str, choice: dict[str, Any]) -> str:
        """A chat choice's text: ``message.content`` as a string, or the newer list of
        content parts (the ``text`` parts joined); none (a refusal, tool calls) is ''."""
        message = choice.get("message")
        if not isinstance(message, dict):
            raise self._shape(route, "a choice's message is not an object", choice)
        content = message.get("content")
        if content is None or isinstance(content, str):
            return content or ""
        if isinstance(content, list) and all(isinstance(p, dict) for p in content):
            texts = [p.get("text") for p in content if p.get("type", "text") == "text"]
            if all(isinstance(t, str) for t in texts):
                return "".join(texts)
        raise self._shape(route, "message.content must be a text or a list of content parts "
                                 "with texts", choice)

    # -------------------------------------------------------------------- HTTP
    def _headers(self) -> dict[str, str]:
        """JSON, and the key (read now from ``api_key_env``'s variable) when one is named."""
        headers = {"Content-Type": "application/json"}
        if self.config.api_key_env is not None:
            headers["Authorization"] = f"Bearer {os.environ.get(self.config.api_key_env, '')}"
        return headers

    def request(self, route: str, body: dict[str, Any]) -> Any:
        """The JSON reply to ``body`` POSTed to ``base_url/route``, within one deadline of
        ``timeout_s``: connection errors, timeouts, 408, 429 and 5xx are retried up to
        ``retries`` times while time is left, after a backoff or the server's
        ``Retry-After``; other refusals and the last failure are one ``ValueError``
        naming the fix."""
        url, headers = f"{self.base_url}/{route}", self._headers()
        data = json.dumps(body, allow_nan=False).encode()
        deadline = time.monotonic() + self.config.timeout_s
        reason, tries, wait = "", 0, 0.0
        while tries <= self.config.retries:
            if tries:
                if time.monotonic() + wait >= deadline:
                    reason += f"; the next try, {wait:g} s later, would pass the deadline"
                    break
                time.sleep(wait)
            tries += 1
            try:
                status, retry_after, raw = _exchange(url, data, headers, deadline)
            except TimeoutError:
                reason = f"no complete reply within timeout_s {self.config.timeout_s:g} s"
                break
            except (OSError, http.client.HTTPException) as err:
                reason = _oserror(err)
                wait = _backoff(tries)
                continue
            if status >= 400:
                reason = f"HTTP {status}: {_detail(raw)}"
                if status not in RETRIED_STATUS:
                    raise ValueError(f"the teacher server {url} refused the request ({reason}); "
                                     f"{_fix(status)}")
                wait = _backoff(tries) if retry_after is None else retry_after
                continue
            try:
                return json.loads(raw)
            except ValueError:  # not JSON, not UTF-8, or a number too deep for the parser
                raise ValueError(f"the teacher server {url} answered something other than "
                                 f"JSON ({raw[:120]!r}); is base_url the server's OpenAI "
                                 "root (e.g. http://127.0.0.1:8000/v1)?") from None
            except RecursionError:
                raise ValueError(f"the teacher server {url} answered JSON nested too deep to "
                                 "read; check base_url and the server") from None
        raise ValueError(f"the teacher server {url} did not answer after {tries} "
                         f"{'try' if tries == 1 else 'tries'} ({reason}); start it, or fix "
                         "teacher base_url (or raise teacher timeout_s)")


def _exchange(url: str, data: bytes | None, headers: dict[str, str],
              deadline: float) -> tuple[int, float | None, bytes]:
    """One HTTP exchange (through urllib: proxies and redirects as the environment says)
    cut at ``deadline`` (``TimeoutError``), however slowly the server sends: ``(status,
    Retry-After seconds or None, body)``. A socket timeout bounds one read; a timer that
    shuts the exchange's sockets at the deadline bounds them all."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sockets: list[socket.socket] = []
    cut = threading.Timer(left, _shut, (sockets,))
    cut.start()
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method="GET" if data is None else "POST")
    try:
        try:
            reply = _opener(sockets).open(request, timeout=left)
        except urllib.error.HTTPError as refusal:  # a status >= 400 and its body
            reply = refusal
        with reply:
            raw = reply.read(MAX_REPLY_BYTES + 1)
    except (OSError, http.client.HTTPException):
        if time.monotonic() >= deadline:
            raise TimeoutError from None
        raise
    finally:
        cut.cancel()
    if time.monotonic() >= deadline:
        raise TimeoutError
    if len(raw) > MAX_REPLY_BYTES:
        raise http.client.HTTPException(f"a reply over {MAX_REPLY_BYTES >> 20} MiB")
    return reply.status, _retry_after(reply.headers.get("Retry-After")), raw


def _opener(sockets: list[socket.socket]) -> urllib.request.OpenerDirector:
    """urllib's opener, each socket its connections open kept in ``sockets`` (for ``_shut``:
    urllib hands a reply's socket to the reply and forgets it)."""

    def keeping(kind: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Keeping(kind):
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)
        return Keeping

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(keeping(http.client.HTTPConnection), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(keeping(http.client.HTTPSConnection), req,
                                context=self._context)

    return urllib.request.build_opener(HTTP, HTTPS)


def _shut(sockets: list[socket.socket]) -> None:
    """End the sockets of an exchange from another thread: a blocked read returns at once."""
    for sock in list(sockets):
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (a number or an HTTP date), at most
    ``RETRY_AFTER_MAX_S``; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S) if math.isfinite(seconds) else None


def _backoff(tries: int) -> float:
    return min(BACKOFF_S * 2 ** (tries - 1), BACKOFF_MAX_S)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _oserror(err: BaseException) -> str:
    """A connection failure in a few words (``Connection refused``...), urllib's wrapped
    reason included."""
    reason = getattr(err, "reason", None) or err
    return getattr(reason, "strerror", None) or str(reason) or type(err).__name__


def _detail(raw: bytes) -> str:
    """The first 200 characters of an error reply's body."""
    return " ".join(raw.decode("utf-8", "replace").split())[:200] or "no detail"


def _fix(status: int) -> str:
    if status in (401, 403):
        return "set the server's key in the environment variable that api_key_env names"
    if status == 404:
        return ("check base_url (the OpenAI root, e.g. http://127.0.0.1:8000/v1) and model "
                "(leave it unset to ask the one the server lists)")
    return "check the teacher model name and settings against the server's log"
