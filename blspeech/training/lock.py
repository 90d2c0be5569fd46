"""One writer per experiment dir, and per shared corpus or data dir while a stage writes it: a
second run is refused instead of corrupting it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class ExperimentLocked(RuntimeError):
    """Another process holds the experiment dir."""


class ExperimentLock:
    """An advisory ``flock`` on ``<exp_dir>/.lock`` (or on ``lock_file``, for a directory that must
    hold nothing but its own contents); the kernel releases it when the holder dies, even by kill -9."""

    def __init__(self, exp_dir: str | Path, lock_file: str | Path | None = None) -> None:
        self.directory = Path(exp_dir)
        self.path = Path(lock_file) if lock_file is not None else self.directory / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> "ExperimentLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ExperimentLocked(f"{self.directory} is in use by pid {holder}; refusing to write to it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
