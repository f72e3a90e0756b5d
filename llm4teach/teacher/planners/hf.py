"""The ``hf`` planner: a Hugging Face causal LM in-process, with the spec's three methods.

``sample``: n sampled answers per text, the frequency of each parsed plan.
``prompt``: the model lists plans with probabilities; parsed and normalised.
``logits``: candidate plans from the grammar, scored by their log-likelihood in one
batched forward pass, softmax with a temperature.
Answers go through the persistent ``PlanCache``: only texts never seen reach the model.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from llm4teach.teacher.cache import DEFAULT_PATH, PlanCache, settings_key
from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import MINIGRID, Grammar
from llm4teach.teacher.planners.base import PlanDist, TeacherStats

DTYPES = {"auto": "auto", "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16}


def load_prompt(path: str | None) -> dict[str, str]:
    """The prompt texts (``system`` and one instruction per method) from YAML."""
    if path is None:
        text = (resources.files("llm4teach.teacher") / "prompts" / "default.yaml").read_text()
    else:
        text = Path(path).read_text(encoding="utf-8")
    prompt = yaml.safe_load(text)
    missing = {"system", "sample", "prompt", "logits"} - set(prompt or {})
    if missing:
        raise ValueError(f"prompt file {path} lacks {', '.join(sorted(missing))}")
    return prompt


class HFPlanner:
    """Plans with a causal LM loaded by ``from_pretrained`` (id or local folder), lazily.

    Example (any local folder holding a causal LM and its tokenizer):
        >>> cfg = TeacherConfig(backend="hf", model="path/to/model", method="logits")
        >>> planner = HFPlanner(cfg)  # doctest: +SKIP
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])  # doctest: +SKIP
        [{'explore': 0.1, 'go to <key>, pick up <key>': 0.8, 'pick up <key>': 0.1}]
    """

    def __init__(self, config: TeacherConfig, grammar: Grammar = MINIGRID) -> None:
        self.config = config
        self.grammar = grammar
        self.prompt = load_prompt(config.prompt)
        self.stats = TeacherStats()
        keyed = ("backend", "model", "revision", "method", "dtype", "temperature",
                 "num_samples", "max_new_tokens", "seed")
        key = settings_key({**{k: getattr(config, k) for k in keyed}, "prompt": self.prompt})
        self.cache = PlanCache(config.cache_path or DEFAULT_PATH, key)
        self.model: Any = None
        self.tokenizer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "model": None, "tokenizer": None}  # reloaded in the worker

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load tokenizer and model; failures become one ``ValueError`` naming the fix."""
        if self.model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name, cfg = self.config.model, self.config
        if name.startswith((".", "/", "~")) and not Path(name).expanduser().exists():
            raise ValueError(f"model folder {name} does not exist; pass a folder holding a "
                             "causal LM and its tokenizer, or a Hugging Face model id")
        kwargs = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(name, dtype=DTYPES[cfg.dtype], **kwargs)
        except OSError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"cannot load model {name!r} ({reason}); if the Hugging Face hub is not "
                f"reachable, download it where it is (`huggingface-cli download {name} "
                f"--local-dir DIR`) and pass DIR as the model"
            ) from None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer, self.model = tokenizer, model.to(cfg.device).eval()

    def _context(self, text: str, method: str) -> str:
        """The text the model continues: chat template when the tokenizer has one."""
        instruction = f"{self.prompt[method]}\nState: {text}"
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": self.prompt["system"]},
                        {"role": "user", "content": instruction}]
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return f"{self.prompt['system']}\n\n{instruction}\n"

    # ----------------------------------------------------------------- planning
    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        unique = list(dict.fromkeys(texts))
        cached = self.cache.get(unique)
        new = [t for t in unique if t not in cached]
        self.stats.hits += len(unique) - len(new)
        self.stats.misses += len(new)
        if new:
            self.load()
            start = time.perf_counter()
            with torch.inference_mode():
                answers = getattr(self, f"_{self.config.method}")(new)
            self.stats.model_seconds += time.perf_counter() - start
            self.stats.model_calls += len(new)
            self.cache.put(answers)
            cached.update(answers)
        return [cached[t] for t in texts]

    def _generate(self, contexts: list[str], sample: bool) -> list[str]:
        tok = self.tokenizer
        tok.padding_side = "left"  # generation continues from the last real token
        enc = tok(contexts, return_tensors="pt", padding=True).to(self.model.device)
        n = self.config.num_samples if sample else 1
        options: dict[str, Any] = {"do_sample": sample, "num_return_sequences": n,
                                   "max_new_tokens": self.config.max_new_tokens,
                                   "pad_token_id": tok.pad_token_id}
        if sample:
            options["temperature"] = self.config.temperature
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            out = self.model.generate(**enc, **options)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def _sample(self, texts: list[str]) -> dict[str, PlanDist]:
        answers = self._generate([self._context(t, "sample") for t in texts], sample=True)
        n, out = self.config.num_samples, {}
        for i, text in enumerate(texts):
            plans = [self.grammar.parse_answer(a) for a in answers[i * n : (i + 1) * n]]
            self.stats.parse_failures += sum(p is None for p in plans)
            counts = Counter(self.grammar.format_plan(p) for p in plans if p is not None)
            total = sum(counts.values())
            out[text] = {plan: c / total for plan, c in counts.items()}
        return out

    def _prompt(self, texts: list[str]) -> dict[str, PlanDist]:
        answers = self._generate([self._context(t, "prompt") for t in texts], sample=False)
        out = {}
        for text, answer in zip(texts, answers, strict=True):
            plans, failures = self.grammar.parse_weighted_answer(answer)
            self.stats.parse_failures += failures + (not plans)
            total = sum(plans.values())
            out[text] = {p: q / total for p, q in plans.items()} if total > 0 else {}
        return out

    def _logits(self, texts: list[str]) -> dict[str, PlanDist]:
        pairs = [(t, c) for t in texts for c in self.grammar.candidate_plans(t)]
        scores = self.score([(self._context(t, "logits") + "Action:", " " + c) for t, c in pairs])
        out: dict[str, PlanDist] = {}
        for text in texts:
            idx = [i for i, (t, _) in enumerate(pairs) if t == text]
            probs = torch.softmax(scores[idx] / self.config.temperature, dim=0).tolist()
            out[text] = {pairs[i][1]: p for i, p in zip(idx, probs, strict=True)}
        return out

    def score(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """Log-likelihood of each continuation (plus end of sequence) after its context,
        all pairs in one right-padded forward pass."""
        tok = self.tokenizer
        eos = [] if tok.eos_token_id is None else [tok.eos_token_id]
        seqs, spans = [], []
        for context, continuation in pairs:
            ctx = tok(context)["input_ids"]
            cont = tok(continuation, add_special_tokens=False)["input_ids"] + eos
            seqs.append(ctx + cont)
            spans.append((len(ctx), len(ctx) + len(cont)))
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, seq in enumerate(seqs):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        device = self.model.device
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        logp = torch.log_softmax(logits.float(), dim=-1)[:, :-1]
        token_logp = logp.gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu()
        return torch.stack([token_logp[i, a - 1 : b - 1].sum() for i, (a, b) in enumerate(spans)])
