"""Pdf priors for hybrid decoding: counts from training alignments, Kaldi's counts file, log-priors.

A hybrid network estimates posteriors p(pdf | x); the HMM decoder wants likelihoods, which are
posteriors divided by priors p(pdf) up to a per-frame constant. The priors are the relative
frame frequencies of the pdfs in the training alignments, stored as Kaldi stores them: the
text vector ``analyze-counts --binary=false`` writes, `` [ c0 c1 ... ]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import kaldiio
import numpy as np

from blspeech.fileio import write_text_atomic
from blspeech.hybrid.alignments import check_pdf_ids

logger = logging.getLogger(__name__)

# A pdf whose relative frequency is below this never occurred in the training alignments
# (1e-10 of the frames is three years of audio). Its network output was never trained, so
# dividing by its tiny prior would turn an untrained posterior into a huge likelihood.
DEFAULT_PRIOR_FLOOR = 1.0e-10
# What such a pdf's log-prior is set to, as Kaldi nnet1's PdfPrior does with its prior cutoff:
# its log-likelihood becomes about -1e10, so no path through it survives the beam, yet it stays
# finite (the export refuses inf) and far from float32 overflow when decoders add it up.
UNSEEN_LOG_PRIOR = 1.0e10


def count_pdfs(pdf_alignments: Iterable[tuple[str, np.ndarray]], num_pdfs: int) -> np.ndarray:
    """Frames per pdf over all utterances, shape (num_pdfs,) int64 (``analyze-counts``)."""
    if num_pdfs < 1:
        raise ValueError(f"num_pdfs must be positive, got {num_pdfs}")
    counts = np.zeros(num_pdfs, dtype=np.int64)
    for utt, pdf_ids in pdf_alignments:
        check_pdf_ids(utt, pdf_ids, num_pdfs)
        counts += np.bincount(pdf_ids, minlength=num_pdfs)
    return counts


def _format_count(value: float) -> str:
    # Integral counts are written as integers, others in the shortest exact form, so a read
    # back is exact (Kaldi itself prints 6 significant digits: 1234567 -> 1.23457e+06).
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_counts(path: str | os.PathLike, counts: np.ndarray) -> None:
    """Write counts, shape (num_pdfs,), as Kaldi's text vector `` [ c0 c1 ... ]``, atomically."""
    values = np.asarray(counts)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise ValueError(f"counts must be finite and non-negative: {path}")
    write_text_atomic(path, " [ " + " ".join(_format_count(v) for v in values.tolist()) + " ]\n")


def read_counts(path: str | os.PathLike) -> np.ndarray:
    """Read a counts vector, shape (num_pdfs,) float64: Kaldi text `` [ ... ]`` or a binary Kaldi vector."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head == b"\0B":
        return _checked_counts(path, np.asarray(kaldiio.load_mat(os.fspath(path)), dtype=np.float64))
    words = Path(path).read_text(encoding="utf-8").split()
    if len(words) < 2 or words[0] != "[" or words[-1] != "]":
        raise ValueError(f"{path}: expected a Kaldi text vector '[ c0 c1 ... ]'")
    try:
        values = np.array([float(w) for w in words[1:-1]], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return _checked_counts(path, values)


def _checked_counts(path: str | os.PathLike, values: np.ndarray) -> np.ndarray:
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{path}: counts must be a non-empty vector of finite, non-negative numbers")
    return values


def log_priors(counts: np.ndarray, floor: float = DEFAULT_PRIOR_FLOOR) -> np.ndarray:
    """Log relative frequencies, shape (num_pdfs,) float32.

    A pdf whose prior is below ``floor`` (unseen in training) gets ``UNSEEN_LOG_PRIOR`` instead,
    which switches it off in decoding (Kaldi nnet1's rule). Flooring its prior instead would add
    -log(floor), 23 nats at 1e-10, to whatever its untrained output says, and let it outscore the
    trained pdfs. The number switched off is logged.
    """
    if not 0.0 < floor < 1.0:
        raise ValueError(f"prior floor must be in (0, 1), got {floor}")
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    if values.ndim != 1 or not np.isfinite(total) or total <= 0:
        raise ValueError(f"counts must be a 1-D vector with a positive sum, got shape {values.shape}, sum {total}")
    priors = values / total
    unseen = priors < floor
    if unseen.any():
        logger.warning("log_priors: %d of %d pdfs have priors below %g (unseen in training); they are switched off",
                       int(unseen.sum()), values.size, floor)
    # (np.maximum only keeps log(0) out of the values np.where discards.)
    return np.where(unseen, UNSEEN_LOG_PRIOR, np.log(np.maximum(priors, floor))).astype(np.float32)
