"""A triphone decision tree grown from monophone alignments (Kaldi's ``acc-tree-stats``,
``cluster-phones``, ``compile-questions`` and ``build-tree``, which no wheel provides).

1. Statistics: each aligned frame is filed under its event (pdf-class, left phone, phone,
   right phone) and the count, sum and sum of squares of its features are kept per event.
   Silence phones are context-independent: their events carry phone 0 as context.
2. Questions: the phone sets of ``phones/sets.int`` (the position-dependent variants of one
   phone) are clustered top-down by the Gaussian likelihood of their middle-state data; every
   cluster of the hierarchy is a question, as are the word-position sets (all ``_B``, all
   ``_E`` ...), the silence phones, and the prefixes and singletons of the pdf-classes.
3. Tree: one root per row of ``phones/roots.int`` (all of a phone's HMM states and positions
   share it), then greedy splitting: the split with the largest likelihood gain anywhere in
   the tree is made next, until ``max_leaves`` or no split gains ``min_gain`` with both
   halves holding ``min_leaf_count`` frames. Each leaf is a pdf.

The objective is Kaldi's ``GaussClusterable``: the log-likelihood of the data under one
diagonal Gaussian fitted to it (variances floored at 0.01).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import kaldi_hmm_gmm as khg
import numpy as np

from blspeech.hybrid.alignments import check_alignment_frames
from blspeech.hybrid.words import TransitionTables
from blspeech.hybrid_system.event_map import PDF_CLASS_KEY, Leaf, Node, Split
from blspeech.hybrid_system.hmm_fst import TransitionStates

VARIANCE_FLOOR = 0.01
EVENT_KEYS = (PDF_CLASS_KEY, 0, 1, 2)  # columns of TreeStats.events
LEFT, CENTRAL, RIGHT = 0, 1, 2


@dataclass(frozen=True)
class TreeStats:
    """Sufficient statistics per event: ``events`` (E, 4) int (pdf-class, left, phone, right),
    ``counts`` (E,), ``sums`` and ``squares`` (E, D), float64."""

    events: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    squares: np.ndarray

    def subset(self, mask: np.ndarray) -> "TreeStats":
        return TreeStats(self.events[mask], self.counts[mask], self.sums[mask], self.squares[mask])

    def total(self) -> tuple[float, np.ndarray, np.ndarray]:
        return float(self.counts.sum()), self.sums.sum(axis=0), self.squares.sum(axis=0)


def gaussian_objective(count: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Log-likelihood (up to a constant per frame) of data under its own diagonal Gaussian.

    ``count`` (...,), ``sums``/``squares`` (..., D) -> (...,); 0 where there is no data.
    """
    count = np.asarray(count, dtype=np.float64)
    safe = np.maximum(count, 1e-10)[..., None]
    variance = np.maximum(squares / safe - np.square(sums / safe), VARIANCE_FLOOR)
    return np.where(count > 0, -0.5 * count * np.log(variance).sum(axis=-1), 0.0)


def accumulate_tree_stats(
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    transition_model: khg.TransitionModel,
    context_independent: set[int],
) -> TreeStats:
    """``acc-tree-stats`` over transition-id alignments (T,) and their features (T, D)."""
    tables = TransitionTables(transition_model)
    states = TransitionStates(transition_model)
    topology = transition_model.topo
    pdf_class_of_id = np.zeros(states.num_transition_ids + 1, dtype=np.int64)
    for transition_id in range(1, states.num_transition_ids + 1):
        phone, hmm_state, _, _ = states.tuple_of_state[states.state_of_id[transition_id]]
        state = topology.topology_for_phone(phone)[hmm_state]
        pdf_class_of_id[transition_id] = state.self_loop_pdf_class if states.is_self_loop(transition_id) else state.forward_pdf_class
    rows, frames = [], []
    for utt, alignment in alignments.items():
        check_alignment_frames(utt, alignment, len(features[utt]))
        spans = tables.split_into_phones(alignment)
        phones = [0] + [span.phone for span in spans] + [0]
        for index, span in enumerate(spans):
            left, right = phones[index], phones[index + 2]
            if span.phone in context_independent:
                left = right = 0
            count = span.end_frame - span.start_frame
            window = np.tile([left, span.phone, right], (count, 1))
            pdf_classes = pdf_class_of_id[alignment[span.start_frame : span.end_frame]][:, None]
            rows.append(np.hstack([pdf_classes, window]))
        frames.append(np.asarray(features[utt], dtype=np.float64))
    events, inverse = np.unique(np.vstack(rows), axis=0, return_inverse=True)
    data = np.vstack(frames)
    dim = data.shape[1]
    sums = np.zeros((len(events), dim))
    squares = np.zeros((len(events), dim))
    np.add.at(sums, inverse.ravel(), data)
    np.add.at(squares, inverse.ravel(), np.square(data))
    counts = np.bincount(inverse.ravel(), minlength=len(events)).astype(np.float64)
    return TreeStats(events, counts, sums, squares)


