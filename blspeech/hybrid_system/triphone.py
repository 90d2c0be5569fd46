"""Triphone GMM-HMM training on a monophone system's alignments (``steps/train_deltas.sh``).

The tree is grown from the monophone alignments (:mod:`.tree`) and written as a Kaldi
``tree`` file, which kaldi-hmm-gmm loads to build the new transition model. The monophone
alignments are mapped onto it (``convert-ali``: same HMM states and transitions, new pdfs
chosen by each phone's context), each pdf starts as one Gaussian fitted to the data of its
leaf (``gmm-init-model``), and EM proceeds as for the monophones, with mixing up and
realignment over the triphone training graphs.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import kaldi_hmm_gmm as khg  # must precede kaldifst (see blspeech.hybrid)
import kaldifst
import numpy as np

from blspeech.hybrid.transition_model import read_context_dependency
from blspeech.hybrid.words import TransitionTables
from blspeech.hybrid_system.event_map import tree_bytes
from blspeech.hybrid_system.gmm import EmConfig, GmmSystem, run_em
from blspeech.hybrid_system.hmm_fst import TransitionStates
from blspeech.hybrid_system.tree import GrownTree, accumulate_tree_stats, build_tree, phone_questions
from blspeech.skips import SkipLog

TRIPHONE_WIDTH, TRIPHONE_CENTRAL = 3, 1


@dataclass(frozen=True)
class TriphoneConfig(EmConfig):
    """``steps/train_deltas.sh``: EM schedule (realign on 10, 20, 30) plus the tree's size.

    ``num_leaves`` / ``total_gaussians`` left as None are sized to the data by :meth:`sized_for`:
    one pdf per 400 frames (at most 500) and one Gaussian per 100 frames (at most 5000). Kaldi's
    recipes give each Gaussian far more data; on the small embedded corpora a full-size tree
    overfits (measured on 0.23 h: 500 pdfs decoded worse than the monophones, 200 better).
    """

    num_iters: int = 35
    max_iter_inc: int = 25
    total_gaussians: int | None = None  # type: ignore[assignment]
    realign_iters: tuple[int, ...] = (10, 20, 30)
    first_min_gaussian_occupancy: float = 10.0
    num_leaves: int | None = None
    min_gain: float = 100.0
    min_leaf_count: float = 20.0

    def __post_init__(self) -> None:
        if self.num_iters < 1 or any(v is not None and v < 1 for v in (self.num_leaves, self.total_gaussians)):
            raise ValueError(f"num_iters, num_leaves and total_gaussians must be positive: {self}")

    def sized_for(self, num_frames: int) -> "TriphoneConfig":
        """This config with the sizes left open filled in for ``num_frames`` frames of training data."""
        leaves = self.num_leaves or int(min(max(num_frames // 400, 50), 500))
        gaussians = self.total_gaussians or int(min(max(num_frames // 100, 2 * leaves), 5000))
        return dataclasses.replace(self, num_leaves=leaves, total_gaussians=gaussians)


@dataclass(frozen=True)
class LangPhones:
    """What the tree needs from a lang dir's ``phones/``: sets, roots, silence and position sets (ids)."""

    sets: list[list[int]]
    roots: list[list[int]]
    silence: set[int]
    position_sets: list[list[int]]

    @classmethod
    def read(cls, lang_dir: str | os.PathLike, phones: Mapping[str, int]) -> "LangPhones":
        directory = Path(lang_dir) / "phones"

        def rows(name: str, skip: int = 0) -> list[list[int]]:
            return [[int(x) for x in line.split()[skip:]] for line in (directory / name).read_text().splitlines() if line.strip()]

        silence = {int(x) for x in (directory / "silence.int").read_text().split()}
        positions = [
            [i for name, i in phones.items() if name.endswith(suffix) and i not in silence] for suffix in ("_B", "_E", "_I", "_S")
        ]
        return cls(sets=rows("sets.int"), roots=rows("roots.int", skip=2), silence=silence, position_sets=positions)


def grow_tree(
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    monophones: GmmSystem,
    phones: LangPhones,
    config: TriphoneConfig,
) -> GrownTree:
    """Tree statistics from the monophone alignments, questions, and the grown tree."""
    stats = accumulate_tree_stats(alignments, features, monophones.transition_model, phones.silence)
    questions = phone_questions(stats, phones.sets, phones.silence, phones.position_sets)
    max_classes = max(monophones.transition_model.topo.get_phone_to_num_pdf_classes()[1:])
    return build_tree(
        stats, phones.roots, questions, max_classes,
        max_leaves=config.num_leaves, min_gain=config.min_gain, min_leaf_count=config.min_leaf_count,
    )


