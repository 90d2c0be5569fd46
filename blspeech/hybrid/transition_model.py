"""Kaldi transition models: from ``final.mdl``, or built from ``tree`` + ``lang/topo``.

The transition model is what maps a transition-id (the unit of Kaldi alignments and of
HCLG input labels) to its pdf-id (the unit a hybrid network predicts) and to its phone. We
return kaldi-hmm-gmm's own ``TransitionModel`` objects, so the decoder and the word aligner
use the k2-fsa implementation of Kaldi's rules.

kaldi-hmm-gmm builds a model from a tree and a topology but exposes no reader for the model
stored in ``final.mdl``. ``read_transition_model`` therefore parses the file (binary or text)
and hands the parts to the binding's documented pickling state; the derived index tables
that Kaldi's ``TransitionModel::Read`` computes after reading are computed here the same way.
A test checks that both routes give identical models on real Kaldi files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import kaldi_hmm_gmm as khg
import numpy as np

# The tuple and HMM-state classes are not re-exported by kaldi_hmm_gmm/__init__; they live in
# its compiled core, which the same wheel installs as a top-level module.
from _kaldi_hmm_gmm import HmmState, TransitionModelTuple

from blspeech.hybrid.kaldi_serialization import BINARY_HEADER, KaldiFormatError, KaldiReader

KaldiSource = str | Path

# Kaldi's floor for 1 - P(self-loop) when deriving non-self-loop log-probs (ComputeDerivedOfProbs).
_MIN_NON_SELF_LOOP_PROB = 1.0e-10


def _from_pickle_state(cls: type, state: tuple):
    """Create a pybind11 object from its pickling state, as ``pickle`` itself would."""
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def read_context_dependency(path: KaldiSource) -> khg.ContextDependency:
    """Read a binary Kaldi ``tree`` file (what ``build-tree`` / ``gmm-init-mono`` write)."""
    data = Path(path).read_bytes()
    if not data.startswith(BINARY_HEADER):
        raise KaldiFormatError(
            f"{path}: not a binary Kaldi tree (text trees are not supported; convert with copy-tree --binary=true)"
        )
    # The binding's pickle state is the binary object without the file header, as signed bytes.
    body = np.frombuffer(data, dtype=np.int8, offset=len(BINARY_HEADER)).tolist()
    return _from_pickle_state(khg.ContextDependency, (body,))


def _read_topology_object(reader: KaldiReader) -> khg.HmmTopology:
    """Read an ``HmmTopology`` at the reader's position (binary or text)."""
    if not reader.binary:
        topology = khg.HmmTopology()
        topology.read(reader.text_span("<Topology>", "</Topology>"))
        return topology
    reader.expect_token("<Topology>")
    phones = reader.read_int32_vector()
    phone2idx = reader.read_int32_vector()
    num_entries = reader.read_int32()
    is_hmm = num_entries != -1  # -1 flags the extended format with separate self-loop pdf classes
    if not is_hmm:
        num_entries = reader.read_int32()
    entries = []
    for _ in range(num_entries):
        states = []
        for _ in range(reader.read_int32()):
            forward_pdf_class = reader.read_int32()
            self_loop_pdf_class = forward_pdf_class if is_hmm else reader.read_int32()
            transitions = [(reader.read_int32(), reader.read_float()) for _ in range(reader.read_int32())]
            states.append(_from_pickle_state(HmmState, (forward_pdf_class, self_loop_pdf_class, transitions)))
        entries.append(states)
    reader.expect_token("</Topology>")
    return _from_pickle_state(khg.HmmTopology, (phones, phone2idx, entries))


def read_topology(path: KaldiSource) -> khg.HmmTopology:
    """Read a topology file such as ``lang/topo`` (text, as ``prepare_lang.sh`` writes it, or binary)."""
    topology = _read_topology_object(KaldiReader.open(path))
    topology.check()
    return topology


def transition_model_from_tree(tree: KaldiSource, topo: KaldiSource) -> khg.TransitionModel:
    """The transition model ``gmm-init-model`` would create from ``tree`` and ``lang/topo``."""
    return khg.TransitionModel(read_context_dependency(tree), read_topology(topo))