def _cluster(groups: list[tuple[int, ...]], stats: list[tuple[float, np.ndarray, np.ndarray]], out: list[frozenset]) -> None:
    """Top-down 2-means of phone groups by Gaussian likelihood; every cluster becomes a question."""
    out.append(frozenset(p for g in groups for p in g))
    if len(groups) < 2:
        return
    counts = np.array([s[0] for s in stats])
    sums = np.array([s[1] for s in stats])
    squares = np.array([s[2] for s in stats])
    own = gaussian_objective(counts, sums, squares)
    # Seed with the best-supported group and the one that least likes to be merged with it.
    first = int(np.argmax(counts))
    loss = own + own[first] - gaussian_objective(counts + counts[first], sums + sums[first], squares + squares[first])
    second = int(np.argmax(np.where(np.arange(len(groups)) == first, -np.inf, loss)))
    assignment = np.zeros(len(groups), dtype=bool)
    assignment[second] = True
    for _ in range(10):
        centers = [(counts[m].sum(), sums[m].sum(0), squares[m].sum(0)) for m in (~assignment, assignment)]
        gains = [gaussian_objective(c + counts, s + sums, q + squares) - gaussian_objective(c, s, q) for c, s, q in centers]
        updated = gains[1] > gains[0]
        updated[first], updated[second] = False, True
        if np.array_equal(updated, assignment):
            break
        assignment = updated
    for side in (~assignment, assignment):
        _cluster([g for g, m in zip(groups, side) if m], [s for s, m in zip(stats, side) if m], out)


def phone_questions(
    stats: TreeStats, phone_sets: Sequence[Sequence[int]], silence: set[int], position_sets: Sequence[Sequence[int]]
) -> list[frozenset]:
    """Questions about phones (``cluster-phones`` + ``compile-questions``), distinct, non-trivial."""
    speech = [tuple(row) for row in phone_sets if not set(row) & silence]
    middle = stats.subset(stats.events[:, 0] == 1)
    group_stats = [middle.subset(np.isin(middle.events[:, 2], group)).total() for group in speech]
    questions: list[frozenset] = []
    _cluster(speech, group_stats, questions)
    questions += [frozenset(row) for row in phone_sets if set(row) & silence]
    questions += [frozenset(silence)] + [frozenset(row) for row in position_sets]
    return list(dict.fromkeys(q for q in questions if q))


def pdf_class_questions(max_classes: int) -> list[frozenset]:
    """``{0}, {0, 1}, ...`` and every single pdf-class."""
    prefixes = [frozenset(range(k + 1)) for k in range(max_classes - 1)]
    return list(dict.fromkeys(prefixes + [frozenset({k}) for k in range(max_classes)]))


@dataclass
class _Candidate:
    gain: float
    key: int
    question: frozenset


def _best_split(stats: TreeStats, questions: Mapping[int, "_Questions"], min_leaf_count: float) -> _Candidate | None:
    """The question (over every key) whose yes/no halves of ``stats`` fit two Gaussians best."""
    count, sums, squares = stats.total()
    parent = float(gaussian_objective(count, sums, squares))
    best: _Candidate | None = None
    for column, key in enumerate(EVENT_KEYS):
        values = stats.events[:, column]
        if values.min() == values.max():
            continue
        members = questions[key].membership[:, values]  # (Q, E)
        yes_count, yes_sums, yes_squares = members @ stats.counts, members @ stats.sums, members @ stats.squares
        no_count = count - yes_count
        gains = (
            gaussian_objective(yes_count, yes_sums, yes_squares)
            + gaussian_objective(no_count, sums - yes_sums, squares - yes_squares)
            - parent
        )
        gains[(yes_count < min_leaf_count) | (no_count < min_leaf_count)] = -np.inf
        index = int(np.argmax(gains))
        if np.isfinite(gains[index]) and (best is None or gains[index] > best.gain):
            best = _Candidate(float(gains[index]), key, questions[key].sets[index])
    return best


