"""A fit tells how it goes (one bar over the run) and how it went (a summary at the end)."""

from __future__ import annotations

import re
import shlex

import pytest
from fit_args import tiny_fit_args
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER
from llm4teach.training.checkpointing import load_checkpoint


def _without(args: list[str], option: str) -> list[str]:
    at = args.index(option)
    return args[:at] + args[at + 2:]


@pytest.mark.slow
def test_fit_shows_one_bar_over_the_run_and_ends_with_a_summary(in_tmp, capsys, monkeypatch):
    store = in_tmp / "env-store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")  # no --tracking.tracking_uri
    args = tiny_fit_args(in_tmp, **{"--trainer.enable_progress_bar": "true",
                                    "--tracking.tags": "{method: soft}"})
    main(["fit", *_without(args, "--tracking.tracking_uri")])
    out = capsys.readouterr().out
    frames = [line for line in re.split(r"[\r\n]", out) if line.startswith("SimpleDoorKey: ")
              and "|" in line]
    # the bar runs over the whole budget, never per epoch
    assert frames and all(re.search(r"\| \d+/384 frames \[", line) for line in frames)
    last = frames[-1]
    assert "384/384 frames" in last and " frames/s" in last
    assert "lambda=" in last and "greedy=" in last
    # the bar ends on the final evaluation: the numbers the summary prints
    shown = dict(re.findall(r"(greedy|sampled)=([\d.]+)", last))

    summary = out[out.index("SimpleDoorKey: 384 frames, "):].splitlines()
    client = MlflowClient(f"sqlite:///{store}")
    run_id = load_checkpoint(in_tmp / "run/checkpoints/last.ckpt")["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.info.run_name == "SimpleDoorKey-soft-seed0"
    final = run.data.metrics
    assert re.fullmatch(r"SimpleDoorKey: 384 frames, [\d,]+ s wall time and [\d,]+ CPU-s "
                        r"\(this process\)", summary[0])
    assert shown == {"greedy": f"{final[EVAL_GREEDY]:.3f}",
                     "sampled": f"{final[EVAL_SAMPLED]:.3f}"}
    assert summary[1] == (f"final held-out success: greedy "
                          f"{final[EVAL_GREEDY]:.3f}, sampled "
                          f"{final[EVAL_SAMPLED]:.3f}, teacher "
                          f"{final[EVAL_TEACHER]:.3f}")
    assert summary[2] == f"MLflow run SimpleDoorKey-soft-seed0 ({run_id}), experiment SimpleDoorKey"
    best = next((in_tmp / "run/checkpoints").glob("best-*.ckpt"))
    assert summary[3] == f"checkpoints {in_tmp}/run/checkpoints, best {best}"
    assert summary[4:] == ["look at it:", f"  mlflow ui --backend-store-uri sqlite:///{store}",
                           f"  llm4teach compare --tracking-uri sqlite:///{store} "
                           f"--experiment SimpleDoorKey"]
    main(shlex.split(summary[-1])[1:])  # the compare command works as printed
    assert "| SimpleDoorKey soft | 1 |" in capsys.readouterr().out
