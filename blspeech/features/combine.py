"""Copy and combine whole Kaldi data dirs (Kaldi's ``utils/combine_data.sh``), atomically.

:class:`DataDirTables` is a :class:`DataDir` plus the optional per-key tables that augmentation
must carry along (``utt2uniq``, ``utt2dur``, ...). Transformations are pure functions on it;
:func:`write_data_dir` writes a result into a temporary directory and renames it into place,
so an existing destination directory is always complete.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from blspeech.data.kaldi_dir import DataDir, DataDirError, read_table, write_table

logger = logging.getLogger("blspeech")

# Optional tables carried through copies, by what their keys are.
EXTRA_TABLES = {"utt2uniq": "utt", "utt2dur": "utt", "utt2num_frames": "utt", "reco2dur": "reco", "spk2gender": "spk"}


@dataclass
class DataDirTables:
    """A data dir's standard tables (``data``) and the :data:`EXTRA_TABLES` it has (``extra``)."""

    data: DataDir
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str | os.PathLike) -> "DataDirTables":
        root = Path(directory)
        extra = {name: read_table(root / name) for name in EXTRA_TABLES if (root / name).is_file()}
        return cls(DataDir.read(root), extra)


def write_data_dir(tables: DataDirTables, destination: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Write ``tables`` as a new directory ``destination`` (built beside it, then renamed).

    An existing destination is an error unless ``overwrite``, which replaces it.
    """
    target = Path(destination)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*"):  # of writers killed midway
        if leftover.is_dir() and leftover.suffix in (".tmp", ".old"):
            shutil.rmtree(leftover)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tables.data.write(staging)
        for name, table in tables.extra.items():
            write_table(staging / name, table)
        # The old directory is renamed aside before the new one takes its name and only then
        # deleted: a process killed at any point leaves the old or the new one complete (between
        # the two renames, the old one under its hidden name beside it), never a half-deleted one.
        retired = staging.with_suffix(".old") if target.exists() else None
        if retired is not None:
            os.replace(target, retired)
        try:
            os.replace(staging, target)
        except BaseException:
            if retired is not None:  # put the old one back under its name
                os.replace(retired, target)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if retired is not None:
        shutil.rmtree(retired)


def _merge(name: str, parts: Sequence[tuple[str, dict]]) -> dict:
    """Union of one table over several dirs; a key with two different values is an error."""
    merged: dict = {}
    origin: dict[str, str] = {}
    for source, table in parts:
        for key, value in table.items():
            if key in merged and merged[key] != value:
                raise DataDirError(f"{name}: key {key!r} differs between {origin[key]} ({merged[key]!r}) and {source} ({value!r})")
            merged[key] = value
            origin[key] = source
    return merged


def combined(sources: Sequence[tuple[str, DataDirTables]]) -> DataDirTables:
    """Combine named data dirs into one (pure). Utterance ids must be distinct across them.

    A table present in only some sources is dropped (logged), as Kaldi's ``combine_data.sh``
    does, except ``utt2uniq``, which sources without it get as the identity, and ``segments``,
    which must be in all or none.
    """
    if not sources:
        raise ValueError("combined() needs at least one data dir")
    seen: dict[str, str] = {}
    for name, tables in sources:
        for utt in tables.data.utt2spk:
            if utt in seen:
                raise DataDirError(f"utterance {utt} is in both {seen[utt]} and {name}")
            seen[utt] = name
    with_segments = [name for name, tables in sources if tables.data.segments]
    if with_segments and len(with_segments) != len(sources):
        raise DataDirError(f"cannot combine data dirs with segments ({', '.join(with_segments)}) and without")

    merged_fields = {}
    for table_field in fields(DataDir):
        parts = [(name, getattr(tables.data, table_field.name)) for name, tables in sources]
        present = [part for part in parts if part[1]]
        if present and len(present) != len(parts):
            logger.warning("combine: dropping %s, present in only %d of %d data dirs", table_field.name, len(present), len(parts))
            present = []
        merged_fields[table_field.name] = _merge(table_field.name, present)

    extra: dict[str, dict[str, str]] = {}
    for table_name in EXTRA_TABLES:
        parts = [(name, tables.extra.get(table_name)) for name, tables in sources]
        if table_name == "utt2uniq" and any(table is not None for _, table in parts):
            identity = {name: {utt: utt for utt in tables.data.utt2spk} for name, tables in sources}
            parts = [(name, identity[name] if table is None else table) for name, table in parts]
        if all(table is not None for _, table in parts):
            extra[table_name] = _merge(table_name, parts)
        elif any(table is not None for _, table in parts):
            logger.warning("combine: dropping %s, not present in every data dir", table_name)
    result = DataDirTables(DataDir(**merged_fields), extra)
    result.data.validate("combined data dir")
    return result


def combine_data_dirs(sources: Sequence[str | os.PathLike], destination: str | os.PathLike, *, overwrite: bool = False) -> DataDir:
    """Read ``sources``, combine them (see :func:`combined`), write ``destination``; return the result."""
    result = combined([(str(source), DataDirTables.read(source)) for source in sources])
    write_data_dir(result, destination, overwrite=overwrite)
    return result.data
