"""Hybrid network outputs -> Kaldi log-likelihood arks for ``latgen-faster-mapped``.

Kaldi's "mapped" decoders read one float matrix per utterance, shape (T, num_pdfs), whose
column j is the scaled log-likelihood of pdf-id j: log posterior - log prior.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np
import torch

from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.hybrid.alignments import check_num_outputs

LOGLIKES_ARK = "loglikes.ark"
LOGLIKES_SCP = "loglikes.scp"


def loglikes_from_log_posteriors(
    log_posteriors: torch.Tensor | np.ndarray, log_priors: torch.Tensor | np.ndarray
) -> torch.Tensor | np.ndarray:
    """Log posteriors (T, num_pdfs) minus log priors (num_pdfs,) -> log-likelihoods (T, num_pdfs).

    Returns the type it was given (a tensor stays on its device).
    """
    if log_posteriors.ndim != 2:
        raise ValueError(f"log posteriors must be (T, num_pdfs), got shape {tuple(log_posteriors.shape)}")
    check_num_outputs(num_pdfs=int(log_priors.shape[-1]), num_outputs=int(log_posteriors.shape[1]))
    if isinstance(log_posteriors, torch.Tensor):
        priors = torch.as_tensor(log_priors, dtype=log_posteriors.dtype, device=log_posteriors.device)
        return log_posteriors - priors
    return np.asarray(log_posteriors) - np.asarray(log_priors, dtype=np.asarray(log_posteriors).dtype)


@dataclass(frozen=True)
class LoglikeArk:
    """Paths of one export and the number of utterances in it."""

    ark: Path
    scp: Path
    num_utterances: int


def _checked_matrix(utt: str, matrix: np.ndarray, num_pdfs: int | None) -> np.ndarray:
    if not utt or any(c.isspace() for c in utt):
        raise ValueError(f"utterance id {utt!r} is empty or contains whitespace")
    values = np.asarray(matrix, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"utterance {utt}: log-likelihoods must be a non-empty (T, num_pdfs) matrix, got shape {values.shape}")
    if num_pdfs is not None:
        check_num_outputs(num_pdfs=num_pdfs, num_outputs=values.shape[1])
    if not np.isfinite(values).all():
        raise ValueError(f"utterance {utt}: log-likelihoods contain inf or nan")
    return values


def write_loglikes(
    out_dir: str | os.PathLike, items: Iterable[tuple[str, np.ndarray]], *, num_pdfs: int | None = None
) -> LoglikeArk:
    """Write ``out_dir/loglikes.ark`` (binary float32) and ``loglikes.scp``, each atomically.

    ``items`` yields ``(utt, matrix (T, num_pdfs))`` and is consumed once, so utterances can
    be streamed. With ``num_pdfs`` every matrix's width is checked against the model's pdf
    count. The scp (absolute ark path + byte offset) is written last: its presence marks a
    complete export. An earlier export's scp is removed once every matrix has passed its checks,
    just before the new ark replaces the old one: its offsets would point into the new ark if the
    process died between the two writes, and a refused export leaves the earlier one whole.
    """
    directory = Path(out_dir).resolve()
    ark, scp = directory / LOGLIKES_ARK, directory / LOGLIKES_SCP
    scp_lines, seen = [], set()
    with atomic_write(ark, "wb") as handle:
        for utt, matrix in items:
            values = _checked_matrix(utt, matrix, num_pdfs)
            if utt in seen:  # Kaldi would decode both and write two lattices under one key
                raise ValueError(f"utterance {utt} appears twice in the log-likelihoods to export")
            seen.add(utt)
            data_offset = handle.tell() + len(utt.encode("utf-8")) + 1  # after "utt "
            kaldiio.save_ark(handle, {utt: values})
            scp_lines.append(f"{utt} {ark}:{data_offset}\n")
        scp.unlink(missing_ok=True)
    write_text_atomic(scp, "".join(scp_lines))
    return LoglikeArk(ark=ark, scp=scp, num_utterances=len(scp_lines))


def latgen_command(
    loglikes_dir: str | os.PathLike,
    *,
    model: str | os.PathLike = "final.mdl",
    graph: str | os.PathLike = "HCLG.fst",
    lattice: str | os.PathLike | None = None,
    words: str | os.PathLike | None = None,
    acoustic_scale: float = 0.1,
    beam: float = 13.0,
    lattice_beam: float = 8.0,
    max_active: int = 7000,
) -> str:
    """The shell command that decodes an export with Kaldi's ``latgen-faster-mapped``.

    Lattices go to ``lattice`` (default ``loglikes_dir/lat.1.gz``), gzipped, as Kaldi's
    ``decode.sh`` scripts expect; ``words`` (graph/words.txt) makes Kaldi log the words.
    """
    directory = Path(loglikes_dir)
    lattice_path = Path(lattice) if lattice is not None else directory / "lat.1.gz"
    options = [
        f"--max-active={max_active}",
        f"--beam={beam}",
        f"--lattice-beam={lattice_beam}",
        f"--acoustic-scale={acoustic_scale}",
        "--allow-partial=true",
    ]
    if words is not None:
        options.append(f"--word-symbol-table={words}")
    arguments = [
        "latgen-faster-mapped",
        *options,
        os.fspath(model),
        os.fspath(graph),
        f"ark:{directory / LOGLIKES_ARK}",
        f"ark:|gzip -c > {lattice_path}",
    ]
    return shlex.join(arguments)
