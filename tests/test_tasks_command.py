"""``llm4teach tasks``: the names at once (no torch), and with ``--all`` every id it takes."""

from __future__ import annotations

import subprocess
import sys

from llm4teach.cli import main
from llm4teach.domains import resolve, task_names
from llm4teach.domains.minigrid.registry import standard_ids

NO_TORCH = ("import sys; from llm4teach.cli import main; main(['tasks']); "
            "heavy = sorted({'torch', 'torchrl', 'lightning'} & set(sys.modules)); "
            "print('imported:', heavy)")


def test_tasks_lists_the_trainers_names_without_importing_torch():
    out = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "imported: []"
    listed = [line.split()[0] for line in out.splitlines()[:len(task_names())]]
    assert listed == list(task_names())  # the domains' own names, in their order


def test_tasks_all_lists_every_registered_id_and_each_resolves(capsys):
    main(["tasks", "--all"])
    lines = capsys.readouterr().out.splitlines()
    ids = lines[lines.index("and these ids:") + 1:]
    assert ids == standard_ids() and len(ids) > 100
    for task in ids[::25]:  # a sample: each is a task, or names the extra it needs
        try:
            assert resolve(task).task == task
        except ValueError as err:
            assert "pip install" in str(err)