class _Questions:
    """The questions about one key, with a (Q, max value + 1) membership matrix for fast lookups."""

    def __init__(self, sets: Sequence[frozenset], max_value: int) -> None:
        self.sets = list(sets)
        self.membership = np.zeros((len(self.sets), max_value + 1))
        for row, question in enumerate(self.sets):
            self.membership[row, [v for v in question if v <= max_value]] = 1.0


@dataclass
class GrownTree:
    """The tree and, per pdf, the statistics of the events it answers (to initialize the GMMs)."""

    root: Node
    num_pdfs: int
    pdf_stats: list[tuple[float, np.ndarray, np.ndarray]]
    log_likelihood_gain: float


def build_tree(
    stats: TreeStats,
    roots: Sequence[Sequence[int]],
    phone_question_sets: Sequence[frozenset],
    max_pdf_classes: int,
    *,
    max_leaves: int,
    min_gain: float = 100.0,
    min_leaf_count: float = 20.0,
) -> GrownTree:
    """Grow the tree (see the module docstring); pdfs are numbered leaf by leaf, root by root."""
    if max_leaves < len(roots):
        raise ValueError(f"max_leaves {max_leaves} is below the number of roots {len(roots)}")
    max_phone = int(max(stats.events[:, 1:].max(), max(p for root in roots for p in root)))
    questions = {PDF_CLASS_KEY: _Questions(pdf_class_questions(max_pdf_classes), max_pdf_classes - 1)}
    questions.update({key: _Questions(phone_question_sets, max_phone) for key in (LEFT, CENTRAL, RIGHT)})
    # A leaf is a path of (key, question, answer) decisions from its root; leaves live in a heap by gain.
    leaves: dict[int, tuple[int, tuple, TreeStats]] = {}
    heap: list[tuple[float, int]] = []
    candidates: dict[int, _Candidate | None] = {}
    next_id = 0

    def add_leaf(root: int, path: tuple, leaf_stats: TreeStats) -> None:
        nonlocal next_id
        leaves[next_id] = (root, path, leaf_stats)
        candidates[next_id] = _best_split(leaf_stats, questions, min_leaf_count) if len(leaf_stats.counts) else None
        if candidates[next_id] is not None and candidates[next_id].gain >= min_gain:
            heapq.heappush(heap, (-candidates[next_id].gain, next_id))
        next_id += 1

    for index, root in enumerate(roots):
        add_leaf(index, (), stats.subset(np.isin(stats.events[:, 2], list(root))))
    total_gain = 0.0
    while heap and len(leaves) < max_leaves:
        _, leaf = heapq.heappop(heap)
        root, path, leaf_stats = leaves.pop(leaf)
        split = candidates.pop(leaf)
        column = EVENT_KEYS.index(split.key)
        yes = np.isin(leaf_stats.events[:, column], list(split.question))
        total_gain += split.gain
        add_leaf(root, path + ((split.key, split.question, True),), leaf_stats.subset(yes))
        add_leaf(root, path + ((split.key, split.question, False),), leaf_stats.subset(~yes))
    return _assemble(roots, leaves, total_gain)


def _assemble(roots: Sequence[Sequence[int]], leaves: Mapping[int, tuple[int, tuple, TreeStats]], gain: float) -> GrownTree:
    """Turn the decision paths of the leaves into nested Splits, with a binary split on the
    central phone choosing the root."""
    pdf_stats: list[tuple[float, np.ndarray, np.ndarray]] = []

    def subtree(entries: list[tuple[tuple, TreeStats]], depth: int) -> Node:
        if len(entries) == 1 and len(entries[0][0]) == depth:
            pdf_stats.append(entries[0][1].total())
            return Leaf(len(pdf_stats) - 1)
        key, question, _ = entries[0][0][depth]
        yes = [e for e in entries if e[0][depth][2]]
        no = [e for e in entries if not e[0][depth][2]]
        return Split(key, tuple(sorted(question)), subtree(yes, depth + 1), subtree(no, depth + 1))

    by_root = [subtree([(path, s) for r, path, s in leaves.values() if r == index], 0) for index in range(len(roots))]

    def choose_root(first: int, last: int) -> Node:
        if last - first == 1:
            return by_root[first]
        middle = (first + last) // 2
        phones = tuple(sorted(p for row in roots[first:middle] for p in row))
        return Split(CENTRAL, phones, choose_root(first, middle), choose_root(middle, last))

    return GrownTree(choose_root(0, len(roots)), len(pdf_stats), pdf_stats, gain)
