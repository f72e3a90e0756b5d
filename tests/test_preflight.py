"""A run folder that cannot take the run's checkpoints fails at the start, in one line; a save
that cannot write (a full disk) is one line and keeps the last good checkpoint."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from fit_args import tiny_fit_args

from llm4teach.cli import main
from llm4teach.training import checkpointing
from llm4teach.training.checkpointing import AtomicCheckpointIO, load_checkpoint
from llm4teach.training.preflight import check_space


def _fail(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return str(exc.value.code)


def test_run_folder_inside_a_file_is_one_line(in_tmp):
    (in_tmp / "afile").write_text("")
    args = tiny_fit_args(in_tmp, **{"--trainer.default_root_dir": str(in_tmp / "afile/run")})
    message = _fail(["fit", *args])
    assert message.startswith(f"llm4teach fit: error: run folder {in_tmp}/afile/run is not "
                              "writable (")
    assert "--trainer.default_root_dir" in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_run_folder_is_one_line(in_tmp):
    (in_tmp / "run").mkdir()
    (in_tmp / "run").chmod(0o555)
    try:
        message = _fail(["fit", *tiny_fit_args(in_tmp)])
    finally:
        (in_tmp / "run").chmod(0o755)
    assert message == (f"llm4teach fit: error: run folder {in_tmp}/run is not writable "
                       "(Permission denied): fix its permissions or set "
                       "--trainer.default_root_dir to a folder you can write to")


def test_no_room_for_two_checkpoints_is_one_line(tmp_path):
    huge = torch.nn.Linear(100_000, 100_000_000, bias=False, device="meta")  # 40 TB of weights
    with pytest.raises(ValueError, match=f"run folder {tmp_path} has .* MiB free, its two "
                                         "checkpoints need about .* MiB: free space there"):
        check_space(tmp_path, huge)
    check_space(tmp_path, torch.nn.Linear(8, 8))


def _full_disk(obj, f, *args, **kwargs) -> None:
    f.write(b"the first bytes")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _short_write(obj, f, *args, **kwargs) -> None:
    f.write(b"the first bytes")
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 128 vs 64")


@pytest.mark.parametrize(("save", "reason"), [
    (_full_disk, "No space left on device"), (_short_write, "the write came up short")])
def test_failed_save_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch, save, reason):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    monkeypatch.setattr(checkpointing.torch, "save", save)
    with pytest.raises(ValueError) as exc:
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, target)
    assert str(exc.value).startswith(f"cannot save checkpoint last.ckpt in {tmp_path} ({reason}")
    assert "--ckpt_path last" in str(exc.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.equal(load_checkpoint(target)["state_dict"]["w"], torch.ones(2))


def test_save_into_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    folder = tmp_path / "afile" / "checkpoints"
    with pytest.raises(ValueError, match=f"cannot save checkpoint last.ckpt in {folder} \\("):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, folder / "last.ckpt")


@pytest.mark.slow
def test_disk_full_mid_run_keeps_the_last_good_checkpoint(in_tmp, monkeypatch):
    saves = []
    real_save = torch.save

    def fills_after_first_epoch(obj, f, *args, **kwargs) -> None:
        saves.append(int(obj["state_dict"]["frames"]))
        (_full_disk if len(set(saves)) > 1 else real_save)(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpointing.torch, "save", fills_after_first_epoch)
    message = _fail(["fit", *tiny_fit_args(in_tmp, total_frames=384)])
    folder = in_tmp / "run" / "checkpoints"
    assert message.startswith("llm4teach fit: error: cannot save checkpoint ")
    assert f"in {folder} (No space left on device)" in message and "\n" not in message
    monkeypatch.undo()
    assert int(load_checkpoint(folder / "last.ckpt")["state_dict"]["frames"]) == 128
    assert not list(folder.glob("*.tmp"))
