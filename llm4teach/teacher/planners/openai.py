"""The ``openai`` planner: a server speaking the OpenAI-compatible protocol (vLLM, TGI,
Ollama, ``transformers serve``...), with the spec's three methods where it allows them.

``sample``: ``chat/completions`` asked for ``n`` answers at the temperature; a server
that returns fewer (``transformers serve`` and Ollama ignore ``n``) is asked again, each
call with the next seed, until there are ``num_samples``.
``prompt``: one greedy (temperature 0) chat answer listing weighted plans.
``logits``: each candidate plan after the plain-text context (no chat template), sent
to ``completions`` with ``echo`` and ``logprobs`` (vLLM returns the prompt's token
log-probabilities so); a server that returns none gets one ``ValueError`` naming the fix.
Requests run ``concurrency`` at a time (threads; stdlib ``urllib``), each retried with
backoff on connection errors, 429 and 5xx. The API key is read from the environment
variable ``api_key_env`` names at each request: never stored, logged or cached.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import MINIGRID, Grammar
from llm4teach.teacher.planners.base import LLMPlanner, PlanDist

RETRIED_STATUS = {408, 429, 500, 502, 503, 504}  # worth asking again: busy or restarting
BACKOFF_S = 0.5  # first wait before a retry; doubled each time, at most BACKOFF_MAX_S
BACKOFF_MAX_S = 8.0


class OpenAIPlanner(LLMPlanner):
    """Plans with a model behind an OpenAI-compatible server at ``config.base_url``.

    Example (a server on this machine serving the model under the name ``my-model``):
        >>> cfg = TeacherConfig(backend="openai", base_url="http://127.0.0.1:8000/v1",
        ...                     model="my-model", method="sample")
        >>> planner = OpenAIPlanner("SimpleDoorKey", cfg)  # doctest: +SKIP
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])  # doctest: +SKIP
        [{'go to <key>, pick up <key>': 0.9, 'explore': 0.1}]
    """

    KEYED = ("backend", "base_url", "model", "method", "temperature", "num_samples",
             "max_new_tokens", "seed", "logits_norm")

    def __init__(self, task: str, config: TeacherConfig, grammar: Grammar = MINIGRID) -> None:
        super().__init__(task, config, grammar)
        if config.api_key_env is not None and not os.environ.get(config.api_key_env):
            raise ValueError(
                f"teacher api_key_env names {config.api_key_env}, which is not set: export "
                f"{config.api_key_env}=<key> (the variable's name goes in the config, never "
                "the key), or leave api_key_env unset for a server without keys"
            )
        self.base_url = str(config.base_url).rstrip("/")

    def _answer(self, texts: list[str]) -> dict[str, PlanDist]:
        if self.config.method == "logits":
            def score_jobs(jobs: list[tuple[str, str]]) -> list[float]:
                with ThreadPoolExecutor(self.config.concurrency) as pool:
                    return list(pool.map(lambda job: self.score(*job), jobs))

            return self.candidate_dists(texts, score_jobs)
        ask = self.samples if self.config.method == "sample" else self.weighted
        with ThreadPoolExecutor(self.config.concurrency) as pool:
            answers = list(pool.map(ask, texts))
        if self.config.method == "sample":
            return {t: self.sample_dist(a) for t, a in zip(texts, answers, strict=True)}
        return {t: self.weighted_dist(a) for t, a in zip(texts, answers, strict=True)}

    # --------------------------------------------------------------- the methods
    def _chat(self, text: str, method: str, n: int, temperature: float, seed: int) -> list[str]:
        reply = self.request("chat/completions", {
            "model": self.config.model,
            "messages": [{"role": "system", "content": self.prompt["system"]},
                         {"role": "user", "content": self.instruction(text, method)}],
            "n": n, "temperature": temperature, "max_tokens": self.max_new_tokens,
            "seed": seed,
        })
        choices = reply.get("choices") or []
        if not choices:
            raise ValueError(f"the teacher server {self.base_url} answered without choices "
                             f"({str(reply)[:200]}); check it serves chat completions")
        return [(c.get("message") or {}).get("content") or "" for c in choices]

    def samples(self, text: str) -> list[str]:
        """``num_samples`` free-text answers for one state text (``sample``)."""
        n, answers = self.config.num_samples, []
        while len(answers) < n:
            seed = self.config.seed + len(answers)
            answers += self._chat(text, "sample", n - len(answers), self.config.temperature,
                                  seed)[: n - len(answers)]
        return answers

    def weighted(self, text: str) -> str:
        """The greedy answer listing weighted plans for one state text (``prompt``)."""
        return self._chat(text, "prompt", 1, 0.0, self.config.seed)[0]

    def score(self, text: str, plan: str) -> float:
        """Mean (or sum, ``logits_norm``) log-probability of ``plan`` and the line's end
        after ``text``'s plain-text context, from the echoed prompt's logprobs."""
        context = self.plain_context(text, "logits") + "Action:"
        continuation = f" {plan}\n"
        reply = self.request("completions", {
            "model": self.config.model, "prompt": context + continuation, "echo": True,
            "logprobs": 1, "max_tokens": 1, "temperature": 0.0,
        })
        logprobs = ((reply.get("choices") or [{}])[0].get("logprobs")) or {}
        start, end = len(context), len(context) + len(continuation)
        picked = [lp for lp, at in zip(logprobs.get("token_logprobs") or [],
                                       logprobs.get("text_offset") or [], strict=False)
                  if start <= at < end and lp is not None]
        if not picked:
            raise ValueError(
                f"the teacher server {self.base_url} returned no log-probabilities of the "
                "prompt (completions with echo and logprobs), so method logits cannot "
                "score plans there: use teacher method sample or prompt, or a server that "
                "returns them (vLLM)"
            )
        return sum(picked) / (len(picked) if self.config.logits_norm == "mean" else 1)

    # -------------------------------------------------------------------- HTTP
    def request(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` as JSON to ``base_url/route``; connection errors, timeouts, 429
        and 5xx are retried ``retries`` times with exponential backoff, other refusals
        and the last failure are one ``ValueError`` naming the fix."""
        url = f"{self.base_url}/{route}"
        headers = {"Content-Type": "application/json"}
        if self.config.api_key_env is not None:
            headers["Authorization"] = f"Bearer {os.environ.get(self.config.api_key_env, '')}"
        data = json.dumps(body).encode()
        reason = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S))
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_s) as reply:
                    raw = reply.read()
            except urllib.error.HTTPError as err:
                reason = f"HTTP {err.code}: {_detail(err)}"
                if err.code not in RETRIED_STATUS:
                    raise ValueError(f"the teacher server {url} refused the request ({reason}); "
                                     f"{_fix(err.code)}") from None
                continue
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                reason = str(getattr(err, "reason", None) or err) or type(err).__name__
                continue
            try:
                return json.loads(raw)
            except ValueError:
                raise ValueError(f"the teacher server {url} answered something other than "
                                 f"JSON ({raw[:120]!r}); is base_url the server's OpenAI "
                                 "root (e.g. http://127.0.0.1:8000/v1)?") from None
        raise ValueError(f"the teacher server {url} did not answer after "
                         f"{self.config.retries + 1} tries ({reason}); start it, or fix "
                         "--data.teacher.base_url (or raise --data.teacher.timeout_s)")


def _detail(err: urllib.error.HTTPError) -> str:
    """The first 200 characters of an error reply's body."""
    try:
        return err.read().decode("utf-8", "replace").strip()[:200] or str(err.reason)
    except OSError:
        return str(err.reason)


def _fix(status: int) -> str:
    if status in (401, 403):
        return "set the server's key in the environment variable that api_key_env names"
    if status == 404:
        return "check base_url (the OpenAI root, e.g. http://127.0.0.1:8000/v1) and model"
    return "check the teacher model name and settings against the server's log"
