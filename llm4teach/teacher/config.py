"""Teacher settings: one validated dataclass shared by the CLI, the trainer and the tests.

Each planner backend has a settings dataclass of its own (``TableSettings``,
``HFSettings``, ``OpenAISettings``; the LLM ones share ``LLMSettings``), which checks its
own fields and names its planner class. ``TeacherConfig`` is the teacher's own settings
over every backend's, so one flat set of options (``--data.teacher.model``...) serves
the command line; its backends are its bases (``BACKENDS``). A new backend is one
planner class and one settings dataclass among ``TeacherConfig``'s bases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

MODES = ("soft", "hard")
FALLBACKS = ("noop", "mask")
METHODS = ("sample", "prompt", "logits")
LAVA = ("passable", "avoid")
SKILLS = ("ours", "reference")
DTYPES = ("auto", "float32", "float16", "bfloat16")
LOGITS_NORMS = ("mean", "sum")
QUANTIZATIONS = (None, "4bit", "8bit")
MAX_NEW_TOKENS = 1024  # an answer's bound: plans are lines, not pages


def _choice(name: str, value: Any, choices: tuple[str, ...], unset: bool = False) -> None:
    if value not in choices and not (unset and value is None):
        also = " (or unset)" if unset else ""
        raise ValueError(f"teacher {name} must be one of {', '.join(choices)}{also}, "
                         f"got {value!r}")


def _positive(settings: object, *names: str) -> None:
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0 < value < math.inf:
            raise ValueError(f"teacher {name} must be a finite number > 0, got {value!r}")


@dataclass
class PlannerSettings:
    """What a backend's settings declare: its short ``name`` (``--data.teacher.backend``)
    and its planner's class path (imported when the teacher is built, so reading settings
    imports no model library). ``check`` validates the values of the fields its class
    declares, whichever backend is chosen (they are all on the command line; each class's
    runs once, ``check_fields``); ``check_chosen`` what the chosen one needs."""

    name: ClassVar[str] = ""
    planner: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_fields(self)
        self.check_chosen()

    def check(self) -> None:
        """One ValueError line for a field value no run could use."""

    def check_chosen(self) -> None:
        """One ValueError line for a setting the chosen backend needs and lacks."""


def check_fields(settings: PlannerSettings) -> None:
    """Every settings class ``settings`` is made of checks its own fields, once each."""
    for base in reversed(type(settings).__mro__):
        if "check" in vars(base):
            vars(base)["check"](settings)


@dataclass
class TableSettings(PlannerSettings):
    """The ``table`` backend: recorded (or hand-written) answers, no model.

    Attributes:
        plans: a JSON or YAML plan table to replay instead of the packaged one (backend table)
    """

    name: ClassVar[str] = "table"
    planner: ClassVar[str] = "llm4teach.teacher.planners.table.TablePlanner"
    plans: str | None = None


@dataclass
class LLMSettings(PlannerSettings):
    """What every backend asking an LLM shares: the prompt, the method and its numbers.

    ``logits_norm`` scores a candidate plan by the ``mean`` log-probability of its tokens
    (the default: otherwise the shortest plan wins by many nats) or their ``sum``.
    ``cache_path=None`` keeps answers in ``~/.cache/llm4teach/plans.sqlite``;
    ``":memory:"`` keeps them for the process only.

    Attributes:
        method: how an LLM's uncertainty becomes plan weights: sample, prompt or logits
        model: the LLM: a Hugging Face id or folder (hf), the served name (openai; unset: listed)
        temperature: sampling temperature (sample) and softmax temperature (logits)
        num_samples: answers sampled per state text (sample)
        max_new_tokens: longest answer generated (sample, prompt); unset: from the prompt
        cache_path: sqlite file of the LLM's answers (default under ~/.cache/llm4teach)
        prompt: the prompt: paper (the default, per task), ours, or a YAML file
        logits_norm: a candidate plan's score: mean or sum of its tokens' log-probabilities
    """

    method: str = "logits"
    model: str | None = None
    temperature: float = 1.0
    num_samples: int = 10
    max_new_tokens: int | None = None
    cache_path: str | None = None
    prompt: str | None = None
    logits_norm: str = "mean"

    def check(self) -> None:
        _choice("method", self.method, METHODS)
        _choice("logits_norm", self.logits_norm, LOGITS_NORMS)
        _positive(self, "temperature")
        if not isinstance(self.num_samples, int) or self.num_samples < 1:
            raise ValueError(f"teacher num_samples must be a positive integer, got "
                             f"{self.num_samples!r}")
        if self.max_new_tokens is not None and (
                not isinstance(self.max_new_tokens, int)
                or not 0 < self.max_new_tokens <= MAX_NEW_TOKENS):
            raise ValueError(f"teacher max_new_tokens must be an integer from 1 to "
                             f"{MAX_NEW_TOKENS} (a plan is one line), or unset (derived from the "
                             f"prompt), got {self.max_new_tokens!r}")


@dataclass
class HFSettings(LLMSettings):
    """The ``hf`` backend: a Hugging Face causal LM in-process.

    Large models: ``device_map`` (``auto`` or ``{module: device}``) places the layers over
    the GPUs (and CPU) through accelerate, within ``max_memory`` (``{"0": "20GiB", "cpu":
    "60GiB"}``) when given, instead of moving the model to ``device``; ``quantization``
    loads the weights in ``4bit`` or ``8bit`` through bitsandbytes (a CUDA GPU only);
    ``attn_implementation`` is passed to ``from_pretrained`` (``sdpa``,
    ``flash_attention_2``...).

    Attributes:
        revision: the model's hub revision (branch, tag or commit)
        dtype: the model's weights: auto, float32, float16 or bfloat16
        device: where the model runs (cpu, cuda, cuda:N) without a device_map
        trust_remote_code: let from_pretrained run the model repository's code
        device_map: accelerate's placement of a large model: auto or {module: device}
        max_memory: memory per device for device_map, e.g. {"0": "20GiB", "cpu": "60GiB"}
        quantization: load the weights in 4bit or 8bit (bitsandbytes, a CUDA GPU)
        attn_implementation: attention kernel passed to from_pretrained (sdpa, flash_attention_2)
    """

    name: ClassVar[str] = "hf"
    planner: ClassVar[str] = "llm4teach.teacher.planners.hf.HFPlanner"
    revision: str | None = None
    dtype: str = "auto"
    device: str = "cpu"
    trust_remote_code: bool = False
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[str, str] | None = None
    quantization: str | None = None
    attn_implementation: str | None = None

    def check(self) -> None:
        _choice("dtype", self.dtype, DTYPES)
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"teacher quantization must be 4bit, 8bit or null (full "
                             f"precision), got {self.quantization!r}")
        if self.max_memory is not None and self.device_map is None and not self.quantization:
            raise ValueError("teacher max_memory bounds a device_map: also pass "
                             "--data.teacher.device_map auto")

    def check_chosen(self) -> None:
        if not self.model:
            raise ValueError(
                "teacher backend 'hf' needs a model: pass a Hugging Face model id or a local "
                "folder (e.g. --model lmsys/vicuna-7b-v1.5)"
            )


@dataclass
class OpenAISettings(LLMSettings):
    """The ``openai`` backend: a server speaking the OpenAI-compatible protocol (vLLM, TGI,
    Ollama, ``transformers serve``) at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``),
    asked for ``model``; ``api_key_env`` is the *name* of the environment variable holding
    the key (the key itself is never logged or cached); without ``model``, the one the
    server lists at ``GET models`` is asked. Each request has ``timeout_s`` in all, its
    retries (``retries``, with exponential backoff or the server's ``Retry-After``, on
    connection errors, 408, 429 and 5xx) included, so a dead or hung server is given up
    on in about ``timeout_s``; at most ``concurrency`` requests are in flight.

    Attributes:
        base_url: the OpenAI-compatible server's root, e.g. http://127.0.0.1:8000/v1 (openai)
        api_key_env: name of the environment variable holding the server's API key (openai)
        timeout_s: seconds one request may take in all, its retries included (openai)
        retries: retries of a failed request within timeout_s, with backoff (openai)
        concurrency: requests in flight at once (openai)
    """

    name: ClassVar[str] = "openai"
    planner: ClassVar[str] = "llm4teach.teacher.planners.openai.OpenAIPlanner"
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 30.0
    retries: int = 3
    concurrency: int = 8

    def check(self) -> None:
        _positive(self, "timeout_s")
        for name, least in (("retries", 0), ("concurrency", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise ValueError(f"teacher {name} must be an integer >= {least}, got {value!r}")

    def check_chosen(self) -> None:
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                "teacher backend 'openai' needs base_url, the server's OpenAI-compatible "
                f"root (e.g. --base_url http://127.0.0.1:8000/v1), got {self.base_url!r}"
            )


@dataclass
class TeacherConfig(HFSettings, OpenAISettings, TableSettings):
    """How the teacher plans (``backend`` and its settings) and acts (``mode``...).

    ``fallback`` decides what a state gets when no plan yields an action: ``mask`` (no
    opinion, ``teacher_mask`` False) or ``noop`` (the reference's choice: MiniGrid's
    action 6 "done" is the target; a domain without a no-op action refuses it).
    ``lava="passable"`` is the reference's go-to, which walks through lava. Unset, both
    are the teacher variant's own: the domain's skill set chosen by ``skills``.

    ``skills="reference"`` swaps our plan interpreter for the reference code's, rule by
    rule (MiniGrid's ``reference.py``; the four paper tasks only), to compare the two
    teachers on the same tables. Its own defaults walk through lava and act 6 wherever
    the reference gives up (``lava="passable"``, ``fallback="noop"``).

    A setting only another backend reads (``plans`` with ``hf``, ``base_url`` with
    ``table``...) is an error rather than silently ignored; ``settings()`` is the chosen
    backend's part.

    Attributes:
        backend: who plans: table (recorded answers), hf (a causal LM in-process), openai (a server)
        mode: soft (the plans' action distribution) or hard (one plan drawn per episode step)
        fallback: where no plan acts: mask (no opinion) or noop (action done); unset: the skills'
        lava: the go-to skill's lava: avoid, or passable (the reference's); unset: the skills'
        skills: the plan interpreter: ours, or reference (the reference code's teacher)
        seed: seed of the teacher's own draws (hard mode, sampling)
        wait: fit: collection waits for the LLM's answer to each new state text (reproducible);
            false: a worker answers while training goes on, unanswered steps have no opinion

    Example:
        >>> TeacherConfig(backend="table", mode="hard").fallback is None  # the skill set's
        True
        >>> type(TeacherConfig(backend="hf", model="m").settings()).__name__
        'HFSettings'
    """

    backend: str = "table"
    mode: str = "soft"
    fallback: str | None = None
    lava: str | None = None
    skills: str = "ours"
    seed: int = 0
    wait: bool = False

    def __post_init__(self) -> None:
        _choice("backend", self.backend, tuple(BACKENDS))
        _choice("mode", self.mode, MODES)
        _choice("fallback", self.fallback, FALLBACKS, unset=True)
        _choice("lava", self.lava, LAVA, unset=True)
        _choice("skills", self.skills, SKILLS)
        chosen = BACKENDS[self.backend]
        own = {f.name for f in fields(chosen)}
        check_fields(self)
        for settings in BACKENDS.values():
            for field in fields(settings):
                if field.name not in own and getattr(self, field.name) != field.default:
                    raise ValueError(
                        f"teacher {field.name} ({getattr(self, field.name)}) is a setting of "
                        f"backend {settings.name}: set teacher backend {settings.name} (got "
                        f"{self.backend!r}), or drop {field.name}")
        chosen.check_chosen(self)

    def settings(self) -> PlannerSettings:
        """The chosen backend's settings (its planner's class names them)."""
        chosen = BACKENDS[self.backend]
        return chosen(**{f.name: getattr(self, f.name) for f in fields(chosen)})


# every backend by its short name: the bases of TeacherConfig that name a planner
BACKENDS: dict[str, type[PlannerSettings]] = {
    base.name: base for base in TeacherConfig.__mro__ if "planner" in vars(base)}


def llm_backends() -> str:
    """The backends that ask an LLM, in words (``hf or openai``), for help and errors."""
    return " or ".join(name for name, settings in BACKENDS.items()
                       if issubclass(settings, LLMSettings))
