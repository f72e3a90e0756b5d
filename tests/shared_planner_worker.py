"""One rank of a 2-process gloo group that asks a ``RankSharedPlanner`` out of lockstep.

Run as ``python shared_planner_worker.py RANK PORT OUT``; writes ``OUT/rankRANK.json``.
Rank 1 asks while rank 0 is busy, more often than rank 0, and rank 0 asks alone (as its
teacher evaluation does); a collective follows each ``settle()``, as the update does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist
from helpers import planner_of

from llm4teach.teacher.planners.ranks import share_across_ranks

TEXTS = ["Agent sees <nothing>, holds <nothing>.", "Agent sees <key>, <door>, holds <nothing>.",
         "Agent sees <door>, holds <key>.", "Agent sees <red ball>, holds <nothing>."]
ASKS = {  # per rank, the texts of each question before the first and the second settle()
    0: ([[TEXTS[1]]], [[TEXTS[2]], [TEXTS[0]]]),
    1: ([[TEXTS[0], TEXTS[1], TEXTS[0]], [TEXTS[3]]], [[TEXTS[2], TEXTS[1]]]),
}


def main(rank: int, port: int, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    planner = share_across_ranks(planner_of("SimpleDoorKey"))
    answers = []
    for questions in ASKS[rank]:
        if rank == 0:
            time.sleep(0.5)  # busy: rank 1's first question waits
        answers += [planner.plan(texts) for texts in questions]
        planner.settle()
        dist.barrier()  # a collective after settling, as the PPO update's all-reduce
    record = {"kind": type(planner).__name__, "answers": answers,
              "received": planner.received, "stats": planner.stats.as_dict()}
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