def _transition_model_from_parts(
    tuples: list[tuple[int, int, int, int]], topology: khg.HmmTopology, log_probs: list[float]
) -> khg.TransitionModel:
    """Assemble a model from what ``final.mdl`` stores, deriving the index tables as Kaldi does.

    Transition-ids are numbered from 1, consecutively over transition states (one per tuple,
    in file order), one id per transition leaving that tuple's HMM state. A self-loop id
    takes the tuple's self-loop pdf, any other its forward pdf.
    """
    state2id = [0] * (len(tuples) + 2)
    id2state = [0]
    id2pdf_id = [0]
    non_self_loop_log_probs = [0.0] * (len(tuples) + 1)
    next_id = 1
    for tstate, (phone, hmm_state, forward_pdf, self_loop_pdf) in enumerate(tuples, start=1):
        state2id[tstate] = next_id
        for destination, _ in topology.topology_for_phone(phone)[hmm_state].transitions:
            is_self_loop = destination == hmm_state
            id2state.append(tstate)
            id2pdf_id.append(self_loop_pdf if is_self_loop else forward_pdf)
            if is_self_loop:
                stay = math.exp(log_probs[next_id])
                non_self_loop_log_probs[tstate] = math.log(max(1.0 - stay, _MIN_NON_SELF_LOOP_PROB))
            next_id += 1
    state2id[len(tuples) + 1] = next_id
    if len(log_probs) != next_id:
        raise KaldiFormatError(f"the model has {next_id - 1} transition-ids but {len(log_probs) - 1} log-probs")
    num_pdfs = 1 + max((max(t[2], t[3]) for t in tuples), default=-1)
    state = (
        [TransitionModelTuple(*t) for t in tuples],
        topology,
        state2id,
        id2state,
        id2pdf_id,
        num_pdfs,
        list(log_probs),
        non_self_loop_log_probs,
    )
    return _from_pickle_state(khg.TransitionModel, state)


def read_transition_model(path: KaldiSource) -> khg.TransitionModel:
    """Read the transition model at the start of a Kaldi model file (``final.mdl``, binary or text).

    Works for any model whose file begins with a TransitionModel (GMM ``final.mdl``, nnet2/3
    ``final.mdl``); the acoustic model after it is not read.
    """
    reader = KaldiReader.open(path)
    reader.expect_token("<TransitionModel>")
    topology = _read_topology_object(reader)
    kind = reader.read_token()
    if kind not in ("<Tuples>", "<Triples>"):
        raise reader.error(f"expected <Tuples> or <Triples>, found {kind!r}")
    tuples = []
    for _ in range(reader.read_int32()):
        phone, hmm_state, forward_pdf = reader.read_int32(), reader.read_int32(), reader.read_int32()
        self_loop_pdf = reader.read_int32() if kind == "<Tuples>" else forward_pdf
        tuples.append((phone, hmm_state, forward_pdf, self_loop_pdf))
    reader.expect_token(kind.replace("<", "</"))
    reader.expect_token("<LogProbs>")
    log_probs = reader.read_float_vector().tolist()
    reader.expect_token("</LogProbs>")
    reader.expect_token("</TransitionModel>")
    try:
        return _transition_model_from_parts(tuples, topology, log_probs)
    except (IndexError, KaldiFormatError) as err:
        raise KaldiFormatError(f"{path}: inconsistent transition model: {err}") from None


def load_transition_model(
    model: KaldiSource | None = None, *, tree: KaldiSource | None = None, topo: KaldiSource | None = None
) -> khg.TransitionModel:
    """``final.mdl`` or ``tree`` + ``topo`` (exactly one of the two) -> TransitionModel."""
    if model is not None and (tree is not None or topo is not None):
        raise ValueError(f"give either a final.mdl ({model}) or a tree and a topo file, not both")
    if model is not None:
        return read_transition_model(model)
    if tree is None or topo is None:
        raise ValueError(f"need a Kaldi final.mdl, or both a tree and a topo file (got tree {tree or 'none'}, "
                         f"topo {topo or 'none'})")
    return transition_model_from_tree(tree, topo)


def num_pdfs(model_or_tree: KaldiSource | khg.TransitionModel | khg.ContextDependency) -> int:
    """Number of pdfs (= hybrid network outputs) of a model/tree object or of a ``final.mdl``/``tree`` file."""
    if isinstance(model_or_tree, (khg.TransitionModel, khg.ContextDependency)):
        return int(model_or_tree.num_pdfs)
    if not isinstance(model_or_tree, (str, Path)):
        raise ValueError(f"num_pdfs expects a path, TransitionModel or ContextDependency, got {model_or_tree!r}")
    if is_tree_file(model_or_tree):
        return int(read_context_dependency(model_or_tree).num_pdfs)
    return int(read_transition_model(model_or_tree).num_pdfs)


def is_tree_file(path: str | os.PathLike) -> bool:
    """True for a Kaldi ``tree`` file (a binary ContextDependency), as opposed to a ``final.mdl``."""
    with open(path, "rb") as handle:
        return handle.read(64).startswith(BINARY_HEADER + b"ContextDependency")
