"""``llm4teach teacher export``: an LLM's plans for the state texts a task's episodes meet,
written as a plan table that the ``table`` backend replays with no model.

Query once where the model runs (a GPU, a server), train anywhere: the file goes to
``fit --data.teacher.plans FILE`` or ``llm4teach teacher --teacher.plans FILE``. The
episodes are seeded ``seed, seed + 1, ...`` (never a held-out episode, which start at
``2**32``); the teacher itself acts in them (``policy="teacher"``, so the texts are the
ones its own plans lead to) or a uniform random policy does (``random``). Every distinct
text is asked once, in batches, through the planner's answer cache, and the file records
the model, revision, method, prompt and settings that produced the answers.

The one module of ``llm4teach.teacher`` that uses ``llm4teach.domains``: it plays a
task's episodes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from llm4teach.domains import resolve
from llm4teach.domains.held_out import HELD_OUT_SEED, EpisodeEnv, play
from llm4teach.envs.batch import Observation
from llm4teach.teacher.config import TeacherConfig, llm_backends
from llm4teach.teacher.planners.base import LLMPlanner, PlanDist, Planner, TeacherStats
from llm4teach.teacher.planners.table import SUFFIXES
from llm4teach.teacher.transform import TeacherTransform

POLICIES = ("teacher", "random")
RECORDED = ("backend", "model", "revision", "method")  # top-level keys; the rest: settings


class _Recorder:
    """The teacher's planner while the episodes are played: records every state text met
    and, when the teacher acts (``ask``), the LLM planner's answer to it; with a random
    policy acting it answers nothing, so the texts are asked afterwards in batches."""

    def __init__(self, planner: Planner, ask: bool, progress: Callable[[str], None]) -> None:
        self.planner, self.ask, self.progress = planner, ask, progress
        self.stats: TeacherStats = planner.stats
        self.texts: dict[str, None] = {}  # in the order first met
        self.answers: dict[str, PlanDist] = {}

    def plan(self, texts: Sequence[str]) -> list[PlanDist]:
        new = [t for t in dict.fromkeys(texts) if t not in self.texts]
        self.texts.update(dict.fromkeys(new))
        if not self.ask:
            return [{} for _ in texts]
        dists = self.planner.plan(texts)
        self.answers.update(zip(texts, dists, strict=True))
        if new:
            self.progress(f"{len(self.texts)} state texts met, {_calls(self.stats)}")
        return dists


def _calls(stats: TeacherStats) -> str:
    return (f"{stats.model_calls} sent to the model ({stats.model_seconds:.1f} s), "
            f"{stats.hits} from the cache")


def check_out(path: str | Path) -> Path:
    """``path`` as the table file to write: a ``.json``, ``.yaml`` or ``.yml`` name in an
    existing folder, else one ValueError naming the fix (checked before any model runs)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out {path}: the table file's name must end with .json, .yaml or "
                         ".yml (it is read back by --data.teacher.plans)")
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: folder {path.parent} does not exist; create it first")
    return path


