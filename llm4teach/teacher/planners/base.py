"""What every planner shares: the batched interface, the counters it reports, what a
domain hands a planner (``PlanSources``), and the LLM planners' prompt file, answer
parsing and cached ``plan``."""

from __future__ import annotations

import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Protocol

import yaml

from llm4teach.teacher.cache import PlanCache, settings_key
from llm4teach.teacher.config import MAX_NEW_TOKENS, LLMSettings
from llm4teach.teacher.grammar import Grammar

ANSWER_SLACK = 32  # tokens past twice the worked answer: a second or third weighted line
PlanDist = dict[str, float]  # plan text -> probability (raw text; parsing happens later)
PROMPT_KEYS = ("system", "sample", "prompt", "logits")
PROMPT_MAX_CHARS = 32_000  # the texts of one prompt file, about 8,000 tokens


@dataclass
class TeacherStats:
    """Counters of one teacher (and its forks), the same in every domain; ``COUNTERS``
    says in one line each what they count (``llm4teach teacher --help`` prints it).

    ``parse_failures`` are counted where plans are parsed: a model answer (``sample``) or
    answer line (``prompt``, and an answer with no usable line) in an LLM planner, and a
    plan of a planner's distribution (a table's verbatim junk) in the teacher, once per
    distinct text. ``fallbacks``: soft mode, no plan of the distribution acts; hard mode,
    the sampled one does not. ``pending`` and ``wait_seconds`` are the collecting
    teacher's (``PlanTeacher.plan_in_background``).
    """

    hits: int = 0
    misses: int = 0
    parse_failures: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    model_cpu_seconds: float = 0.0
    no_plan: int = 0
    unknown_texts: int = 0
    fallbacks: int = 0
    pending: int = 0
    wait_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# What each counter of ``TeacherStats`` counts, one line each: the help of every command
# that prints them, and the meaning of a fit's ``teacher/*`` metrics.
COUNTERS = {
    "hits": "distinct state texts answered without the model (a table's recorded state, "
            "an LLM answer from the cache)",
    "misses": "distinct state texts an LLM planner had to send to the model",
    "parse_failures": "plans outside the task's grammar (a table's recorded junk, an LLM's "
                      "unreadable answer), once per distinct text: they give no action",
    "model_calls": "state texts the model planned for",
    "model_seconds": "wall seconds spent in the model",
    "model_cpu_seconds": "CPU seconds of the thread that asked the model, spent in it",
    "no_plan": "distinct state texts the model answered without a usable plan (the fallback "
               "decides there)",
    "unknown_texts": "distinct state texts a table has no entry for (no plan there)",
    "fallbacks": "steps where no plan gave an action, so the fallback (mask or noop) decided",
    "pending": "rows the collecting teacher annotated (steps, and the batch at a reset) "
               "before the LLM had answered their state text: no opinion there; later "
               "steps of the text get the answer",
    "wait_seconds": "wall seconds training's collection waited on the planner",
}


class Planner(Protocol):
    """Many state texts in, one ``{plan: probability}`` per text out.

    An empty dict means the planner has no usable plan for that text (the teacher
    then falls back). ``asks_llm``: whether its answers are a model's (``llm4teach teacher
    export`` records those; a table has nothing to export).
    """

    stats: TeacherStats
    asks_llm: bool

    def plan(self, texts: Sequence[str]) -> list[PlanDist]: ...


class Placeholders(Protocol):
    """A domain's abstraction of a state text's words that a table may key on (MiniGrid's
    colours: ``color1``, ``color2``... in order of first appearance)."""

    example: dict[str, str]  # placeholder -> a word, to read a table's plans in the grammar

    def abstract(self, text: str) -> tuple[str, dict[str, str]]:
        """The abstract text and ``{placeholder: word}`` that undoes it."""
        ...

    def restore(self, plan: str, mapping: dict[str, str]) -> str:
        """A plan with ``abstract``'s placeholders put back."""
        ...


class PlanSources(Protocol):
    """What a domain hands the planner of its task, so no planner looks a task up: its
    packaged ``plan_table`` (None when it has none), the ``prompt`` a name stands for (None:
    the domain's default), and its table ``placeholders`` (None when it has none)."""

    placeholders: Placeholders | None

    def plan_table(self) -> dict | None: ...

    def prompt(self, name: str | None) -> dict[str, str]: ...


