"""GMM-HMM training by Viterbi EM; the monophone flat start, the way ``steps/train_mono.sh`` does it.

1. ``gmm-init-mono``: a monophone tree (the position-dependent variants of a phone share its
   pdfs, per ``phones/sets.int``), the transition model from the tree and the topology, and one
   Gaussian per pdf at the global mean and variance of the features.
2. ``align-equal-compiled``: every training utterance split evenly along its training graph.
3. Then ``num_iters`` rounds of EM on Viterbi alignments: accumulate Gaussian statistics along
   the alignment (``gmm-acc-stats-ali``), re-estimate the GMMs, the transition probabilities
   and split Gaussians towards a growing target count (``gmm-est --mix-up --power``); realign
   with the new model on the ``realign_iters`` rounds (``gmm-align-compiled``).

The EM loop (:func:`run_em`) serves the triphone system too (:mod:`.triphone`). The statistics
and updates are kaldi-hmm-gmm's (Kaldi's own code); this module only feeds it.
Utterances that cannot be aligned (too short for their transcript, or lost by the beam) are
counted skips of the pass, and sit out of that pass's statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import kaldi_hmm_gmm as khg  # must precede kaldifst (see blspeech.hybrid)
import kaldifst
import numpy as np
import torch

from blspeech.hybrid.alignments import check_alignment_frames
from blspeech.hybrid_system.align import ViterbiAligner, equal_alignment
from blspeech.skips import SkipLog

logger = logging.getLogger("blspeech")

GMM_FLAGS = int(khg.GmmUpdateFlags.kGmmMeans) | int(khg.GmmUpdateFlags.kGmmVariances) | int(khg.GmmUpdateFlags.kGmmWeights)


@dataclass(frozen=True)
class EmConfig:
    """An EM schedule; the defaults are ``steps/train_mono.sh``'s, except that every pass aligns
    with ``steps/align_si.sh``'s beams (train_mono.sh starts at 6/24)."""

    num_iters: int = 40
    max_iter_inc: int = 30
    total_gaussians: int = 1000
    realign_iters: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38)
    power: float = 0.25
    perturb_factor: float = 0.01
    min_split_count: float = 20.0
    first_min_gaussian_occupancy: float = 3.0
    beam: float = 10.0
    retry_beam: float = 40.0

    def __post_init__(self) -> None:
        if self.num_iters < 1 or self.total_gaussians < 1:
            raise ValueError(f"num_iters and total_gaussians must be positive: {self}")


@dataclass(frozen=True)
class MonophoneConfig(EmConfig):
    """``steps/train_mono.sh``: the EM schedule, plus how the flat start is seeded."""

    init_utterances: int = 10
    seed: int = 777

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_utterances < 1:
            raise ValueError(f"init_utterances must be positive, got {self.init_utterances}")


@dataclass
class GmmSystem:
    """A trained GMM-HMM: tree, transition model and acoustic model (all kaldi-hmm-gmm objects)."""

    tree: khg.ContextDependency
    transition_model: khg.TransitionModel
    acoustic_model: khg.AmDiagGmm
    history: list[str] = field(default_factory=list)


def monophone_tree(topology: khg.HmmTopology, phone_sets: Sequence[Sequence[int]]) -> khg.ContextDependency:
    """``gmm-init-mono --shared-phones=phones/sets.int``: one set of pdfs per row of ``phone_sets``."""
    covered = sorted(p for row in phone_sets for p in row)
    if covered != sorted(topology.phones):
        raise ValueError(f"phone sets cover phones {covered[:10]}..., the topology has {list(topology.phones)[:10]}...")
    return khg.monophone_context_dependency_shared([list(row) for row in phone_sets], topology.get_phone_to_num_pdf_classes())


def flat_start_model(features: Iterable[np.ndarray], num_pdfs: int) -> khg.AmDiagGmm:
    """Every pdf a single Gaussian with the global mean and variance of ``features`` ((T, D) each)."""
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in features])
    if len(frames) < 2:
        raise ValueError("need at least two frames to initialize the GMMs")
    variance = np.maximum(frames.var(axis=0), 1e-3)
    gmm = khg.DiagGmm(1, frames.shape[1])
    gmm.set_weights(np.ones(1, dtype=np.float32))
    gmm.set_invvars_and_means((1.0 / variance)[None].astype(np.float32), frames.mean(axis=0)[None].astype(np.float32))
    gmm.compute_gconsts()
    model = khg.AmDiagGmm()
    model.init(gmm, num_pdfs)
    return model


