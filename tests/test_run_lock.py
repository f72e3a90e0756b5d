"""One process per run: a second fit on a running run's folder refuses; checkpoints stay whole."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from fit_args import tiny_fit_args

from llm4teach.cli import main
from llm4teach.training.checkpointing import load_checkpoint
from llm4teach.training.cli import fit
from llm4teach.training.run_lock import LOCK_NAME, hold_run

SCRIPT = str(Path(sys.executable).parent / "llm4teach")


def _wait_for_holder(lock: Path, process: subprocess.Popen, timeout: float = 120) -> str:
    """The PID written into the lock file, once the fit holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if lock.is_file() and lock.read_text().strip():
            return lock.read_text().strip()
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"the fit did not take {lock} within {timeout} s")


@pytest.mark.slow
def test_second_fit_on_a_running_run_refuses_in_one_line(in_tmp):
    stale = in_tmp / "run" / "checkpoints" / "last.ckpt.x1y2.tmp"  # left by a killed save
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    args = tiny_fit_args(in_tmp, total_frames=640)  # 5 epochs: still running below
    first = subprocess.Popen([SCRIPT, "fit", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    pid = _wait_for_holder(in_tmp / "run" / LOCK_NAME, first)
    assert pid == str(first.pid)

    with pytest.raises(ValueError) as exc:  # `llm4teach fit` prints it as its error line
        fit([*args, "--ckpt_path", "last"])
    assert first.poll() is None, "the first fit was still running when the second refused"
    assert str(exc.value) == (
        f"run folder {in_tmp}/run is in use by another llm4teach fit (PID {first.pid}): wait "
        f"for it to end or stop it, or set --trainer.default_root_dir to another folder")

    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    checkpoints = in_tmp / "run" / "checkpoints"
    assert int(load_checkpoint(checkpoints / "last.ckpt")["state_dict"]["frames"]) == 640
    assert not list(checkpoints.glob("*.tmp")), "the stale temp file is gone, no new one left"
    with hold_run(in_tmp / "run"):  # released at the end
        pass


def test_lock_is_released_when_the_fit_fails(in_tmp, capsys):
    with pytest.raises(SystemExit):  # fails after taking the lock: no checkpoint to resume
        main(["fit", *tiny_fit_args(in_tmp), "--ckpt_path", "last"])
    with hold_run(in_tmp / "run"):
        assert (in_tmp / "run" / LOCK_NAME).read_text().strip().isdigit()
    assert (in_tmp / "run" / LOCK_NAME).read_text() == ""
