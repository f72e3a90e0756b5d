"""``llm4teach fit --help``: our settings first, each with a help line, without importing
Lightning (the shipped text is the live parser's)."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

from llm4teach.cli import main
from llm4teach.fit_help import HELP_FILE, fit_parser, render

HEAVY = ("torch", "lightning", "mlflow", "torchrl")


@pytest.mark.slow
def test_shipped_help_is_the_live_parsers():
    shipped = resources.files("llm4teach").joinpath(HELP_FILE).read_text()
    assert render(fit_parser()) == shipped, "regenerate it: python -m llm4teach.fit_help"
    for setting in ("--data.task", "--data.teacher.backend", "--model.ppo.minibatch_size",
                    "--budget.total_frames", "--schedule NAME", "--tracking.tracking_uri"):
        assert f"  {setting}" in shipped
    assert "--trainer.max_epochs" not in shipped, "Lightning's settings are in --help-all"


def test_help_imports_none_of_the_training_stack():
    code = (f"import sys; from llm4teach.cli import main; main(['fit', '--help']); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.startswith("usage: llm4teach fit ")
    assert out.splitlines()[-1] == "[]"


@pytest.mark.slow
def test_help_all_is_lightnings_full_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--help-all"])
    assert exc.value.code == 0
    assert "--trainer.max_epochs" in capsys.readouterr().out