def context_dependency(grown: GrownTree) -> khg.ContextDependency:
    """The grown tree as kaldi-hmm-gmm's ContextDependency (which loads only from a ``tree`` file)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tree"
        path.write_bytes(tree_bytes(TRIPHONE_WIDTH, TRIPHONE_CENTRAL, grown.root))
        return read_context_dependency(path)


def convert_alignments(
    alignments: Mapping[str, np.ndarray], old_model: khg.TransitionModel, tree: khg.ContextDependency, new_model: khg.TransitionModel
) -> dict[str, np.ndarray]:
    """``convert-ali``: each frame keeps its phone, HMM state and transition; the pdfs (and so
    the transition-id) come from the new tree for the phone's context (phone 0 at the edges)."""
    old, new = TransitionStates(old_model), TransitionStates(new_model)
    tables = TransitionTables(old_model)
    topology = old_model.topo
    converted = {}
    for utt, alignment in alignments.items():
        spans = tables.split_into_phones(alignment)
        phones = [0] + [span.phone for span in spans] + [0]
        out = np.empty_like(alignment)
        for index, span in enumerate(spans):
            window = phones[index : index + 3]
            for frame in range(span.start_frame, span.end_frame):
                tstate = old.state_of_id[alignment[frame]]
                phone, hmm_state, _, _ = old.tuple_of_state[tstate]
                state = topology.topology_for_phone(phone)[hmm_state]
                pdfs = (tree.compute(window, state.forward_pdf_class)[1], tree.compute(window, state.self_loop_pdf_class)[1])
                new_state = new.state_of_tuple[(phone, hmm_state, *pdfs)]
                out[frame] = new.first_id[new_state] + (alignment[frame] - old.first_id[tstate])
        converted[utt] = out
    return converted


def initial_model(grown: GrownTree, features: Mapping[str, np.ndarray]) -> khg.AmDiagGmm:
    """``gmm-init-model``: one Gaussian per pdf from its leaf's statistics (the global ones for a
    leaf without data)."""
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in features.values()])
    fallback = (float(len(frames)), frames.sum(axis=0), np.square(frames).sum(axis=0))
    model = khg.AmDiagGmm()
    for count, sums, squares in grown.pdf_stats:
        if count <= 0:
            count, sums, squares = fallback
        mean = sums / count
        variance = np.maximum(squares / count - np.square(mean), 1e-3)
        gmm = khg.DiagGmm(1, len(mean))
        gmm.set_weights(np.ones(1, dtype=np.float32))
        gmm.set_invvars_and_means((1.0 / variance)[None].astype(np.float32), mean[None].astype(np.float32))
        gmm.compute_gconsts()
        model.add_pdf(gmm)
    return model


def train_triphone(
    monophones: GmmSystem,
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    phones: LangPhones,
    topology: khg.HmmTopology,
    compile_graphs: Callable[[khg.ContextDependency, khg.TransitionModel], Mapping[str, kaldifst.StdFst]],
    config: TriphoneConfig = TriphoneConfig(),
) -> tuple[GmmSystem, dict[str, np.ndarray]]:
    """The triphone system and its final training alignments.

    ``compile_graphs(tree, transition_model)`` returns the training graphs (utterance -> FST)
    for the new tree.
    """
    config = config.sized_for(sum(len(f) for f in features.values()))
    grown = grow_tree(alignments, features, monophones, phones, config)
    tree = context_dependency(grown)
    transition_model = khg.TransitionModel(tree, topology)
    system = GmmSystem(tree, transition_model, initial_model(grown, features))
    system.history.append(f"triphone tree: {grown.num_pdfs} pdfs, log-likelihood gain {grown.log_likelihood_gain:.1f}")
    converted = convert_alignments(alignments, monophones.transition_model, tree, transition_model)
    graphs = compile_graphs(tree, transition_model)
    usable = {utt: ali for utt, ali in converted.items() if utt in graphs}
    skips = SkipLog("triphone start")
    skips.ok(len(usable))
    for utt in converted.keys() - usable.keys():
        skips.skip(utt, "no training graph")
    skips.summary()
    return system, run_em(system, graphs, features, usable, config, "triphone")

