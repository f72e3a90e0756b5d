"""The distilled-teacher benchmark trains with the system prompt's keys and values shared
by every sequence; its answer loss must equal the plain forward's."""

from __future__ import annotations

import torch
from distilled_teacher import padded, shared_prefix, total_variation
from transformers import LlamaConfig, LlamaForCausalLM


def answer_nll(model: LlamaForCausalLM, seq: list[int], start: int) -> torch.Tensor:
    logp = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, :-1], -1)
    return -logp[torch.arange(start - 1, len(seq) - 1), torch.tensor(seq[start:])].sum()


def test_prefix_shared_batch_gives_the_plain_answer_loss() -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, pad_token_id=0)).eval()
    common = [5, 6, 7, 8, 9]
    rows = [(common + [10, 11, 12], 6, 0.7), (common + [13, 14, 15, 16, 17], 7, 0.3)]
    prefix = shared_prefix([seq for seq, _, _ in rows], min(s for _, s, _ in rows) - 1)
    assert prefix == common
    ids, labels, mask, positions, weight = padded(rows, len(prefix), pad=0)
    with torch.no_grad():
        cache = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
        cache.batch_repeat_interleave(len(rows))
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                       past_key_values=cache).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels[:, 1:],
                                                ignore_index=-100, reduction="none").sum(1)
        plain = torch.stack([answer_nll(model, seq, start) for seq, start, _ in rows])
    torch.testing.assert_close(nll, plain, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(weight, torch.tensor([0.7, 0.3]))


def test_total_variation() -> None:
    assert total_variation({"explore": 1.0}, {"explore": 0.5, "go to <key>": 0.5}) == 0.5
    assert total_variation({}, {"explore": 1.0}) == 0.5
