"""A GMM system as Kaldi files: ``final.mdl`` (transition model + AmDiagGmm) and ``tree``.

kaldi-hmm-gmm has no writer for models, so ``final.mdl`` is written here in Kaldi's text
format (what ``gmm-copy --binary=false`` prints); Kaldi's binaries read text and binary models
alike, and so does :func:`blspeech.hybrid.read_transition_model`. The topology is written as
the lang dir's ``topo`` text, which ``HmmTopology::Read`` accepts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import kaldi_hmm_gmm as khg
import numpy as np

from blspeech.fileio import atomic_write
from blspeech.hybrid.kaldi_serialization import KaldiFormatError, KaldiReader


def _vector(values: Iterable[float]) -> str:
    return " [ " + " ".join(f"{float(v):.9g}" for v in values) + " ]\n"


def _matrix(rows: np.ndarray) -> str:
    lines = "\n".join("  " + " ".join(f"{float(v):.9g}" for v in row) for row in rows)
    return f" [\n{lines} ]\n"


def transition_model_text(transition_model: khg.TransitionModel, topology_text: str) -> str:
    """``<TransitionModel> ... </TransitionModel>`` in Kaldi's text format."""
    tuples = [t.__getstate__() for t in transition_model.tuples]
    is_hmm = all(forward == self_loop for _, _, forward, self_loop in tuples)
    kind = "Triples" if is_hmm else "Tuples"
    rows = "".join(" ".join(map(str, t[:3] if is_hmm else t)) + "\n" for t in tuples)
    return (
        f"<TransitionModel>\n{topology_text.rstrip()}\n<{kind}> {len(tuples)}\n{rows}</{kind}>\n"
        f"<LogProbs>\n{_vector(transition_model.log_probs)}</LogProbs>\n</TransitionModel>\n"
    )


def am_diag_gmm_text(model: khg.AmDiagGmm) -> str:
    """``<DIMENSION> d <NUMPDFS> n`` followed by each pdf's ``<DiagGMM>``, in Kaldi's text format."""
    parts = [f"<DIMENSION> {model.dim} <NUMPDFS> {model.num_pdfs}\n"]
    for pdf in range(model.num_pdfs):
        gmm = model.get_pdf(pdf)
        weights, inv_vars, means_invvars = gmm.__getstate__()
        parts.append(
            "<DiagGMM>\n"
            f"<GCONSTS>{_vector(gmm.gconsts)}"
            f"<WEIGHTS>{_vector(weights)}"
            f"<MEANS_INVVARS>{_matrix(means_invvars)}"
            f"<INV_VARS>{_matrix(inv_vars)}"
            "</DiagGMM>\n"
        )
    return "".join(parts)


def write_model(
    path: str | os.PathLike,
    transition_model: khg.TransitionModel,
    acoustic_model: khg.AmDiagGmm,
    topology_text: str,
) -> None:
    """Write ``final.mdl`` (text) atomically."""
    with atomic_write(path) as handle:
        handle.write(transition_model_text(transition_model, topology_text))
        handle.write(am_diag_gmm_text(acoustic_model))


def write_tree(path: str | os.PathLike, tree: khg.ContextDependency) -> None:
    """Write a binary Kaldi ``tree`` (what ``gmm-init-mono`` / ``build-tree`` write), atomically."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tree.write(True, str(tmp))  # the binding writes by file name only
    os.replace(tmp, target)


def read_acoustic_model(path: str | os.PathLike) -> khg.AmDiagGmm:
    """The AmDiagGmm of a text ``final.mdl`` as :func:`write_model` writes it (after the transition model)."""
    reader = KaldiReader.open(path)
    if reader.binary:
        raise KaldiFormatError(f"{path}: binary models are not supported (convert with gmm-copy --binary=false)")
    reader.text_span("<TransitionModel>", "</TransitionModel>")
    reader.expect_token("<DIMENSION>")
    dim = reader.read_int32()
    reader.expect_token("<NUMPDFS>")
    model = khg.AmDiagGmm()
    for _ in range(reader.read_int32()):
        parts = {}
        reader.expect_token("<DiagGMM>")
        for token in ("<GCONSTS>", "<WEIGHTS>", "<MEANS_INVVARS>", "<INV_VARS>"):
            reader.expect_token(token)
            parts[token] = reader.read_float_vector()
        reader.expect_token("</DiagGMM>")
        inv_vars = parts["<INV_VARS>"].reshape(-1, dim)
        gmm = khg.DiagGmm(len(inv_vars), dim)
        gmm.set_weights(parts["<WEIGHTS>"].astype(np.float32))
        gmm.set_invvars_and_means(inv_vars.astype(np.float32), (parts["<MEANS_INVVARS>"].reshape(-1, dim) / inv_vars).astype(np.float32))
        gmm.compute_gconsts()
        model.add_pdf(gmm)
    return model
