"""Checkpoints that survive kill -9, a full disk and untrusted files.

A checkpoint is written to a hidden temporary name in the same directory, fsync'ed and renamed
to ``ckpt-<step>.pt``; only names of that form are ever picked up, so one interrupted mid-write
is invisible. Loading uses ``torch.load(weights_only=True)``: a checkpoint can hold tensors,
numbers, strings, lists and dicts, never pickled code.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from blspeech.fileio import atomic_write

log = logging.getLogger("blspeech")
CHECKPOINT_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"ckpt-{step:08d}.pt"


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``state`` as the checkpoint of ``step`` atomically, then prune all but the newest ``keep``.

    If writing fails (disk full, permission denied) the exception propagates and every earlier
    checkpoint is still there, untouched.
    """
    path = checkpoint_path(Path(directory), step)
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first (temporary files are never listed)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if CHECKPOINT_NAME.match(p.name)]
    return sorted(found, key=lambda p: int(CHECKPOINT_NAME.match(p.name).group(1)))


class DamagedCheckpoint(RuntimeError):
    """A checkpoint file is there but its contents cannot be loaded (truncated, foreign, or holding code)."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (no code execution); a damaged file raises DamagedCheckpoint naming
    the path, a file that cannot be read (permissions, I/O, gone) an OSError naming it.

    torch reports some truncated files as an OSError too ("[Errno 22] Invalid argument" for a zip
    archive cut in its first tens of kilobytes): when loading fails that way twice while the
    file's bytes read back fine, what they hold is what failed, and the file is damaged rather
    than unreadable (a passing read error is gone on the second try)."""
    try:
        return _load(path)
    except OSError:
        pass  # a passing read error is gone on the second try; a damaged archive fails again
    try:
        return _load(path)
    except OSError as err:
        if _reads_back(path):
            raise DamagedCheckpoint(f"cannot load checkpoint {path}: {err}") from err
        if err.filename is None:
            err.filename = str(path)
        raise


def _load(path: str | Path) -> dict[str, Any]:
    """``torch.load`` without code execution; its errors for damaged contents, other than OSError,
    become DamagedCheckpoint."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError):
        raise
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise DamagedCheckpoint(f"cannot load checkpoint {path}: {err}") from err


def _reads_back(path: str | Path) -> bool:
    """True when every byte of ``path`` can be read."""
    try:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    except OSError:
        return False
    return True


def latest_checkpoint(directory: str | Path, *, writer: bool = True) -> dict[str, Any] | None:
    """The newest loadable checkpoint; a damaged newest one is reported and the one before it used.

    The ``writer`` (rank 0 of a distributed run; the only process otherwise) renames a damaged
    one to ``<name>.damaged``, because the run goes on from the earlier step: left under its name
    it would stay "newest" and pruning would delete the good checkpoints written after it. The
    writer also deletes temporary files of checkpoints whose writer was killed: they are as large
    as a checkpoint and nothing will ever complete them.
    """
    root = Path(directory)
    for leftover in root.glob(".ckpt-*.tmp") if root.is_dir() and writer else []:
        leftover.unlink(missing_ok=True)
    for path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(path)
        except (DamagedCheckpoint, FileNotFoundError) as err:  # gone: another rank set it aside
            log.warning("%s; trying the previous checkpoint", err)
            if writer and isinstance(err, DamagedCheckpoint):
                path.replace(path.with_name(f"{path.name}.damaged"))
                log.warning("set %s aside as %s.damaged", path, path.name)
    return None


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of model weights (ESPnet/icefall model averaging); integer buffers are taken from the last."""
    if not states:
        raise ValueError("average_state_dicts needs at least one state dict")
    averaged = {}
    for key, last in states[-1].items():
        if torch.is_floating_point(last):
            averaged[key] = sum(s[key].double() for s in states).div(len(states)).to(last.dtype)
        else:
            averaged[key] = last.clone()
    return averaged


class RunExists(FileExistsError):
    """A model dir already holds checkpoints and the caller did not ask to resume."""


def training_needed(run_dir: str | Path, resume: bool) -> bool:
    """False when ``run_dir/final.pt`` exists (the stage is done); raises RunExists when checkpoints
    exist without ``resume``, so an earlier run is never overwritten by accident."""
    run_dir = Path(run_dir)
    if (run_dir / "final.pt").exists():
        log.info("train: %s exists, skipping", run_dir / "final.pt")
        return False
    if list_checkpoints(run_dir / "checkpoints") and not resume:
        raise RunExists(f"{run_dir} already has checkpoints: pass --resume to continue, or remove it")
    return True
