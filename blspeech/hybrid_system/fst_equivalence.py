"""Are two weighted transducers equivalent? (OpenFst's ``fstequivalent``, which kaldifst lacks.)

Graphs built here are compared with Kaldi's own (L.fst, G.fst, HCLG.fst): the state numbering
and the placement of weights and output labels differ, the weighted relation must not. Each
transducer is encoded as an acceptor over (input, output) label pairs, epsilon-removed,
determinized and minimized (OpenFst's weighted minimization pushes weights first, which makes
the result canonical); the two results are then walked in lockstep.
"""

from __future__ import annotations

import math
from collections import deque

import kaldi_hmm_gmm  # noqa: F401  (must precede kaldifst, see blspeech.hybrid)
import kaldifst

from blspeech.hybrid_system.fst_map import map_arcs


def _encoded(fst: kaldifst.StdFst, pairs: dict[tuple[int, int], int]) -> kaldifst.StdVectorFst:
    """Acceptor whose label k stands for the pair ``pairs[k]``; (0, 0) stays epsilon."""

    def encode(arc: kaldifst.StdArc) -> tuple[int, int, float]:
        key = (arc.ilabel, arc.olabel)
        label = 0 if key == (0, 0) else pairs.setdefault(key, len(pairs) + 1)
        return label, label, arc.weight.value

    return map_arcs(fst, encode)


def _canonical(fst: kaldifst.StdFst, pairs: dict[tuple[int, int], int]) -> kaldifst.StdVectorFst:
    acceptor = _encoded(fst, pairs)
    kaldifst.rmepsilon(acceptor)
    deterministic = kaldifst.determinize(acceptor)
    kaldifst.minimize(deterministic)
    kaldifst.arcsort(deterministic)
    return deterministic


def _close(a: float, b: float, delta: float) -> bool:
    return (math.isinf(a) and math.isinf(b)) or abs(a - b) <= delta


def difference(first: kaldifst.StdFst, second: kaldifst.StdFst, *, delta: float = 1e-3) -> str | None:
    """None if the transducers are equivalent (path weights within ``delta``), else what differs."""
    pairs: dict[tuple[int, int], int] = {}
    a, b = _canonical(first, pairs), _canonical(second, pairs)
    if a.num_states == 0 or b.num_states == 0:
        return None if a.num_states == b.num_states else "one of the transducers is empty"
    seen = {(a.start, b.start)}
    queue = deque(seen)
    while queue:
        sa, sb = queue.popleft()
        fa, fb = a.final(sa).value, b.final(sb).value
        if not _close(fa, fb, delta):
            return f"final weights differ after the same labels: {fa} vs {fb}"
        arcs_a = {arc.ilabel: arc for arc in kaldifst.ArcIterator(a, sa)}
        arcs_b = {arc.ilabel: arc for arc in kaldifst.ArcIterator(b, sb)}
        if arcs_a.keys() != arcs_b.keys():
            labels = {v: k for k, v in pairs.items()}
            only = [labels[k] for k in arcs_a.keys() ^ arcs_b.keys()]
            return f"(input, output) labels {sorted(only)[:5]} are accepted by only one of them"
        for label, arc in arcs_a.items():
            other = arcs_b[label]
            if not _close(arc.weight.value, other.weight.value, delta):
                return f"arc weights differ: {arc.weight.value} vs {other.weight.value}"
            pair = (arc.nextstate, other.nextstate)
            if pair not in seen:
                seen.add(pair)
                queue.append(pair)
    return None


def equivalent(first: kaldifst.StdFst, second: kaldifst.StdFst, *, delta: float = 1e-3) -> bool:
    """Whether both transducers give every (input, output) string pair the same weight."""
    return difference(first, second, delta=delta) is None