PROMPT_FIX = ("set teacher prompt to paper or ours, or to a YAML file with system, sample, "
              "prompt and logits texts (copy a packaged prompt, docs/teacher.md, and edit it)")


def load_prompt(source: str | Path | Traversable) -> dict[str, str]:
    """The prompt texts (``system`` and one instruction per method) of a YAML file or a
    packaged resource; a missing or malformed file is one ValueError naming it."""
    path = source if isinstance(source, Traversable) else Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ValueError(f"teacher prompt file {source} cannot be read ({reason}); "
                         f"{PROMPT_FIX}") from None
    try:
        texts = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"teacher prompt file {source} is not valid YAML; {PROMPT_FIX}") \
            from None
    missing = set(PROMPT_KEYS) - set(texts if isinstance(texts, dict) else {})
    if missing:
        raise ValueError(f"teacher prompt file {source} lacks {', '.join(sorted(missing))}; "
                         f"{PROMPT_FIX}")
    for key in PROMPT_KEYS:
        if not isinstance(texts[key], str):
            raise ValueError(f"teacher prompt file {source}: {key} is {texts[key]!r:.40}, not "
                             f"a text (quote it); {PROMPT_FIX}")
    size = sum(len(texts[key]) for key in PROMPT_KEYS)
    if size > PROMPT_MAX_CHARS:
        raise ValueError(f"teacher prompt file {source}: its texts hold {size:,} characters, "
                         f"more than the {PROMPT_MAX_CHARS:,} a prompt may (each state text is "
                         "sent with them, and the model's memory grows with their length): "
                         "shorten them")
    return texts


def worked_answer(system: str) -> str:
    """The longest example answer of a prompt's system text: what follows its last
    ``State:`` line (the paper's reasoning steps), or an example's own ``Action: ...``.

    Example:
        >>> worked_answer("State: Agent sees <key>.\\n1. Sees a key.\\n3. Action: {explore}")
        '1. Sees a key.\\n3. Action: {explore}'
    """
    lines = system.splitlines()
    states = [i for i, line in enumerate(lines) if line.lstrip().startswith("State:")]
    answers = [m.group(0) for i in states for m in re.finditer(r"Action:.*", lines[i])]
    if states:
        answers.append("\n".join(lines[states[-1] + 1:]).strip())
    return max(answers, key=len, default="")


