"""Decode with the GMM-HMM system itself: the reference row Kaldi recipes report beside their networks.

A hybrid recipe that builds its own system (``hybrid.build_system``) trains its networks on that
triphone system's alignments, so the system's own WER says how good those frame targets are. It
is decoded through the same HCLG as the networks: per-pdf log-likelihoods of its GMMs
(:class:`GmmScorer`) on the GMM features it was trained on (MFCC + deltas from the data dir's
log-mels, speaker mean normalization), at the LM weight tuned on dev as for the networks
(``hybrid.lm_weights``), else at Kaldi's acoustic scale for GMMs (``steps/decode.sh``: 0.083333;
GMM likelihoods are sharper than a network's scaled posteriors), with the recipe's beam and
max-active. The hypotheses go to ``<exp_dir>/gmm/decode_<set>/graph``, where the score stage
finds them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import kaldi_hmm_gmm as khg  # must precede kaldifst / kaldi_decoder (see blspeech.hybrid)
import numpy as np

from blspeech.experiment import Experiment
from blspeech.fileio import write_text_atomic
from blspeech.hybrid.transition_model import read_transition_model
from blspeech.hybrid_system.gmm import GmmScorer
from blspeech.hybrid_system.gmm_features import GmmFeatures
from blspeech.hybrid_system.model_io import read_acoustic_model
from blspeech.hybrid_system.system import HybridSystemPaths

log = logging.getLogger("blspeech")
GMM_ACOUSTIC_SCALE = 0.083333


def gmm_loglikes(scorer: GmmScorer, data_dir: Path) -> dict[str, np.ndarray]:
    """utt -> (T, num_pdfs) log-likelihoods of ``scorer``'s GMMs on the GMM features of ``data_dir``."""
    return {utt: scorer(features) for utt, features in GmmFeatures(data_dir)}


def decode_gmm_experiment(exp: Experiment) -> None:
    """Decode every evaluation set with the recipe's own GMM-HMM system (skipped once done)."""
    from blspeech.decode.recognize import decode_hybrid_sets, decoded_already, hybrid_graph_decoder

    system = exp.gmm_system_dir
    done = system / "decode.json"
    # Everything from the system dir itself (model, transition model, graph), whatever the recipe's
    # hybrid paths point at: the GMMs only make sense with their own transition model.
    paths = HybridSystemPaths.under(system, with_dev=False)
    if decoded_already(done, paths.transition_model):
        return
    scorer = GmmScorer(read_acoustic_model(paths.transition_model))  # once, for every set
    decoder = hybrid_graph_decoder(exp.recipe, graph=paths.graph, words=paths.words, word_boundary=paths.word_boundary,
                                   transition_model=read_transition_model(paths.transition_model),
                                   acoustic_scale=GMM_ACOUSTIC_SCALE)
    decoded = decode_hybrid_sets(exp, lambda name: gmm_loglikes(scorer, exp.data_dir(name)), decoder, system)
    log.info("decode: GMM-HMM system %s decoded %s", system, ", ".join(decoded["sets"]))
    write_text_atomic(done, json.dumps(decoded) + "\n")


def gmm_size(model: khg.AmDiagGmm, frames_per_second: float) -> tuple[int, float]:
    """(parameters, FLOPs per second of audio) of a diagonal GMM set: a mean and an inverse variance
    per dimension and a weight per Gaussian; scoring a frame costs ~4 FLOPs per dimension and
    Gaussian (``x . mean/var`` and ``x^2 . 1/2var``)."""
    gaussians, dim = model.num_gauss, model.dim
    return gaussians * (2 * dim + 1), 4.0 * gaussians * dim * frames_per_second
