"""Checkpoints: written atomically, read back with ``weights_only=True``, never overwritten by
accident.

Lightning's save goes through an fsspec transaction whose temporary file lives in the
system temp folder; the final ``shutil.move`` is then a copy across file systems, which
a kill can cut in half. ``AtomicCheckpointIO`` writes beside the target and renames.
Everything a checkpoint holds is a tensor or a plain Python value (the module's
hyper-parameters are strings and numbers, counters and lambda are buffers, callback
states are dicts of numbers), so PyTorch's safe loader reads it.
"""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from llm4teach.metrics import EVAL_GREEDY
from llm4teach.training.artifacts import flatten

TEMP_SUFFIX = ".tmp"
TORCH_WRITE_FAILURES = ("unexpected pos", "inline_container")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temp file of a unique name in the same folder, fsync it, ``os.replace``
    (atomic), fsync the folder; the temp file goes on every exit path.

    A unique name, so that no two writers can ever share one; the lock of the run folder
    (``run_lock``) keeps a second process out in the first place. A save that cannot write
    (a full disk) is a ``ValueError`` of one line naming the folder.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        path, tmp = Path(path), None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _unique_temp(path)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
            _fsync_folder(path.parent)
        except BaseException as err:
            if tmp is not None:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
            reason = _write_failure(err)
            if reason is None:
                raise
            raise ValueError(
                f"cannot save checkpoint {path.name} in {path.parent} ({reason}); the "
                f"checkpoints already there are intact: make room or fix the folder, then "
                f"continue the run with --ckpt_path last") from None


def _unique_temp(path: Path) -> Path:
    """A new, empty temp file beside ``path``, made exclusively (no other writer can have it)
    with a plain file's mode (the umask applies, unlike ``mkstemp``'s 0600)."""
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _write_failure(err: BaseException) -> str | None:
    """Why a save could not write (a full disk, permissions...), or None for any other error.

    torch's zip writer reports a write that came up short as a ``RuntimeError`` of its
    own (``enforce fail at inline_container.cc ... unexpected pos``).
    """
    if isinstance(err, OSError):
        return err.strerror or str(err)
    if isinstance(err, RuntimeError) and any(s in str(err) for s in TORCH_WRITE_FAILURES):
        return "the write came up short: is the disk full?"
    return None


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it cannot undo it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(dirpath: Path) -> list[Path]:
    """Delete the temp files a killed save left in ``dirpath`` (hold the run's lock first)."""
    stale = sorted(dirpath.glob(f"*{TEMP_SUFFIX}")) if dirpath.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def checkpoint_callbacks(dirpath: Path) -> list[ModelCheckpoint]:
    """The best checkpoint by held-out greedy success, and ``last.ckpt``, at every epoch end
    (every ``data.epoch_frames`` frames).

    Two callbacks, because Lightning's ``save_last`` with a monitor only writes ``last``
    when the monitored value improved. The best one goes first (Lightning keeps their
    order), so that ``last.ckpt`` holds this epoch's best-tracking state: a run continued
    from it knows the best file on disk, keeps one, and names the uninterrupted run's.
    """
    common = {"dirpath": dirpath, "save_on_train_epoch_end": True, "save_top_k": 1,
              "auto_insert_metric_name": False, "enable_version_counter": False}
    return [ModelCheckpoint(filename="best-epoch{epoch}", monitor=EVAL_GREEDY, mode="max",
                            **common),
            ModelCheckpoint(filename="last", **common)]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with the safe loader; a missing or damaged file is a ``ValueError``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a folder: pass a checkpoint file a fit wrote "
                         "(<run folder>/checkpoints/last.ckpt)")
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a checkpoint, unsafe pickle...
        reason = str(err).strip().split(". ")[0].splitlines()[0] if str(err).strip() else ""
        raise ValueError(f"checkpoint {path} is unreadable, corrupt or not an llm4teach "
                         f"checkpoint ({reason or type(err).__name__}): pass a checkpoint a fit "
                         "wrote (<run folder>/checkpoints/last.ckpt)") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"checkpoint {path} holds no state_dict: not an llm4teach checkpoint")
    if {"lr", "encoder"} & checkpoint.get("hyper_parameters", {}).keys():  # flat settings
        raise ValueError(f"checkpoint {path} was written by an earlier llm4teach, whose model "
                         "settings were not grouped (model.lr or model.encoder, not "
                         "model.optimiser.lr and model.student.encoder): evaluate or continue "
                         "it with the llm4teach that wrote it, or train a new run")
    return checkpoint


def check_student_fits(checkpoint: dict[str, Any], module: torch.nn.Module, path: Path) -> None:
    """A checkpoint whose student has other layers or shapes than the configured one (another
    encoder, channels, a Habitat task) is one ``ValueError`` naming the settings that differ,
    before Lightning's ``load_state_dict`` traceback."""
    own, saved = module.state_dict(), checkpoint["state_dict"]
    if own.keys() == saved.keys() and all(own[k].shape == saved[k].shape for k in own):
        return
    was, now = (flatten(h) for h in (checkpoint.get("hyper_parameters", {}),
                                     dict(getattr(module, "hparams", {}))))
    differ = [f"{k} {was[k]!r} -> {now[k]!r}" for k in sorted(was.keys() & now.keys())
              if not k.startswith("_") and was[k] != now[k]]
    raise ValueError(f"checkpoint {path} holds a student of another shape than these settings "
                     f"make ({', '.join(differ) or 'its layers differ'}): continue it with the "
                     "settings it was trained with, or start a fresh run without --ckpt_path")


def resolve_checkpoint(ckpt_path: str | None, dirpath: Path) -> Path | None:
    """The checkpoint a run starts from (``last`` means ``<dirpath>/last.ckpt``), checked.

    A fresh run (``ckpt_path`` None) refuses a folder that already holds checkpoints,
    so it never writes over a previous run's.
    """
    if ckpt_path is None:
        existing = sorted(dirpath.glob("*.ckpt")) if dirpath.is_dir() else []
        if existing:
            raise ValueError(
                f"{dirpath} already holds checkpoints ({existing[0].name}...): continue that run "
                f"with --ckpt_path last, or set trainer.default_root_dir to a new folder"
            )
        return None
    path = dirpath / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if ckpt_path == "last" and not path.exists():
        raise ValueError(f"no run to continue in {dirpath.parent} ({path} does not exist): "
                         f"start it without --ckpt_path")
    load_checkpoint(path)
    return path
