"""Crash-safe file writing: every stage output is written to a temporary name, then renamed.

A reader therefore sees either the previous complete file or the new complete file, never a
half-written one, which is what makes every stage resumable after kill -9.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on clean exit fsync it, rename it over ``path`` and
    fsync the directory, so the new name survives a power loss too.

    On an exception (disk full, permission error, interruption) the temporary file is removed
    and any previous ``path`` is left untouched. A symlink is written through (its target is
    replaced), and a file that exists keeps its permissions.
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent)
    binary = "b" in mode
    try:
        permissions = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        permissions = 0o666 & ~umask  # mkstemp makes 0600; give a new file the mode open() would
    os.chmod(tmp_name, permissions)
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(text)


def _temporary_prefix(target: Path) -> str:
    """Temporaries of ``target`` are named this prefix + mkstemp's 8 random characters + ``.tmp``."""
    return f".{target.name}."


def remove_interrupted_writes(path: str | os.PathLike) -> int:
    """Delete the temporary files that :func:`atomic_write` calls on ``path`` killed by SIGKILL left behind.

    A killed process cannot clean up, and a stage's temporary can be as large as its output
    (a feature archive), so a stage that is the only writer of ``path`` calls this before
    rewriting it. Returns how many were removed.
    """
    target = Path(path).resolve()  # where atomic_write puts them, through a symlink too
    leftovers = list(target.parent.glob(glob.escape(_temporary_prefix(target)) + "?" * 8 + ".tmp"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return len(leftovers)
