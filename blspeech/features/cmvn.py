"""Cepstral mean and variance normalization with Kaldi's statistics format.

Stats of a speaker (or of all data, or of one utterance) are a ``(2, D + 1)`` float64 matrix,
exactly what ``compute-cmvn-stats`` writes: row 0 holds the per-dimension sums and, in the last
column, the frame count; row 1 holds the sums of squares and a 0. Keeping the format means a
Kaldi data dir's own ``cmvn.scp`` is used unchanged, and ours can be fed to ``apply-cmvn``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import kaldiio
import numpy as np
import torch

from blspeech.data.kaldi_dir import DataDir, DataDirError, write_table
from blspeech.features.ark import read_utterance_matrix, write_ark
from blspeech.skips import SkipLog

VARIANCE_FLOOR = 1.0e-20  # Kaldi's apply-cmvn floors the variance here rather than dividing by 0


def cmvn_stats(feats: np.ndarray) -> np.ndarray:
    """Stats of one utterance: ``(T, D)`` features -> ``(2, D + 1)`` float64."""
    if feats.ndim != 2:
        raise ValueError(f"expected features of shape (T, D), got {feats.shape}")
    values = feats.astype(np.float64, copy=False)
    stats = np.zeros((2, values.shape[1] + 1), dtype=np.float64)
    stats[0, :-1] = values.sum(axis=0)
    stats[1, :-1] = np.square(values).sum(axis=0)
    stats[0, -1] = values.shape[0]
    return stats


def sum_stats(stats: Iterable[np.ndarray]) -> np.ndarray:
    """Pool stats (e.g. every speaker's, for global CMVN); dimensions must agree."""
    total: np.ndarray | None = None
    for item in stats:
        if total is not None and item.shape != total.shape:
            raise ValueError(f"cannot add CMVN stats of shape {item.shape} to shape {total.shape}")
        total = item.astype(np.float64) if total is None else total + item
    if total is None:
        raise ValueError("no CMVN stats to sum")
    return total


class CmvnAccumulator:
    """Per-speaker stats accumulated utterance by utterance, so features never sit in memory."""

    def __init__(self) -> None:
        self.stats: dict[str, np.ndarray] = {}

    def add(self, speaker: str, feats: np.ndarray) -> None:
        utterance = cmvn_stats(feats)
        if speaker in self.stats:
            self.stats[speaker] = sum_stats([self.stats[speaker], utterance])
        else:
            self.stats[speaker] = utterance


def write_cmvn_stats(data_dir: str | os.PathLike, stats: dict[str, np.ndarray]) -> None:
    """Write ``cmvn.ark`` (double matrices) then ``cmvn.scp``, each atomically."""
    root = Path(data_dir)
    ordered = sorted(stats.items(), key=lambda item: item[0].encode("utf-8"))
    entries = write_ark(root / "cmvn.ark", ((spk, matrix.astype(np.float64)) for spk, matrix in ordered))
    write_table(root / "cmvn.scp", entries)


def read_cmvn_stats(cmvn_scp: dict[str, str], where: str | os.PathLike = "cmvn.scp") -> dict[str, np.ndarray]:
    """Load every entry of a cmvn.scp table; a matrix that is not ``(2, D + 1)`` is an error naming the key."""
    stats: dict[str, np.ndarray] = {}
    for key, rxspecifier in cmvn_scp.items():
        try:
            matrix = np.array(kaldiio.load_mat(rxspecifier), dtype=np.float64)
        except Exception as error:  # kaldiio raises assorted types for unreadable entries
            raise DataDirError(f"{where}: {key}: cannot read {rxspecifier}: {error}") from error
        if matrix.ndim != 2 or matrix.shape[0] != 2 or matrix.shape[1] < 2:
            raise DataDirError(f"{where}: {key}: CMVN stats must be a 2 x (D+1) matrix, got shape {matrix.shape}")
        stats[key] = matrix
    return stats


def compute_cmvn_stats(data_dir: str | os.PathLike) -> SkipLog:
    """Per-speaker stats from an existing feats.scp (e.g. Kaldi's, computed without CMVN stats).

    Utterances of utt2spk missing from feats.scp are counted skips.
    """
    root = Path(data_dir)
    data = DataDir.read(root)
    if not data.feats_scp:
        raise DataDirError(f"{root}: no feats.scp to compute CMVN stats from")
    log = SkipLog("compute_cmvn_stats")
    accumulator = CmvnAccumulator()
    for utt in data.utterances:
        rxspecifier = data.feats_scp.get(utt)
        if rxspecifier is None:
            log.skip(utt, "missing from feats.scp")
            continue
        feats = read_utterance_matrix(root / "feats.scp", utt, rxspecifier)
        try:
            accumulator.add(data.utt2spk[utt], feats)
        except ValueError as error:  # another feature dimension than the speaker's earlier utterances
            raise DataDirError(f"{root / 'feats.scp'}: utterance {utt} of speaker {data.utt2spk[utt]}: {error}") from None
        log.ok()
    if not accumulator.stats:
        raise DataDirError(f"{root}: no utterance of utt2spk has features")
    write_cmvn_stats(root, accumulator.stats)
    log.summary()
    return log


def apply_cmvn(feats: torch.Tensor, stats: np.ndarray | torch.Tensor, norm_vars: bool = False) -> torch.Tensor:
    """Normalize ``(T, D)`` features with ``(2, D + 1)`` stats, as Kaldi's ``apply-cmvn``.

    Mean and scale are computed in float64; a variance below 1e-20 (e.g. a constant dimension)
    is floored there, as Kaldi does, so the output stays finite. A count below one frame is an
    error, as in Kaldi.
    """
    stats = torch.as_tensor(stats, dtype=torch.float64)
    if feats.ndim != 2 or stats.shape != (2, feats.shape[1] + 1):
        raise ValueError(f"features {tuple(feats.shape)} need stats of shape (2, {feats.shape[-1] + 1}), got {tuple(stats.shape)}")
    count = stats[0, -1].item()
    if count < 1.0:
        raise ValueError(f"CMVN stats count {count} is below one frame")
    mean = stats[0, :-1] / count
    if not norm_vars:
        return feats - mean.to(feats.dtype)
    variance = (stats[1, :-1] / count - mean.square()).clamp_min(VARIANCE_FLOOR)
    scale = variance.rsqrt()
    return feats * scale.to(feats.dtype) - (mean * scale).to(feats.dtype)
