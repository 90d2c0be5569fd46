"""Hybrid (DNN-HMM) acoustic models and Kaldi interoperability.

A Kaldi user brings alignments, ``final.mdl`` (or ``tree`` + ``lang/topo``) and
``graph/HCLG.fst``; this package turns the alignments into pdf-id targets and priors, writes
the network's log-likelihoods as a Kaldi ark for ``latgen-faster-mapped``, and decodes them
in-package with kaldi-decoder, down to word times for a ctm.

Import order matters with the k2-fsa wheels: ``kaldi_hmm_gmm`` must be loaded before
``kaldifst``, ``kaldi_decoder`` or ``kaldilm`` (the other order hangs the interpreter inside
the import); the top-level ``blspeech`` package takes care of it.
"""

from blspeech.hybrid.alignments import (
    AlignmentError,
    check_num_outputs,
    check_pdf_ids,
    pdf_alignments,
    read_int32_vectors,
    read_pdf_alignments,
    write_int32_vectors,
)
from blspeech.hybrid.graph_decode import DecodedUtterance, HybridGraphDecoder, decode_loglikes
from blspeech.hybrid.loglikes import (
    latgen_command,
    loglikes_from_log_posteriors,
    write_loglikes,
)
from blspeech.hybrid.priors import count_pdfs, log_priors, read_counts, write_counts
from blspeech.hybrid.transition_model import (
    load_transition_model,
    num_pdfs,
    read_context_dependency,
    read_topology,
    read_transition_model,
    transition_model_from_tree,
)
from blspeech.hybrid.words import TimedWord, WordAlignmentError, align_words, read_word_boundary

__all__ = [
    "AlignmentError",
    "DecodedUtterance",
    "HybridGraphDecoder",
    "TimedWord",
    "WordAlignmentError",
    "align_words",
    "check_num_outputs",
    "check_pdf_ids",
    "count_pdfs",
    "decode_loglikes",
    "latgen_command",
    "load_transition_model",
    "log_priors",
    "loglikes_from_log_posteriors",
    "num_pdfs",
    "pdf_alignments",
    "read_context_dependency",
    "read_counts",
    "read_int32_vectors",
    "read_pdf_alignments",
    "read_topology",
    "read_transition_model",
    "read_word_boundary",
    "transition_model_from_tree",
    "write_counts",
    "write_int32_vectors",
    "write_loglikes",
]