class LLMPlanner:
    """What the LLM planners share: the prompt (texts a domain loaded), the answers'
    parsing, the answer length, and ``plan`` through the persistent ``PlanCache`` (only
    texts never answered reach the model; an answer that gave no plan is kept too: the
    same settings would give it again).

    A subclass sets ``name`` (its backend), ``KEYED``, the settings fields that shape an
    answer (with the backend, the seed and the prompt they make the cache key), and
    defines ``_answer(texts)``; ``build`` makes one from the teacher's settings.
    """

    name = ""
    asks_llm = True
    KEYED: tuple[str, ...] = ()

    def __init__(self, config: LLMSettings, grammar: Grammar, prompt: dict[str, str],
                 seed: int = 0) -> None:
        self.config = config
        self.grammar = grammar
        self.prompt = prompt
        self.seed = seed
        self.stats = TeacherStats()
        self.cache = PlanCache(config.cache_path, settings_key(self.keyed()))

    @classmethod
    def build(cls, settings: LLMSettings, grammar: Grammar, sources: PlanSources,
              seed: int) -> Planner:
        """The planner of ``settings``, asking with the prompt ``sources`` holds for it."""
        return cls(settings, grammar, sources.prompt(settings.prompt), seed)

    def keyed(self) -> dict[str, object]:
        """What shapes an answer: the cache key's fields, and what an export records."""
        return {**{k: getattr(self.config, k) for k in self.KEYED}, "backend": self.name,
                "seed": self.seed, "prompt": self.prompt}

    def _answer(self, texts: list[str]) -> dict[str, PlanDist]:
        raise NotImplementedError

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        unique = list(dict.fromkeys(texts))
        cached = self.cache.get(unique)
        new = [t for t in unique if t not in cached]
        self.stats.hits += len(unique) - len(new)
        self.stats.misses += len(new)
        if new:
            start, cpu = time.perf_counter(), time.thread_time()
            answers = self._answer(new)
            self.stats.model_seconds += time.perf_counter() - start
            self.stats.model_cpu_seconds += time.thread_time() - cpu
            self.stats.model_calls += len(new)
            self.stats.no_plan += sum(not d for d in answers.values())
            self.cache.put(answers)
            cached.update(answers)
        return [cached[t] for t in texts]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model; without its tokenizer, about 3 characters a
        token (English text in the byte-level BPE vocabularies of current chat models)."""
        return len(text) // 3 + 1

    @property
    def max_new_tokens(self) -> int:
        """The longest answer generated: ``config.max_new_tokens``, else room for twice
        the prompt's worked answer (``worked_answer``) and a few weighted lines."""
        if self.config.max_new_tokens is not None:
            return self.config.max_new_tokens
        derived = 2 * self.count_tokens(worked_answer(self.prompt["system"])) + ANSWER_SLACK
        return min(derived, MAX_NEW_TOKENS)

    def warn_short_answers(self) -> None:
        """A warning when ``config.max_new_tokens`` cuts an answer shaped like the prompt's
        worked one before its ``Action:`` line (nothing would parse)."""
        if self.config.method == "logits" or self.config.max_new_tokens is None:
            return
        need = self.count_tokens(worked_answer(self.prompt["system"]))
        if self.config.max_new_tokens < need:
            warnings.warn(f"teacher max_new_tokens {self.config.max_new_tokens} is shorter than "
                          f"the prompt's worked answer ({need} tokens): answers of its form are "
                          "cut before their Action: line and give no plan; raise it or leave it "
                          "unset (derived from the prompt)", stacklevel=2)

    def instruction(self, text: str, method: str) -> str:
        """The user message of ``method`` for one state text."""
        return f"{self.prompt[method]}\nState: {text}"

    def plain_context(self, text: str, method: str) -> str:
        """The text a model without a chat template continues."""
        return f"{self.prompt['system']}\n\n{self.instruction(text, method)}\n"

    def sample_dist(self, answers: Sequence[str]) -> PlanDist:
        """The frequency of each parsed plan among free-text answers (``sample``)."""
        plans = [self.grammar.parse_answer(a) for a in answers]
        self.stats.parse_failures += sum(p is None for p in plans)
        counts = Counter(self.grammar.format_plan(p) for p in plans if p is not None)
        total = sum(counts.values())
        return {plan: c / total for plan, c in counts.items()}

    def weighted_dist(self, answer: str) -> PlanDist:
        """The normalised ``Action: <plan> | <weight>`` lines of one answer (``prompt``);
        an answer with no usable line (or weights summing to 0 or overflowing) gives {}."""
        plans, failures = self.grammar.parse_weighted_answer(answer)
        total = sum(plans.values())
        usable = total > 0 and math.isfinite(total)
        self.stats.parse_failures += failures + (not usable)
        return {p: q / total for p, q in plans.items()} if usable else {}

    def candidate_dists(
        self, texts: Sequence[str],
        score_jobs: Callable[[list[tuple[str, str]]], Sequence[float]],
    ) -> dict[str, PlanDist]:
        """``logits``: each text's candidate plans from the grammar, all ``(text, plan)`` jobs
        scored by the backend's ``score_jobs`` in one call, a softmax per text."""
        candidates = {t: self.grammar.candidate_plans(t) for t in texts}
        scores = iter(score_jobs([(t, c) for t, plans in candidates.items() for c in plans]))
        return {t: self.score_dist(plans, [next(scores) for _ in plans])
                for t, plans in candidates.items()}

    def score_dist(self, candidates: Sequence[str], scores: Sequence[float]) -> PlanDist:
        """Softmax of the candidates' scores at the temperature (``logits``)."""
        scaled = [s / self.config.temperature for s in scores]
        top = max(scaled)
        weights = [math.exp(s - top) for s in scaled]
        total = sum(weights)
        return {c: w / total for c, w in zip(candidates, weights, strict=True)}
