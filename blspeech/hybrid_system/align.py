"""Forced alignment over training graphs: the equal alignment of a flat start, and Viterbi alignment.

``align-equal-compiled`` is kaldifst's ``equal_align`` (a random path through the graph with
exactly T emitting arcs, durations spread evenly). ``gmm-align-compiled`` is a Viterbi search
through the training graph with kaldi-decoder's FasterDecoder, the acoustic scores being the
per-pdf log-likelihoods (T, num_pdfs) mapped to transition-ids and scaled, as Kaldi's mapped
decodables do; a search that ends off the graph's final states is retried with a wider beam.

Training graphs are compiled without transition probabilities. Kaldi adds the current
model's to every arc before each pass (``AddTransitionProbs``); since each frame crosses
exactly one transition-id arc and the cost depends on the id alone, subtracting the cost from
that id's score on every frame gives every path the same total, without rewriting the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import kaldi_hmm_gmm as khg  # must precede kaldifst / kaldi_decoder (see blspeech.hybrid)
import kaldi_decoder
import kaldifst
import numpy as np

from blspeech.hybrid_system.hmm_fst import transition_costs

# steps/align_si.sh's scales
ACOUSTIC_SCALE = 0.1
TRANSITION_SCALE = 1.0
SELF_LOOP_SCALE = 0.1
BEAM = 10.0
RETRY_BEAM = 40.0


@dataclass(frozen=True)
class Alignment:
    """One utterance's best path: a transition-id per frame (T,) int32, and its score."""

    transition_ids: np.ndarray
    log_likelihood: float
    retried: bool


def equal_alignment(graph: kaldifst.StdFst, num_frames: int, seed: int) -> np.ndarray | None:
    """Transition-ids (T,) of an evenly spread path of ``num_frames`` frames, or None if the
    utterance is too short for its transcript."""
    found, path = kaldifst.equal_align(graph, num_frames, seed)
    if not found:
        return None
    _, transition_ids, _, _ = kaldifst.get_linear_symbol_sequence(path)
    return np.asarray(transition_ids, dtype=np.int32)


class ViterbiAligner:
    """Best paths through training graphs for per-pdf log-likelihoods of one transition model."""

    def __init__(
        self,
        transition_model: khg.TransitionModel,
        *,
        acoustic_scale: float = ACOUSTIC_SCALE,
        transition_scale: float = TRANSITION_SCALE,
        self_loop_scale: float = SELF_LOOP_SCALE,
        beam: float = BEAM,
        retry_beam: float = RETRY_BEAM,
    ) -> None:
        if acoustic_scale <= 0 or beam <= 0 or retry_beam < beam:
            raise ValueError(f"need acoustic_scale > 0 and 0 < beam <= retry_beam, got {acoustic_scale}, {beam}, {retry_beam}")
        # Column j of the decodable's matrix is transition-id j + 1.
        self.pdf_of_transition = np.asarray(transition_model.id2pdf_id, dtype=np.int64)[1:]
        self.costs = transition_costs(transition_model, transition_scale=transition_scale, self_loop_scale=self_loop_scale)[1:]
        self.num_pdfs = int(transition_model.num_pdfs)
        self.acoustic_scale = acoustic_scale
        self.beams = (beam, retry_beam)

    def align(self, graph: kaldifst.StdFst, loglikes: np.ndarray) -> Alignment | None:
        """Viterbi alignment of ``loglikes`` (T, num_pdfs) through ``graph`` (compiled without
        transition probabilities); None if even the retry beam fails."""
        if loglikes.ndim != 2 or loglikes.shape[1] != self.num_pdfs:
            raise ValueError(f"log-likelihoods must be (T, {self.num_pdfs}), got {loglikes.shape}")
        scores = np.ascontiguousarray(self.acoustic_scale * loglikes[:, self.pdf_of_transition] - self.costs, dtype=np.float32)
        for attempt, beam in enumerate(self.beams):
            decoder = kaldi_decoder.FasterDecoder(graph, kaldi_decoder.FasterDecoderOptions(beam=beam))
            decoder.decode(kaldi_decoder.DecodableCtc(scores))
            if decoder.reached_final():
                found, path = decoder.get_best_path()
                if found:
                    _, transition_ids, _, weight = kaldifst.get_linear_symbol_sequence(path)
                    return Alignment(
                        transition_ids=np.asarray(transition_ids, dtype=np.int32),
                        log_likelihood=-(weight.value1 + weight.value2) / self.acoustic_scale,
                        retried=attempt > 0,
                    )
        return None
