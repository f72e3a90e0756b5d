"""The ``hf`` planner: a Hugging Face causal LM in-process, with the spec's three methods.

``sample``: n sampled answers per text, the frequency of each parsed plan.
``prompt``: the model lists plans with probabilities; parsed and normalised.
``logits``: candidate plans from the grammar, scored by the mean (``logits_norm``:
or sum) log-probability of their tokens in one batched forward pass, softmax with a
temperature.
Answers go through the persistent ``PlanCache``: only texts never seen reach the model.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.grammar import MINIGRID, Grammar
from llm4teach.teacher.planners.base import LLMPlanner, PlanDist

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


def model_kwargs(config: TeacherConfig) -> dict[str, Any]:
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
    """Plans with a causal LM loaded by ``from_pretrained`` (id or local folder), lazily.

    A hub id is looked up on the hub only when it answers (else, and with
    ``HF_HUB_OFFLINE=1``, only in the local cache).

    Example (any local folder holding a causal LM and its tokenizer):
        >>> cfg = TeacherConfig(backend="hf", model="path/to/model", method="logits")
        >>> planner = HFPlanner("SimpleDoorKey", cfg)  # doctest: +SKIP
        >>> planner.plan(["Agent sees <key>, holds <nothing>."])  # doctest: +SKIP
        [{'explore': 0.1, 'go to <key>, pick up <key>': 0.8, 'pick up <key>': 0.1}]
    """

    KEYED = ("backend", "model", "revision", "method", "dtype", "temperature",
             "num_samples", "max_new_tokens", "seed", "logits_norm", "quantization")

    def __init__(self, task: str, config: TeacherConfig, grammar: Grammar = MINIGRID) -> None:
        super().__init__(task, config, grammar)
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
        placement = model_kwargs(cfg)
        local = Path(name).expanduser().exists()
        if name.startswith((".", "/", "~")) and not local:
            raise ValueError(f"model folder {name} does not exist; pass a folder holding a "
                             "causal LM and its tokenizer, or a Hugging Face model id")
        offline = not local and not hub_reachable()
        kwargs = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code,
                  "local_files_only": offline}
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(name, **placement, **kwargs)
        except OSError as err:
            reason = ("the Hugging Face hub is not reachable (or HF_HUB_OFFLINE is set) and "
                      "it is not in the local cache") if offline else (
                str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
            raise ValueError(
                f"cannot load model {name!r} ({reason}); download it where the hub is "
                f"reachable (`hf download {name} --local-dir DIR`) and pass DIR as the model"
            ) from None
        except Exception as err:  # damaged weights or config (safetensors, json, torch)
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ValueError(
                f"cannot load model {name!r}: its files are damaged or not a causal LM "
                f"({type(err).__name__}: {reason}); download it again or pass another model"
            ) from None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if "device_map" not in placement:  # accelerate placed it otherwise
            model = model.to(cfg.device)
        self.tokenizer, self.model = tokenizer, model.eval()

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
        n = self.config.num_samples
        return {text: self.sample_dist(answers[i * n : (i + 1) * n])
                for i, text in enumerate(texts)}

    def _prompt(self, texts: list[str]) -> dict[str, PlanDist]:
        answers = self._generate([self._context(t, "prompt") for t in texts], sample=False)
        return {text: self.weighted_dist(a) for text, a in zip(texts, answers, strict=True)}

    def _logits(self, texts: list[str]) -> dict[str, PlanDist]:
        return self.candidate_dists(texts, lambda jobs: self.score(
            [(self._context(t, "logits") + "Action:", " " + c) for t, c in jobs]).tolist())

    def score(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """Log-likelihood of each continuation (plus end of sequence) after its context,
        the mean or the sum over its tokens (``logits_norm``), all pairs in one
        right-padded forward pass."""
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
        reduce = torch.mean if self.config.logits_norm == "mean" else torch.sum
        return torch.stack([reduce(token_logp[i, a - 1 : b - 1]) for i, (a, b) in enumerate(spans)])
