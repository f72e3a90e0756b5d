"""A fit tells how it goes: one bar over the run."""

from __future__ import annotations

import re

import pytest
from fit_args import tiny_fit_args

from llm4teach.cli import main


def _without(args: list[str], option: str) -> list[str]:
    at = args.index(option)
    return args[:at] + args[at + 2:]


@pytest.mark.slow
def test_fit_shows_one_bar_over_the_run(in_tmp, capsys, monkeypatch):
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

