"""Decode hybrid log-likelihoods with an HCLG graph, in-package, with kaldi-decoder.

This is ``latgen-faster-mapped`` + ``lattice-1best`` + ``lattice-align-words`` without Kaldi
installed: kaldi-decoder's ``FasterDecoder`` (k2-fsa's port of Kaldi's decoder, same beam and
max-active pruning) finds the best path through HCLG, whose input labels are transition-ids.
Kaldi's mapped decodable scores transition-id ``t`` on frame ``f`` as
``acoustic_scale * loglikes[f, pdf(t)]``; we build exactly that matrix, (frames, transition-ids),
and hand it to kaldi-decoder's matrix decodable, a chunk of frames at a time so memory stays
bounded on large models (a Switchboard model has ~10^5 transition-ids).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import kaldi_hmm_gmm as khg  # must be imported before kaldifst / kaldi_decoder (see blspeech.hybrid)
import kaldi_decoder
import kaldifst
import numpy as np

from blspeech.hybrid.alignments import check_num_outputs
from blspeech.hybrid.words import TimedWord, TransitionTables, WordAlignmentError, align_words, read_word_boundary
from blspeech.skips import SkipLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedUtterance:
    """Best path of one utterance.

    ``timed_words`` are ctm rows relative to the utterance (segment) start; ``alignment`` is
    the best path's transition-id per frame, shape (T,); ``log_likelihood`` is minus the
    path's total cost (graph + scaled acoustic), the figure Kaldi's decoders log.
    """

    utt: str
    words: list[str]
    timed_words: list[TimedWord]
    alignment: np.ndarray
    log_likelihood: float
    reached_final: bool


class HybridGraphDecoder:
    """An HCLG graph, its transition model and symbols, ready to decode utterance after utterance.

    Defaults match Kaldi's Switchboard ``decode.sh`` for DNN models (acoustic scale 0.1,
    beam 13, max-active 7000) and ``latgen-faster-mapped``'s min-active (200).
    ``word_boundary`` defaults to ``phones/word_boundary.int`` beside the graph, where
    ``utils/mkgraph.sh`` puts it (use ``lang/phones/word_boundary.int`` otherwise).
    """

    def __init__(
        self,
        hclg: str | os.PathLike,
        transition_model: khg.TransitionModel,
        words_txt: str | os.PathLike,
        *,
        word_boundary: str | os.PathLike | None = None,
        acoustic_scale: float = 0.1,
        beam: float = 13.0,
        max_active: int = 7000,
        min_active: int = 200,
        frame_shift: float = 0.01,
        allow_partial: bool = True,
        chunk_frames: int = 64,
    ) -> None:
        if acoustic_scale <= 0 or beam <= 0 or frame_shift <= 0:
            raise ValueError(f"acoustic_scale, beam, frame_shift must be positive: {acoustic_scale}, {beam}, {frame_shift}")
        if not 0 <= min_active < max_active:
            raise ValueError(f"need 0 <= min_active < max_active, got {min_active}, {max_active}")
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be positive, got {chunk_frames}")
        self.graph = kaldifst.StdFst.read(os.fspath(hclg))  # const or vector, as written
        self.transition_model = transition_model
        self.num_pdfs = int(transition_model.num_pdfs)
        self.words_txt = Path(words_txt)
        self.symbols = kaldifst.SymbolTable.read_text(os.fspath(words_txt))
        boundary_path = Path(word_boundary) if word_boundary is not None else Path(hclg).parent / "phones" / "word_boundary.int"
        if not boundary_path.is_file():
            raise ValueError(f"word boundary file {boundary_path} not found: give lang/phones/word_boundary.int "
                             "(decode --word-boundary, recipe hybrid.word_boundary)")
        self.word_boundary = read_word_boundary(boundary_path)
        self.tables = TransitionTables(transition_model)
        # Column j of the decodable matrix is transition-id j + 1 (kaldi-decoder's indices are 1-based).
        self.pdf_of_transition = np.asarray(transition_model.id2pdf_id, dtype=np.int64)[1:]
        self.acoustic_scale = acoustic_scale
        self.options = kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active, min_active=min_active)
        self.frame_shift = frame_shift
        self.allow_partial = allow_partial
        self.chunk_frames = chunk_frames

    def with_acoustic_scale(self, acoustic_scale: float) -> "HybridGraphDecoder":
        """The same decoder (graph and tables shared, not reread) scoring the acoustics with
        ``acoustic_scale``: what tuning the LM weight on a dev set decodes with."""
        if acoustic_scale <= 0:
            raise ValueError(f"acoustic_scale must be positive, got {acoustic_scale}")
        twin = copy.copy(self)
        twin.acoustic_scale = acoustic_scale
        return twin

    def _word(self, word_id: int) -> str:
        word = self.symbols.find(word_id)
        if not word:
            raise ValueError(f"word-id {word_id} of the graph is not in {self.words_txt}")
        return word

    def _search(self, loglikes: np.ndarray) -> kaldi_decoder.FasterDecoder:
        decoder = kaldi_decoder.FasterDecoder(self.graph, self.options)
        decoder.init_decoding()
        for start in range(0, len(loglikes), self.chunk_frames):
            block = loglikes[start : start + self.chunk_frames]
            scores = np.ascontiguousarray(self.acoustic_scale * block[:, self.pdf_of_transition], dtype=np.float32)
            decoder.advance_decoding(kaldi_decoder.DecodableCtc(scores, offset=start))
        return decoder

    def decode(self, utt: str, loglikes: np.ndarray) -> DecodedUtterance:
        """Decode one utterance's log-likelihoods (T, num_pdfs).

        Raises WordAlignmentError (a ValueError) when no usable best path exists: no final
        state reached with ``allow_partial=False``, or a path that cannot be cut into words;
        a plain ValueError for log-likelihoods it cannot use (wrong width, inf or nan).
        """
        matrix = np.asarray(loglikes, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise ValueError(f"utterance {utt}: log-likelihoods must be a non-empty (T, num_pdfs) matrix, got {matrix.shape}")
        check_num_outputs(num_pdfs=self.num_pdfs, num_outputs=matrix.shape[1])
        if not np.isfinite(matrix).all():  # the search would return a path, scored nan
            raise ValueError(f"utterance {utt}: log-likelihoods contain inf or nan")
        decoder = self._search(matrix)
        reached_final = decoder.reached_final()
        if not reached_final and not self.allow_partial:
            raise WordAlignmentError(f"utterance {utt}: no final state reached (allow_partial is off)")
        found, best_path = decoder.get_best_path()
        if not found:
            raise WordAlignmentError(f"utterance {utt}: the decoder found no path")
        _, transition_ids, word_ids, weight = kaldifst.get_linear_symbol_sequence(best_path)
        alignment = np.asarray(transition_ids, dtype=np.int32)
        try:
            aligned = align_words(word_ids, alignment, self.tables, self.word_boundary)
        except WordAlignmentError as err:
            raise WordAlignmentError(f"utterance {utt}: {err}") from None
        shift = self.frame_shift
        timed = [TimedWord(self._word(w), start * shift, frames * shift) for w, start, frames in aligned]
        return DecodedUtterance(
            utt=utt,
            words=[t.word for t in timed],
            timed_words=timed,
            alignment=alignment,
            log_likelihood=-(weight.value1 + weight.value2),
            reached_final=reached_final,
        )


def decode_loglikes(
    hclg: str | os.PathLike,
    transition_model: khg.TransitionModel,
    loglikes: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
    words_txt: str | os.PathLike,
    *,
    skip_log: SkipLog | None = None,
    **decoder_options,
) -> dict[str, DecodedUtterance]:
    """Decode every utterance of ``loglikes`` (utt -> (T, num_pdfs)); see HybridGraphDecoder for options.

    Utterances without a usable best path are skipped and counted in ``skip_log`` (a summary
    line is logged at the end); a matrix of the wrong width is an error, not a skip.
    """
    decoder = HybridGraphDecoder(hclg, transition_model, words_txt, **decoder_options)
    log = skip_log if skip_log is not None else SkipLog("decode_loglikes", logger)
    items = loglikes.items() if isinstance(loglikes, Mapping) else loglikes
    results: dict[str, DecodedUtterance] = {}
    for utt, matrix in items:
        try:
            results[utt] = decoder.decode(utt, matrix)
        except WordAlignmentError as err:
            log.skip(utt, str(err).removeprefix(f"utterance {utt}: "))
            continue
        log.ok()
    log.summary()
    return results
