"""Teacher settings: one validated dataclass shared by the CLI, the trainer and the tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BACKENDS = ("table", "hf", "openai")
MODES = ("soft", "hard")
FALLBACKS = ("noop", "mask")
METHODS = ("sample", "prompt", "logits")
LAVA = ("passable", "avoid")
SKILLS = ("ours", "reference")
DTYPES = ("auto", "float32", "float16", "bfloat16")
LOGITS_NORMS = ("mean", "sum")
QUANTIZATIONS = (None, "4bit", "8bit")
MAX_NEW_TOKENS = 1024  # an answer's bound: plans are lines, not pages


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"teacher {name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class TeacherConfig:
    """How the teacher plans (``backend``, ``method``, ``model``...) and acts (``mode``...).

    ``fallback`` decides what a state gets when no plan yields an action: ``mask`` (no
    opinion, ``teacher_mask`` False; every shipped config) or ``noop`` (the reference's
    choice: MiniGrid's action 6 "done" is the target; a domain without a no-op action
    refuses it). ``lava="passable"`` is the reference's go-to, which walks
    through lava. ``cache_path=None`` keeps ``hf`` answers in
    ``~/.cache/llm4teach/plans.sqlite``; ``":memory:"`` keeps them for the process only.
    ``plans`` (a JSON or YAML plan table file) replaces the ``table`` backend's packaged
    table, for any task.

    ``skills="reference"`` swaps our plan interpreter for the reference code's, rule by
    rule (``reference.py``; the four paper tasks only), to compare the two teachers on
    the same tables. It walks through lava and acts 6 wherever the reference gives up,
    so it sets ``lava="passable"`` and ``fallback="noop"`` (which then serves only the
    texts a table lacks) whatever they were.

    ``logits_norm`` scores a candidate plan by the ``mean`` log-probability of its tokens
    (the default: otherwise the shortest plan wins by many nats) or their ``sum``.

    ``backend="openai"`` asks a server speaking the OpenAI-compatible protocol (vLLM,
    TGI, Ollama, ``transformers serve``) at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``)
    for ``model``; ``api_key_env`` is the *name* of the environment variable holding the
    key (the key itself is never logged or cached); without ``model``, the one the
    server lists at ``GET models`` is asked. Each request has ``timeout_s`` in all, its
    retries (``retries``, with exponential backoff or the server's ``Retry-After``, on
    connection errors, 408, 429 and 5xx) included, so a dead or hung server is given up
    on in about ``timeout_s``; at most ``concurrency`` requests are in flight.

    Large ``hf`` models: ``device_map`` (``auto`` or ``{module: device}``) places the
    layers over the GPUs (and CPU) through accelerate, within ``max_memory`` (``{"0":
    "20GiB", "cpu": "60GiB"}``) when given, instead of moving the model to ``device``;
    ``quantization`` loads the weights in ``4bit`` or ``8bit`` through bitsandbytes (a
    CUDA GPU only); ``attn_implementation`` is passed to ``from_pretrained`` (``sdpa``,
    ``flash_attention_2``...).

    Attributes:
        backend: who plans: table (recorded answers), hf (a causal LM in-process), openai (a server)
        mode: soft (the plans' action distribution) or hard (one plan drawn per episode step)
        fallback: what a state no plan acts in gets: mask (no opinion) or noop (action done)
        method: how an LLM's uncertainty becomes plan weights: sample, prompt or logits
        model: the LLM: a Hugging Face id or folder (hf), the served name (openai; unset: listed)
        revision: the model's hub revision (branch, tag or commit)
        dtype: the model's weights: auto, float32, float16 or bfloat16
        device: where the model runs (cpu, cuda, cuda:N) without a device_map
        temperature: sampling temperature (sample) and softmax temperature (logits)
        num_samples: answers sampled per state text (sample)
        max_new_tokens: longest answer generated (sample, prompt); unset: from the prompt
        cache_path: sqlite file of the LLM's answers (default under ~/.cache/llm4teach)
        plans: a JSON or YAML plan table to replay instead of the packaged one (backend table)
        prompt: the prompt: paper (the default, per task), ours, or a YAML file
        trust_remote_code: let from_pretrained run the model repository's code
        lava: the go-to skill's lava: avoid, or passable (the reference's)
        skills: the plan interpreter: ours, or reference (the reference code's teacher)
        seed: seed of the teacher's own draws (hard mode, sampling)
        logits_norm: a candidate plan's score: mean or sum of its tokens' log-probabilities
        device_map: accelerate's placement of a large model: auto or {module: device}
        max_memory: memory per device for device_map, e.g. {"0": "20GiB", "cpu": "60GiB"}
        quantization: load the weights in 4bit or 8bit (bitsandbytes, a CUDA GPU)
        attn_implementation: attention kernel passed to from_pretrained (sdpa, flash_attention_2)
        base_url: the OpenAI-compatible server's root, e.g. http://127.0.0.1:8000/v1 (openai)
        api_key_env: name of the environment variable holding the server's API key (openai)
        timeout_s: seconds one request may take in all, its retries included (openai)
        retries: retries of a failed request within timeout_s, with backoff (openai)
        concurrency: requests in flight at once (openai)

    Example:
        >>> TeacherConfig(backend="table", mode="hard").fallback
        'mask'
    """

    backend: str = "table"
    mode: str = "soft"
    fallback: str = "mask"
    method: str = "logits"
    model: str | None = None
    revision: str | None = None
    dtype: str = "auto"
    device: str = "cpu"
    temperature: float = 1.0
    num_samples: int = 10
    max_new_tokens: int | None = None
    cache_path: str | None = None
    plans: str | None = None
    prompt: str | None = None
    trust_remote_code: bool = False
    lava: str = "avoid"
    skills: str = "ours"
    seed: int = 0
    logits_norm: str = "mean"
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[str, str] | None = None
    quantization: str | None = None
    attn_implementation: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 30.0
    retries: int = 3
    concurrency: int = 8

    def __post_init__(self) -> None:
        _choice("backend", self.backend, BACKENDS)
        _choice("mode", self.mode, MODES)
        _choice("fallback", self.fallback, FALLBACKS)
        _choice("method", self.method, METHODS)
        if self.plans and self.backend != "table":
            raise ValueError(f"teacher plans ({self.plans}) is a table to replay: set teacher "
                             f"backend table (got {self.backend!r}), or drop plans")
        _choice("lava", self.lava, LAVA)
        _choice("skills", self.skills, SKILLS)
        if self.skills == "reference":
            self.lava, self.fallback = "passable", "noop"
        _choice("dtype", self.dtype, DTYPES)
        _choice("logits_norm", self.logits_norm, LOGITS_NORMS)
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"teacher quantization must be 4bit, 8bit or null (full "
                             f"precision), got {self.quantization!r}")
        if self.max_memory is not None and self.device_map is None and not self.quantization:
            raise ValueError("teacher max_memory bounds a device_map: also pass "
                             "--data.teacher.device_map auto")
        if self.backend == "hf" and not self.model:
            raise ValueError(
                "teacher backend 'hf' needs a model: pass a Hugging Face model id or a local "
                "folder (e.g. --model lmsys/vicuna-7b-v1.5)"
            )
        if self.backend == "openai":
            self._check_server()
        for name in ("temperature", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0 < value < math.inf:
                raise ValueError(f"teacher {name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.num_samples, int) or self.num_samples < 1:
            raise ValueError(f"teacher num_samples must be a positive integer, got "
                             f"{self.num_samples!r}")
        if self.max_new_tokens is not None and (
                not isinstance(self.max_new_tokens, int)
                or not 0 < self.max_new_tokens <= MAX_NEW_TOKENS):
            raise ValueError(f"teacher max_new_tokens must be an integer from 1 to "
                             f"{MAX_NEW_TOKENS} (a plan is one line), or unset (derived from the "
                             f"prompt), got {self.max_new_tokens!r}")
        for name, least in (("retries", 0), ("concurrency", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise ValueError(f"teacher {name} must be an integer >= {least}, got {value!r}")

    def _check_server(self) -> None:
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                "teacher backend 'openai' needs base_url, the server's OpenAI-compatible "
                f"root (e.g. --base_url http://127.0.0.1:8000/v1), got {self.base_url!r}"
            )

