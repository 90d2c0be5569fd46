"""Copy an FST while rewriting its arcs: kaldifst exposes no mutable arc iterator, so relabelling
and reweighting (``fstrmsymbols``, ``AddTransitionProbs``, label encoding) build a new FST."""

from __future__ import annotations

from collections.abc import Callable

import kaldi_hmm_gmm  # noqa: F401  (must precede kaldifst, see blspeech.hybrid)
import kaldifst

ArcRewrite = Callable[[kaldifst.StdArc], tuple[int, int, float]]


def map_arcs(fst: kaldifst.StdFst, rewrite: ArcRewrite) -> kaldifst.StdVectorFst:
    """Same states, start and final weights; each arc's ``(ilabel, olabel, weight)`` from ``rewrite(arc)``."""
    out = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        out.add_state()
    if fst.num_states:
        out.start = fst.start
    for state in kaldifst.StateIterator(fst):
        out.set_final(state, fst.final(state))
        for arc in kaldifst.ArcIterator(fst, state):
            ilabel, olabel, weight = rewrite(arc)
            out.add_arc(state, kaldifst.StdArc(ilabel, olabel, weight, arc.nextstate))
    return out
