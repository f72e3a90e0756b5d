"""A distilled stand-in teacher: a small causal LM fine-tuned on SimpleDoorKey's recorded
table, then used through the ``hf`` backend like any Hugging Face model.

It shows the whole in-process path end to end on a CPU: the model is built from a config
(a Llama with the tokenizer of ``tests/tiny_llm.py``), trained for minutes on the exact
prompts ``HFPlanner`` sends (its own ``plain_context``: the tokenizer has no chat
template) with the table's plans as answers, saved with ``save_pretrained`` and loaded
back by ``from_pretrained``. It learned the table, not an LLM's own knowledge.

Training minimises the expected loss of answers drawn from the table (each plan's
sequence log-likelihood weighted by its recorded probability, junk plans included): the
exact expectation of sampling them, without the sampling noise. Per method:
``sample`` answers ``Action: <plan>``; ``logits`` scores `` <plan>`` after ``Action:``;
``prompt`` answers every plan of the table as ``Action: <plan> | <p>`` lines.

Reports, per state text of the table, the total variation between each method's plan
distribution and the table's (both over the plans that parse, renormalised: what the
teacher acts on), the share of unparseable answers, the teacher's held-out success, and
with ``--fit`` one ``llm4teach fit`` of the SimpleDoorKey student per named method.

    python benchmarks/distilled_teacher.py [--out /tmp/distilled] [--steps 300]
        [--fit sample logits]

Writes ``docs/generated/distilled_teacher.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from llm4teach.domains import resolve
from llm4teach.domains.held_out import evaluate_teacher
from llm4teach.domains.minigrid.grammar import MINIGRID
from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.metrics import EVAL_STUDENT, TEACHER_SUCCESS
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.planners.base import PlanDist

from report import machine_line, write_generated
from time_to_success import ROOT, fit

TASK = "SimpleDoorKey"
METHODS = ("sample", "prompt", "logits")
# On `Agent sees <door>, holds <key>.` much of the table's mass does not parse, so only a
# share of the answers makes its distribution: enough answers that the TV's sampling noise
# stays small against the methods' differences.
NUM_SAMPLES = 1000
# The stand-in is distilled on our short prompt: its 400-token vocabulary (tests/tiny_llm.py)
# was trained on that text, the paper's would be mostly byte pieces, several times longer.
PROMPT = "ours"
PROMPT_TOKENS = 200  # room for six "Action: <plan> | <p>" lines


def method_config(folder: Path, method: str) -> TeacherConfig:
    """The hf teacher of ``method`` on the distilled model. ``logits`` sums the plan's
    token log-probabilities: softmax of the sum is the model's own distribution over the
    candidates, which is what it was trained to match (the mean favours long plans)."""
    extra = {"sample": {"num_samples": NUM_SAMPLES}, "prompt": {"max_new_tokens": PROMPT_TOKENS},
             "logits": {"logits_norm": "sum"}}[method]
    return TeacherConfig(backend="hf", model=str(folder), method=method, prompt=PROMPT,
                         cache_path=":memory:", **extra)


def answers(method: str, dist: PlanDist) -> list[tuple[str, str, float]]:
    """(context suffix, answer, weight) of one state text's training sequences."""
    if method == "sample":
        return [("", f"Action: {plan}", q) for plan, q in dist.items()]
    if method == "logits":  # HFPlanner.score: context + "Action:", then " " + plan
        return [("Action:", f" {plan}", q) for plan, q in dist.items()]
    lines = "\n".join(f"Action: {plan} | {q:g}" for plan, q in dist.items())
    return [("", lines, 1.0)]


def shared_prefix(seqs: list[list[int]], limit: int) -> list[int]:
    """The longest token prefix every sequence starts with, at most ``limit`` tokens."""
    n = 0
    while n < limit and all(seq[n] == seqs[0][n] for seq in seqs):
        n += 1
    return seqs[0][:n]


def padded(rows: list[tuple[list[int], int, float]], skip: int,
           pad: int) -> tuple[torch.Tensor, ...]:
    """Right-padded (ids, labels, attention mask, positions, weights) of ``(sequence, answer
    start, weight)`` rows after their first ``skip`` tokens (the shared prefix, whose keys
    and values the model gets as a cache: the mask covers it)."""
    width = max(len(seq) for seq, _, _ in rows) - skip
    ids = torch.full((len(rows), width), pad)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), skip + width), dtype=torch.long)
    for i, (seq, start, _) in enumerate(rows):
        ids[i, : len(seq) - skip] = torch.tensor(seq[skip:])
        labels[i, start - skip : len(seq) - skip] = ids[i, start - skip : len(seq) - skip]
        mask[i, : len(seq)] = 1
    positions = (skip + torch.arange(width)).expand(len(rows), width)
    return ids, labels, mask, positions, torch.tensor([w for _, _, w in rows])