class GmmScorer:
    """Per-pdf log-likelihoods under one acoustic model (a snapshot of its parameters).

    All Gaussians are scored at once with the formula of Kaldi's ``DiagGmm::LogLikelihoods``
    (``gconst + x . mean/var - 0.5 x^2 . 1/var``, the mixture weight inside ``gconst``), then
    log-sum-exp'ed within each pdf. The work runs in torch, whose thread count the caller sets.
    """

    def __init__(self, model: khg.AmDiagGmm) -> None:
        gconsts, means_invvars, inv_vars, owners = [], [], [], []
        for pdf in range(model.num_pdfs):
            gmm = model.get_pdf(pdf)
            _, pdf_inv_vars, pdf_means_invvars = gmm.__getstate__()
            gconsts.append(np.asarray(gmm.gconsts, dtype=np.float64))
            means_invvars.append(pdf_means_invvars)
            inv_vars.append(pdf_inv_vars)
            owners.append(np.full(len(pdf_inv_vars), pdf))
        self.num_pdfs = model.num_pdfs
        self.gconsts = torch.from_numpy(np.concatenate(gconsts))  # (G,)
        self.means_invvars = torch.from_numpy(np.vstack(means_invvars).astype(np.float64).T.copy())  # (D, G)
        self.half_inv_vars = torch.from_numpy(0.5 * np.vstack(inv_vars).astype(np.float64).T)  # (D, G)
        self.pdf_of_gaussian = torch.from_numpy(np.concatenate(owners))  # (G,)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        """(T, D) features -> (T, num_pdfs) float32 log-likelihoods."""
        x = torch.from_numpy(np.asarray(feats, dtype=np.float64))
        components = self.gconsts + x @ self.means_invvars - x.square() @ self.half_inv_vars  # (T, G)
        owners = self.pdf_of_gaussian.expand(len(x), -1)
        empty = torch.zeros(len(x), self.num_pdfs, dtype=torch.float64)
        peak = empty.scatter_reduce(1, owners, components, "amax", include_self=False)  # (T, P)
        spread = empty.scatter_add(1, owners, (components - peak.gather(1, owners)).exp())
        return (peak + spread.log()).to(torch.float32).numpy()


def align_utterances(
    system: GmmSystem,
    graphs: Mapping[str, kaldifst.StdFst],
    features: Mapping[str, np.ndarray],
    *,
    beam: float,
    retry_beam: float,
    stage: str,
) -> dict[str, np.ndarray]:
    """Viterbi-align every utterance of ``graphs`` with the current model; failures are counted skips."""
    aligner = ViterbiAligner(system.transition_model, beam=beam, retry_beam=retry_beam)
    scorer = GmmScorer(system.acoustic_model)
    skips = SkipLog(stage)
    alignments: dict[str, np.ndarray] = {}
    retried, score = 0, 0.0
    for utt, graph in graphs.items():
        result = aligner.align(graph, scorer(features[utt]))
        if result is None:
            skips.skip(utt, f"no alignment within beam {retry_beam}")
            continue
        retried += result.retried
        score += result.log_likelihood
        alignments[utt] = result.transition_ids
        skips.ok()
    skips.summary()
    if not alignments:  # e.g. a model that diverged: nothing to go on from
        raise ValueError(f"{stage}: none of {len(graphs)} utterances aligned within retry beam {retry_beam}")
    frames = sum(len(a) for a in alignments.values())
    logger.info("%s: path score per frame %.3f; %d utterances needed the retry beam", stage, score / max(frames, 1), retried)
    return alignments


