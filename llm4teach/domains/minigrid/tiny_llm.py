"""A tiny Llama-style causal LM and a byte-level BPE tokenizer built in code (no hub): the
stand-in ``hf`` teacher of the tests and benchmarks, its vocabulary from MiniGrid's texts.

Saved with ``save_pretrained`` so it loads through the same ``from_pretrained`` path
users take. Needs the ``llm`` extra (transformers, tokenizers).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from llm4teach.domains.minigrid import MiniGridDomain
from llm4teach.domains.minigrid.grammar import MINIGRID

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:\n{% endif %}"
)
TEXTS = [
    "Agent sees <nothing>, holds <nothing>.",
    "Agent sees <key>, <door>, holds <nothing>.",
    "Agent sees <door>, holds <key>.",
    "Agent sees <blue key>, <red key>, <blue door>, holds <nothing>.",
]


def build_tiny_llm(folder: Path, chat: bool = False, seed: int = 0,
                   answer: str | None = None) -> Path:
    """Write a random-weight tiny Llama and its tokenizer to ``folder``; return it.

    With ``answer`` (a chat model: ``chat`` is implied), the model is wired to answer
    every chat prompt with it (``wire_answer``), so a test sees a parseable answer.
    """
    chat = chat or answer is not None
    prompt = MiniGridDomain("SimpleDoorKey").prompt("ours")  # its corpus
    corpus = [*prompt.values(), *TEXTS, *(c for t in TEXTS for c in MINIGRID.candidate_plans(t))]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = ["<pad>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.do_sample = True  # as chat models ship it: servers then sample
    if answer is not None:
        wire_answer(model, fast, answer)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def wire_answer(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, answer: str) -> None:
    """Make ``model`` a bigram chain that continues a chat prompt with ``answer`` and the
    end of sequence: its layers write nothing to the residual stream (output projections
    zero), so each next token follows from the current one alone; the chain's tokens get
    orthogonal embeddings and each one's successor a large logit."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "x"}],
                                           add_generation_prompt=True, tokenize=False)
    chain = [tokenizer(prompt)["input_ids"][-1],
             *tokenizer(answer, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    hidden = model.config.hidden_size
    if len(set(chain)) != len(chain) or len(chain) > hidden:
        raise ValueError(f"answer {answer!r} needs distinct tokens, at most {hidden - 1}")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        for i, (token, successor) in enumerate(zip(chain, chain[1:], strict=False)):
            model.model.embed_tokens.weight[token] = torch.eye(hidden)[i]
            model.lm_head.weight[successor] = 10 * torch.eye(hidden)[i]
