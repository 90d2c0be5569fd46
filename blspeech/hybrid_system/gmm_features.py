"""GMM features from a data dir's log-mel features: MFCC + deltas + delta-deltas, with speaker CMN.

Diagonal-covariance GMMs want decorrelated features, which log-mel filterbanks are not; Kaldi's
GMM recipes use 13 MFCCs with mean normalization and ``add-deltas``. An MFCC is the DCT of the
log-mel energies, so the 13 cepstra are computed here from the data dir's own ``feats.scp``
(the log-mel features every other stage uses) rather than from the audio again. That keeps the
GMM alignments frame-for-frame in step with the hybrid network's input (same framing, same
frame count), reads no audio and needs no second feature set on disk.

Differences from Kaldi's ``compute-mfcc-feats`` defaults, neither of which matters to a GMM
aligner: c0 is the DCT's first coefficient, not the frame log-energy, and there is no cepstral
liftering (a per-dimension scale, which maximum-likelihood GMM estimation absorbs). CMN uses
the data dir's per-speaker ``cmvn.scp`` stats (of the log-mels; the DCT is linear, so
subtracting the log-mel mean before the DCT is subtracting the cepstral mean after it), means
only, as ``steps/train_mono.sh`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch
import torchaudio

from blspeech.data.kaldi_dir import DataDir, DataDirError
from blspeech.features.ark import read_utterance_matrix
from blspeech.features.cmvn import apply_cmvn, read_cmvn_stats
from blspeech.features.deltas import add_deltas

NUM_CEPSTRA = 13


@lru_cache(maxsize=4)
def _dct(num_mel_bins: int, num_cepstra: int) -> torch.Tensor:
    return torchaudio.functional.create_dct(num_cepstra, num_mel_bins, norm="ortho").to(torch.float64)


def mfcc_with_deltas(log_mel: np.ndarray, cmvn_stats: np.ndarray | None, num_cepstra: int = NUM_CEPSTRA) -> np.ndarray:
    """``(T, F)`` log-mel features and their speaker's ``(2, F + 1)`` stats -> ``(T, 3 * num_cepstra)`` float32."""
    feats = torch.from_numpy(np.array(log_mel, dtype=np.float64))
    if feats.ndim != 2 or feats.shape[1] < num_cepstra:
        raise ValueError(f"need (T, F) log-mel features with F >= {num_cepstra}, got shape {tuple(feats.shape)}")
    if cmvn_stats is not None:
        feats = apply_cmvn(feats, cmvn_stats, norm_vars=False)
    cepstra = feats @ _dct(feats.shape[1], num_cepstra)  # (T, num_cepstra)
    stacked = add_deltas(cepstra)  # (3, num_cepstra, T)
    return stacked.permute(2, 0, 1).reshape(feats.shape[0], -1).to(torch.float32).numpy()


class GmmFeatures:
    """The GMM features of one data dir, utterance by utterance (read on demand, nothing cached)."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data = DataDir.read(data_dir)
        self.where = data_dir
        if not self.data.feats_scp:
            raise DataDirError(f"{data_dir}: no feats.scp (run python -m blspeech.features.compute first)")
        if not self.data.cmvn_scp:  # without it, models and alignments would mix normalized and raw features
            raise DataDirError(f"{data_dir}: no cmvn.scp for the GMM features' mean normalization "
                               "(python -m blspeech.features.compute writes it)")
        self.cmvn = read_cmvn_stats(self.data.cmvn_scp, f"{data_dir}/cmvn.scp")

    @property
    def utterances(self) -> list[str]:
        """Utterances that have features, in data dir order."""
        return [utt for utt in self.data.utterances if utt in self.data.feats_scp]

    def __getitem__(self, utt: str) -> np.ndarray:
        if utt not in self.data.feats_scp:
            raise DataDirError(f"{self.where}/feats.scp: no features for utterance {utt}")
        log_mel = read_utterance_matrix(f"{self.where}/feats.scp", utt, self.data.feats_scp[utt])
        speaker = self.data.utt2spk.get(utt)
        stats = self.cmvn.get(speaker)
        if stats is None:
            raise DataDirError(f"{self.where}/cmvn.scp: no stats for speaker {speaker} of utterance {utt}")
        return mfcc_with_deltas(log_mel, stats)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for utt in self.utterances:
            yield utt, self[utt]
