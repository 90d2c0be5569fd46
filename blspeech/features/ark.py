"""Write Kaldi binary archives whose scp entries point at the final file name.

kaldiio's ``save_ark`` derives scp entries from the name it writes to; stage outputs are written
under a temporary name and renamed (see :mod:`blspeech.fileio`), so the offsets are recorded
here against the final, absolute path (as Kaldi's ``make_fbank.sh`` writes them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import kaldiio
import numpy as np
from kaldiio.matio import write_array

from blspeech.data.kaldi_dir import DataDirError
from blspeech.fileio import atomic_write


def write_ark(path: str | os.PathLike, items: Iterable[tuple[str, np.ndarray]]) -> dict[str, str]:
    """Write ``(key, matrix)`` pairs to a binary ark atomically; return ``key -> "/abs/path.ark:offset"``.

    float32 matrices are stored as Kaldi ``FM``, float64 as ``DM``. Keys must be unique and
    free of whitespace (Kaldi table keys).
    """
    target = Path(path).resolve()
    entries: dict[str, str] = {}
    with atomic_write(target, "wb") as handle:
        for key, matrix in items:
            if not key or any(ch.isspace() for ch in key):
                raise ValueError(f"{target}: key {key!r} is empty or contains whitespace")
            if key in entries:
                raise ValueError(f"{target}: duplicate key {key!r}")
            handle.write(f"{key} ".encode("utf-8"))
            entries[key] = f"{target}:{handle.tell()}"
            write_array(handle, matrix)
    return entries


def read_utterance_matrix(feats_scp: str | os.PathLike, utt: str, rxspecifier: str) -> np.ndarray:
    """Utterance ``utt``'s matrix from its ``feats_scp`` entry ``rxspecifier``; any failure to read
    it (a missing or cut ark, a bad offset) is a DataDirError naming the scp, utterance and entry."""
    try:
        return kaldiio.load_mat(rxspecifier)
    except Exception as error:  # kaldiio raises assorted types for a missing/corrupt ark
        raise DataDirError(f"{feats_scp}: utterance {utt}: cannot read {rxspecifier}: {error}") from error