def check_episodes(episodes: int, policy: str, seed: int) -> None:
    """One ValueError naming the option when the episodes to play are not playable: a known
    policy, counts that are integers, and seeds below the held-out episodes'."""
    if policy not in POLICIES:
        raise ValueError(f"--policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    for name, value, least in (("episodes", episodes, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"--{name} must be an integer >= {least}, got {value!r}")
    if seed + episodes > HELD_OUT_SEED:
        raise ValueError(f"--seed {seed} with {episodes} episodes reaches the held-out "
                         f"episodes' seeds ({HELD_OUT_SEED} on): use a smaller --seed")


def play_episodes(transform: TeacherTransform, envs: Sequence[EpisodeEnv], episodes: int,
                  policy: str, seed: int) -> dict[str, float]:
    """Success, return and length of the export's episodes (episode ``i`` seeded ``seed + i``)
    with ``policy`` acting: the teacher (sampling ``pi_T``) or a uniform random policy, the
    teacher describing (and planning for) every state either way. Draws come from one
    generator seeded ``seed``, so a table teacher with the exported answers replays the
    export's episodes step for step. A fork of the teacher plays (fresh per-episode state,
    the same planner and counters)."""
    teacher = transform.teacher.fork()
    rng = np.random.default_rng(seed)

    def act(obs: Observation, live: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(live)
        args = ({key: obs[key][rows] for key in teacher.in_keys}, rng, rows)
        if policy == "teacher":
            return teacher.sample_actions(*args)
        teacher.act_probs(*args)
        return rng.integers(teacher.num_actions, size=len(rows))

    return play(envs, act, episodes, first_seed=seed)


def export_table(task: str, config: TeacherConfig, episodes: int = 20,
                 policy: str = "teacher", seed: int = 0, batch: int = 16,
                 progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """The plan table of ``config``'s LLM planner over the distinct state texts that
    ``episodes`` episodes of ``task`` meet (format ``{"task", "about", "states": {text:
    {plan: p}}}``, plus what produced it); texts the model gave no plan for are listed
    under ``no_plan`` (a replay counts them unknown, and the fallback decides, as it does
    for the LLM). ``batch`` texts go to the model at a time; ``progress`` gets one line
    per step of the work."""
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"--batch must be an integer >= 1, got {batch!r}")
    check_episodes(episodes, policy, seed)
    domain = resolve(task)
    transform = domain.make_teacher(config)  # a bad prompt file fails here, before any episode
    planner = transform.teacher.planner
    if not planner.asks_llm:
        raise ValueError(f"teacher export asks an LLM: set --teacher.backend {llm_backends()} "
                         f"(got {config.backend!r}; a table has nothing to export)")
    recorder = _Recorder(planner, ask=policy == "teacher", progress=progress)
    transform.teacher.planner = recorder
    result = play_episodes(transform, domain.episode_envs(episodes), episodes, policy, seed)
    texts = list(recorder.texts)
    progress(f"played {episodes} episodes ({policy} policy, success {result['success']:.1%}): "
             f"{len(texts)} distinct state texts")
    todo = [t for t in texts if t not in recorder.answers]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        recorder.answers.update(zip(chunk, recorder.planner.plan(chunk), strict=True))
        progress(f"asked {start + len(chunk)}/{len(todo)} state texts, {_calls(recorder.stats)}")
    assert isinstance(planner, LLMPlanner)  # what asks an LLM: its settings shape the answers
    keyed = planner.keyed()  # the model the server named, when unset
    prompt, name = keyed.pop("prompt"), planner.config.prompt or "paper"
    about = (f"LLM answers, not hand-written: recorded by `llm4teach teacher export` from "
             f"{keyed['backend']} model {keyed['model']} (method {keyed['method']}, prompt "
             f"{name}) over the state texts of {episodes} episodes "
             f"(seeds {seed} to {seed + episodes - 1}, {policy} policy)")
    return {
        "task": domain.task, "about": about,
        **{k: keyed.get(k) for k in RECORDED},
        "prompt": {"name": name, "system": prompt["system"],
                   "instruction": prompt[keyed["method"]]},
        "settings": {k: v for k, v in keyed.items() if k not in RECORDED},
        "episodes": episodes, "policy": policy, "seed": seed,
        "no_plan": [t for t in texts if not recorder.answers[t]],
        "states": {t: recorder.answers[t] for t in texts if recorder.answers[t]},
    }


def state_texts(task: str, config: TeacherConfig, episodes: int = 50, policy: str = "random",
                seed: int = 0) -> tuple[dict[str, int], dict[str, float]]:
    """The distinct state texts ``episodes`` episodes of ``task`` meet (seeded ``seed, seed
    + 1, ...``), each with the number of episodes it occurs in, most common first, and the
    episodes' success: the material for a plan table. ``policy`` acts as in
    ``export_table``; the teacher of ``config`` describes every state (and plans, when it
    acts). Each episode is played by a teacher of its own, so a text is counted once per
    episode it occurs in."""
    check_episodes(episodes, policy, seed)
    domain = resolve(task)
    counts: dict[str, int] = {}
    successes = 0.0
    envs = domain.episode_envs(1)
    planner = None
    for i in range(episodes):
        transform = domain.make_teacher(config)
        planner = planner or transform.teacher.planner  # one planner: an LLM loads once
        recorder = _Recorder(planner, ask=policy == "teacher", progress=lambda line: None)
        transform.teacher.planner = recorder
        successes += play_episodes(transform, envs, 1, policy, seed + i)["success"]
        for text in recorder.texts:
            counts[text] = counts.get(text, 0) + 1
    ranked = dict(sorted(counts.items(), key=lambda item: -item[1]))
    return ranked, {"success": successes / episodes, "episodes": episodes}


class _Dumper(yaml.SafeDumper):
    """YAML with multi-line texts (the prompt) as literal blocks, readable and editable."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def write_table(table: dict[str, Any], path: str | Path) -> None:
    """Write ``table`` to ``path`` (JSON or YAML by its suffix) atomically: a temp file
    beside it, then ``os.replace``, so a reader never sees half a table."""
    path = check_out(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(table, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(table, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"cannot write plan table {path} ({err.strerror or err})") from None
