"""The lexicon transducer L (phones -> words) with optional silence between words.

Same topology and weights as Kaldi's ``utils/lang/make_lexicon_fst.py``: a start state that
goes, with probability ``1 - sil_prob`` / ``sil_prob``, to the loop state (where every word
starts and, without silence, ends) or to the silence state (whose only way out is the
optional-silence phone back to the loop state). The word label sits on a word's first arc;
each word's last phone leads either to the loop state or to the silence state. For
``L_disambig.fst`` the optional silence is followed by the last disambiguation symbol, as in
``prepare_lang.sh``, so that the silence path stays distinguishable after determinization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import kaldi_hmm_gmm  # noqa: F401  (must precede kaldifst, see blspeech.hybrid)
import kaldifst

EPSILON = 0
START_STATE, LOOP_STATE, SILENCE_STATE = 0, 1, 2


def lexicon_fst(
    pronunciations: Sequence[tuple[int, Sequence[int]]],
    *,
    sil_prob: float,
    sil_phone: int,
    sil_disambig: int | None = None,
) -> kaldifst.StdVectorFst:
    """Build L from ``(word_id, phone_ids)`` pairs (phone ids already position-dependent and,
    for L_disambig, ending in their disambiguation symbols). Not arc-sorted."""
    if not 0.0 < sil_prob < 1.0:
        raise ValueError(f"sil_prob must be in (0, 1), got {sil_prob}")
    sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
    fst = kaldifst.StdVectorFst()
    for _ in (START_STATE, LOOP_STATE, SILENCE_STATE):
        fst.add_state()
    fst.start = START_STATE
    fst.set_final(LOOP_STATE, 0.0)

    def arc(source: int, phone: int, word: int, cost: float, destination: int) -> None:
        fst.add_arc(source, kaldifst.StdArc(phone, word, cost, destination))

    arc(START_STATE, EPSILON, EPSILON, no_sil_cost, LOOP_STATE)
    arc(START_STATE, EPSILON, EPSILON, sil_cost, SILENCE_STATE)
    if sil_disambig is None:
        arc(SILENCE_STATE, sil_phone, EPSILON, 0.0, LOOP_STATE)
    else:
        after_silence = fst.add_state()
        arc(SILENCE_STATE, sil_phone, EPSILON, 0.0, after_silence)
        arc(after_silence, sil_disambig, EPSILON, 0.0, LOOP_STATE)

    for word, phones in pronunciations:
        if not phones:
            raise ValueError(f"word-id {word} has an empty pronunciation")
        state, label = LOOP_STATE, word
        for phone in phones[:-1]:
            following = fst.add_state()
            arc(state, phone, label, 0.0, following)
            state, label = following, EPSILON
        arc(state, phones[-1], label, no_sil_cost, LOOP_STATE)
        arc(state, phones[-1], label, sil_cost, SILENCE_STATE)
    return fst