def equal_alignments(graphs: Mapping[str, kaldifst.StdFst], features: Mapping[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """``align-equal-compiled`` for every utterance; ones too short for their transcript are counted skips."""
    skips = SkipLog("equal alignment")
    alignments: dict[str, np.ndarray] = {}
    for utt, graph in graphs.items():
        ali = equal_alignment(graph, len(features[utt]), seed)
        if ali is None:
            skips.skip(utt, "too few frames for its transcript")
            continue
        alignments[utt] = ali
        skips.ok()
    skips.summary()
    if not alignments:
        raise ValueError("no utterance could be aligned equally: are the transcripts much longer than the audio?")
    return alignments


def reestimate(
    system: GmmSystem,
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    *,
    target_gaussians: int,
    min_gaussian_occupancy: float,
    config: EmConfig,
) -> float:
    """One EM update from Viterbi alignments (``gmm-acc-stats-ali`` + ``gmm-est --mix-up``); returns
    the average log-likelihood per frame of the alignments under the old model."""
    model, transitions = system.acoustic_model, system.transition_model
    pdf_of = np.asarray(transitions.id2pdf_id, dtype=np.int64)
    accumulator = khg.AccumAmDiagGmm()
    accumulator.init(model, GMM_FLAGS)
    transition_counts = np.zeros(transitions.num_transition_ids + 1, dtype=np.float64)
    log_like, frames = 0.0, 0
    for utt, transition_ids in alignments.items():
        feats = features[utt]
        check_alignment_frames(utt, transition_ids, len(feats))
        for frame, pdf in zip(feats, pdf_of[transition_ids]):
            log_like += accumulator.accumulate_for_gmm(model, frame, int(pdf), 1.0)
        transition_counts += np.bincount(transition_ids, minlength=len(transition_counts))
        frames += len(transition_ids)
    options = khg.MleDiagGmmOptions(min_gaussian_occupancy=min_gaussian_occupancy)
    khg.mle_am_diag_gmm_update(options, accumulator, GMM_FLAGS, model)
    transitions.mle_update(transition_counts, khg.MleTransitionUpdateConfig())
    occupancy = np.bincount(np.concatenate([pdf_of[a] for a in alignments.values()]), minlength=model.num_pdfs)
    model.split_by_count(occupancy.astype(np.float32), target_gaussians, config.perturb_factor, config.power, config.min_split_count)
    return log_like / max(frames, 1)


def run_em(
    system: GmmSystem,
    graphs: Mapping[str, kaldifst.StdFst],
    features: Mapping[str, np.ndarray],
    alignments: Mapping[str, np.ndarray],
    config: EmConfig,
    name: str,
) -> dict[str, np.ndarray]:
    """``config.num_iters`` EM updates of ``system`` starting from ``alignments``, realigning on
    ``config.realign_iters`` and mixing up from one Gaussian per pdf towards
    ``config.total_gaussians``; returns the final model's alignments."""
    num_gauss = system.acoustic_model.num_gauss
    increment = max((config.total_gaussians - num_gauss) // max(config.max_iter_inc, 1), 0)
    for iteration in range(config.num_iters):
        if iteration in config.realign_iters:
            alignments = align_utterances(
                system, graphs, features, beam=config.beam, retry_beam=config.retry_beam, stage=f"{name} align pass {iteration}"
            )
        occupancy_floor = config.first_min_gaussian_occupancy if iteration == 0 else khg.MleDiagGmmOptions().min_gaussian_occupancy
        log_like = reestimate(
            system, alignments, features, target_gaussians=num_gauss, min_gaussian_occupancy=occupancy_floor, config=config
        )
        line = (
            f"{name} iteration {iteration}: {len(alignments)} utterances, log-likelihood per frame {log_like:.3f}, "
            f"{system.acoustic_model.num_gauss} Gaussians"
        )
        logger.info(line)
        system.history.append(line)
        if iteration < config.max_iter_inc:
            num_gauss = min(num_gauss + increment, config.total_gaussians)
    return align_utterances(system, graphs, features, beam=config.beam, retry_beam=config.retry_beam, stage=f"{name} final alignment")


def train_monophone(
    tree: khg.ContextDependency,
    topology: khg.HmmTopology,
    graphs: Mapping[str, kaldifst.StdFst],
    features: Mapping[str, np.ndarray],
    config: MonophoneConfig = MonophoneConfig(),
) -> tuple[GmmSystem, dict[str, np.ndarray]]:
    """Train from a flat start on the utterances of ``graphs`` (training graphs compiled with
    ``tree``'s transition model, without transition probabilities); returns the system and
    the training alignments of the final model."""
    if not graphs:
        raise ValueError("no training graphs: nothing to train on")
    first = list(graphs)[: config.init_utterances]
    system = GmmSystem(tree, khg.TransitionModel(tree, topology), flat_start_model((features[u] for u in first), tree.num_pdfs))
    alignments = equal_alignments(graphs, features, config.seed)
    return system, run_em(system, graphs, features, alignments, config, "monophone")
