"""What every planner shares: the batched interface, the counters it reports, and the
LLM planners' prompt (the paper's per task by default, ``ours``, or a user's file), answer
parsing and cached ``plan``."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import yaml

from llm4teach.envs import TASKS, resolve_task
from llm4teach.envs.registry import UnknownTaskError
from llm4teach.teacher.cache import PlanCache, settings_key
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import Grammar

PlanDist = dict[str, float]  # plan text -> probability (raw text; parsing happens later)
PROMPT_KEYS = ("system", "sample", "prompt", "logits")
PROMPT_MAX_CHARS = 32_000  # the texts of one prompt file, about 8,000 tokens


@dataclass
class TeacherStats:
    """Counters of one teacher (and its forks), the same in every domain.

    - ``hits``: distinct state texts a planner answered without the model (a table's
      recorded state; an answer in an LLM planner's cache).
    - ``misses``: texts an LLM planner had to send to the model.
    - ``parse_failures``: plans outside the domain's grammar, counted where they are
      parsed: a model answer (``sample``) or answer line (``prompt``, and an answer
      with no usable line) in an LLM planner, and a plan of a planner's distribution
      (a table's verbatim junk) in the teacher, once per distinct text.
    - ``model_calls``, ``model_seconds``: texts the model planned for and the time it took.
    - ``unknown_texts``: texts a table has no entry for (they get no plan).
    - ``fallbacks``: annotated steps where no plan gave an action (soft: no plan of the
      distribution acts; hard: the sampled one does not), so the fallback decides.
    """

    hits: int = 0
    misses: int = 0
    parse_failures: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    unknown_texts: int = 0
    fallbacks: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Planner(Protocol):
    """Many state texts in, one ``{plan: probability}`` per text out.

    An empty dict means the planner has no usable plan for that text (the teacher
    then falls back).
    """

    stats: TeacherStats

    def plan(self, texts: Sequence[str]) -> list[PlanDist]: ...


def prompt_file(prompt: str | None, task: str) -> str:
    """Where the prompt ``prompt`` names for ``task`` is: a packaged name (``paper``, the
    default when None: the paper's prompt of the task, ``prompts/paper/minigrid.yaml`` for
    a MiniGrid or BabyAI task that is not one of the paper's; ``ours``) resolves to
    ``prompts/...`` inside the package; anything else is the user's file path."""
    if prompt == "ours":
        return "prompts/ours.yaml"
    if prompt not in (None, "paper"):
        return prompt
    try:
        env_id = resolve_task(task)
    except UnknownTaskError:
        raise ValueError(f"the paper's prompt is written for MiniGrid and BabyAI tasks, not "
                         f"{task!r}: set teacher prompt to ours or to a YAML file") from None
    name = next((n.lower() for n, i in TASKS.items() if i == env_id), "minigrid")
    return f"prompts/paper/{name}.yaml"


def load_prompt(prompt: str | None, task: str) -> dict[str, str]:
    """The prompt texts (``system`` and one instruction per method) ``prompt`` names for
    ``task`` (``prompt_file``); a missing or malformed file is one ValueError naming it."""
    path = prompt_file(prompt, task)
    fix = ("set teacher prompt to paper or ours, or to a YAML file with system, sample, "
           "prompt and logits texts (copy one of llm4teach/teacher/prompts/ and edit it)")
    packaged = prompt in (None, "paper", "ours")
    try:
        source = resources.files("llm4teach.teacher") / path if packaged else Path(path)
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ValueError(f"teacher prompt file {path} cannot be read ({reason}); {fix}") \
            from None
    try:
        texts = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"teacher prompt file {path} is not valid YAML; {fix}") from None
    missing = set(PROMPT_KEYS) - set(texts if isinstance(texts, dict) else {})
    if missing:
        raise ValueError(f"teacher prompt file {path} lacks {', '.join(sorted(missing))}; {fix}")
    for key in PROMPT_KEYS:
        if not isinstance(texts[key], str):
            raise ValueError(f"teacher prompt file {path}: {key} is {texts[key]!r:.40}, not a "
                             f"text (quote it); {fix}")
    size = sum(len(texts[key]) for key in PROMPT_KEYS)
    if size > PROMPT_MAX_CHARS:
        raise ValueError(f"teacher prompt file {path}: its texts hold {size:,} characters, more "
                         f"than the {PROMPT_MAX_CHARS:,} a prompt may (each state text is sent "
                         "with them, and the model's memory grows with their length): shorten "
                         "them")
    return texts


class LLMPlanner:
    """What the LLM planners share: the prompt (the one ``config.prompt`` names for ``task``,
    ``load_prompt``), the answers' parsing, and ``plan`` through
    the persistent ``PlanCache`` (only texts never answered reach the model; a text
    whose answer gave no plan is not cached, so it is asked again in a later run).

    A subclass sets ``KEYED``, the ``TeacherConfig`` fields that shape an answer (with
    the prompt they make the cache key), and defines ``_answer(texts)``.
    """

    KEYED: tuple[str, ...] = ()

    def __init__(self, task: str, config: TeacherConfig, grammar: Grammar) -> None:
        self.config = config
        self.grammar = grammar
        self.prompt = load_prompt(config.prompt, task)
        self.stats = TeacherStats()
        key = settings_key({**{k: getattr(config, k) for k in self.KEYED},
                            "prompt": self.prompt})
        self.cache = PlanCache(config.cache_path, key)

    def _answer(self, texts: list[str]) -> dict[str, PlanDist]:
        raise NotImplementedError

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        unique = list(dict.fromkeys(texts))
        cached = self.cache.get(unique)
        new = [t for t in unique if t not in cached]
        self.stats.hits += len(unique) - len(new)
        self.stats.misses += len(new)
        if new:
            start = time.perf_counter()
            answers = self._answer(new)
            self.stats.model_seconds += time.perf_counter() - start
            self.stats.model_calls += len(new)
            self.cache.put({t: d for t, d in answers.items() if d})
            cached.update(answers)
        return [cached[t] for t in texts]

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