def distill(folder: Path, steps: int, hidden: int, layers: int, lr: float,
            seed: int = 0) -> tuple[int, float, float]:
    """Fine-tune a fresh Llama on the table's answers and save it (with the tokenizer) to
    ``folder``; return (parameters, final loss, seconds)."""
    build_tiny_llm(folder)  # the tokenizer (its random tiny model is replaced below)
    tok = AutoTokenizer.from_pretrained(folder)
    planner = resolve(TASK).make_teacher(method_config(folder, "sample")).teacher.planner
    if tok.chat_template:
        raise ValueError("the distilled model's tokenizer must have no chat template")
    table = resolve(TASK).plan_table()["states"]
    data: dict[str, list[tuple[list[int], int, float]]] = {m: [] for m in METHODS}
    for text, dist in table.items():
        for method in METHODS:
            for suffix, answer, q in answers(method, dist):
                ctx = tok(planner.plain_context(text, method) + suffix)["input_ids"]
                ans = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                data[method].append((ctx + ans, len(ctx), q / (len(table) * len(METHODS))))
    rows = [row for method in METHODS for row in data[method]]
    prefix = shared_prefix([seq for seq, _, _ in rows], min(a for _, a, _ in rows) - 1)
    batches = [padded(data[m], len(prefix), tok.pad_token_id) for m in METHODS]  # one width each
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.1)
    start = time.perf_counter()
    for step in range(steps):
        loss = torch.zeros(())
        for ids, labels, mask, positions, weight in batches:
            # the system prompt once, its keys and values shared by the batch's sequences
            cache = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(ids))
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           past_key_values=cache).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels[:, 1:],
                                                    ignore_index=-100, reduction="none")
            loss = loss + (nll.sum(dim=1) * weight).sum()  # expected answer NLL
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    model.generation_config.do_sample = True
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    return params, loss.item(), time.perf_counter() - start


def parsed(dist: PlanDist) -> PlanDist:
    """``dist`` over its plans that parse (canonical text), renormalised: what the teacher
    acts on (a junk plan gives no action and the soft row is renormalised)."""
    out: PlanDist = {}
    for plan, q in dist.items():
        steps = MINIGRID.parse_plan(plan)
        if steps is not None:
            key = MINIGRID.format_plan(steps)
            out[key] = out.get(key, 0.0) + q
    total = sum(out.values())
    return {p: q / total for p, q in out.items()} if total else {}


def total_variation(p: PlanDist, q: PlanDist) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in {*p, *q})


def compare(folder: Path) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """TV to the table per (method, state text), and the sample method's share of
    unparseable answers per text."""
    table = resolve(TASK).plan_table()["states"]
    tv: dict[str, dict[str, float]] = {}
    junk: dict[str, float] = {}
    for method in METHODS:
        planner = resolve(TASK).make_teacher(method_config(folder, method)).teacher.planner
        tv[method] = {}
        for text, dist in table.items():
            before = planner.stats.parse_failures
            (got,) = planner.plan([text])
            tv[method][text] = total_variation(parsed(got), parsed(dist))
            if method == "sample":
                junk[text] = (planner.stats.parse_failures - before) / NUM_SAMPLES
            print(f"{method:7s} TV {tv[method][text]:.3f}  {text}  {got}", flush=True)
    return tv, junk


def teacher_success(config: TeacherConfig, episodes: int) -> float:
    domain = resolve(TASK)
    return evaluate_teacher(domain.make_teacher(config), domain.episode_envs(episodes),
                            episodes)[TEACHER_SUCCESS]


def student(folder: Path, method: str) -> dict[str, str]:
    """One ``llm4teach fit`` of the shipped config (seed 0) with the distilled teacher."""
    extra = ["--data.teacher.backend", "hf", "--data.teacher.model", str(folder),
             "--data.teacher.method", method, "--data.teacher.prompt", PROMPT,
             "--data.teacher.cache_path", ":memory:"]
    extra += {"sample": ["--data.teacher.num_samples", str(NUM_SAMPLES)],
              "prompt": ["--data.teacher.max_new_tokens", str(PROMPT_TOKENS)],
              "logits": ["--data.teacher.logits_norm", "sum"]}[method]
    with tempfile.TemporaryDirectory(prefix="distilled-store-") as store:
        run = fit(f"distilled-{method}", "simpledoorkey.yaml", extra, 0, None, ROOT, Path(store))
    out = {"frames": f"{run.frames:,}", "cpu_s": f"{run.cpu_s:.0f}"}
    for mode in ("greedy", "sampled"):
        hit = run.first(mode, 0.9)
        out[f"{mode}_0.9"] = "not reached" if hit is None else f"{hit[0]:,}"
        out[f"{mode}_final"] = f"{run.evals[EVAL_STUDENT[mode]][-1][1]:.2f}"
        out[f"{mode}_curve"] = " ".join(
            f"{v:.2f}" for _, v in run.evals[EVAL_STUDENT[mode]])
    print(method, out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "distilled")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--fit", nargs="*", choices=METHODS, default=["sample"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # 2 shared cores
    machine = machine_line()
    params, loss, seconds = distill(args.out, args.steps, args.hidden, args.layers, args.lr)
    tv, junk = compare(args.out)
    table = resolve(TASK).plan_table()["states"]
    success = {"table": teacher_success(TeacherConfig(), args.episodes)}
    for method in METHODS:
        success[method] = teacher_success(method_config(args.out, method), args.episodes)
        print(f"teacher success {method}: {success[method]:.2f}", flush=True)
    students = {m: student(args.out, m) for m in args.fit}

    rows = ["| state text | table junk | sample junk | TV sample | TV prompt | TV logits |",
            "|---|---:|---:|---:|---:|---:|"]
    for text, dist in table.items():
        table_junk = sum(q for p, q in dist.items() if MINIGRID.parse_plan(p) is None)
        rows.append(f"| `{text}` | {table_junk:.2f} | {junk[text]:.2f} | "
                    + " | ".join(f"{tv[m][text]:.3f}" for m in METHODS) + " |")
    worst = {m: max(tv[m].values()) for m in METHODS}
    rows.append("| **worst** | | | " + " | ".join(f"**{worst[m]:.3f}**" for m in METHODS) + " |")
    body = [
        "**A distilled stand-in, not an LLM's knowledge**: a small Llama built from a config "
        f"({params / 1e6:.2f} M parameters: hidden {args.hidden}, {args.layers} layers, the "
        f"byte-level BPE tokenizer of `tests/tiny_llm.py`) fine-tuned for {args.steps} "
        f"full-batch steps ({seconds:.0f} s, final expected answer NLL {loss:.3f} nats) on "
        f"the exact prompts `HFPlanner` sends (prompt `{PROMPT}`: the tokenizer's vocabulary "
        "was trained on it), with SimpleDoorKey's recorded table as the "
        "answers at their probabilities (junk included). It knows the table and nothing "
        "else; it shows the whole `hf` path end to end (`save_pretrained`, "
        "`from_pretrained`, the three methods, the cache, a student's training).",
        machine,
        "",
        f"Total variation to the table per state text, both distributions over the plans "
        f"that parse, renormalised (what the teacher acts on: a junk plan gives no action). "
        f"`sample`: {NUM_SAMPLES} answers per text at temperature 1 (sampling noise about "
        "0.01-0.04); `prompt`: one greedy answer listing the plans with probabilities; "
        "`logits`: the grammar's candidate plans scored by their summed log-probability "
        "(`logits_norm: sum`; a table plan outside the candidates can get no mass). Junk: "
        "the share of the table's mass on plans that do not parse, and of the sample "
        "teacher's answers that did not parse.",
        "",
        *rows,
        "",
        f"The `sample` teacher is {'within' if worst['sample'] <= 0.1 else 'NOT within'} "
        f"0.1 total variation of the table on every state text (worst {worst['sample']:.3f}).",
        "",
        f"Teacher acting alone, held-out success over {args.episodes} episodes: table "
        f"{success['table']:.2f}, " + ", ".join(f"{m} {success[m]:.2f}" for m in METHODS) + ".",
    ]
    if students:
        body += [
            "",
            "Student: one `llm4teach fit --config configs/simpledoorkey.yaml "
            "--data.teacher.backend hf --data.teacher.model FOLDER --data.teacher.method M` "
            "per method (seed 0, the config's full budget), against the table teacher's "
            "seed 0 in docs/generated/time_to_success.md.",
            "",
            "| teacher | frames | CPU-s | greedy 0.9 at | sampled 0.9 at | final greedy | "
            "final sampled |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(f"| hf {m} | {s['frames']} | {s['cpu_s']} | {s['greedy_0.9']} | "
              f"{s['sampled_0.9']} | {s['greedy_final']} | {s['sampled_final']} |"
              for m, s in students.items()),
            "",
            *(f"Sampled success of `{m}` per evaluation (every 10,240 frames): "
              f"{s['sampled_curve']}." for m, s in students.items()),
        ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        command = "python " + " ".join(shlex.quote(a) for a in [
            "benchmarks/distilled_teacher.py", *sys.argv[1:]])
        write_generated("distilled_teacher", "A distilled stand-in teacher", command, text)


if __name__ == "__main__":
    main()
