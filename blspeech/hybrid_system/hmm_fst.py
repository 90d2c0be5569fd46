"""The HMM transducer H and its self-loops, as Kaldi's ``make-h-transducer`` and ``add-self-loops`` build them.

kaldi-hmm-gmm has both functions, but in this version set their FST arguments and results
cannot cross into kaldifst (pybind11 raises TypeError), so they are written here with kaldifst
and the transition model's own tables; a test checks the result against Kaldi's HCLG.

H maps transition-ids to context windows (the input labels of C∘L∘G, i.e. the ``ilabel_info``
that ``compose_context`` returns). Each window's phone gets its HMM from the topology, each
HMM state its pdf from the tree, each transition its id from the transition model; H is a
loop over these HMMs, without self-loops, with the forward transitions weighted by their
probability renormalized as if the state had no self-loop. Disambiguation windows become new
input symbols past the last transition-id, removed after determinization.

Self-loops are added afterwards in Kaldi's default "reordered" form: an HMM state's self-loop
is placed on the graph state its forward transition leads to, so an alignment shows each HMM
state's forward transition on its first frame. Graph states reached by transitions of
different HMM states are split first so each has one self-loop to add.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import kaldi_hmm_gmm as khg  # must precede kaldifst (see blspeech.hybrid)
import kaldifst
import numpy as np

EPSILON = 0


class TransitionStates:
    """A TransitionModel's tables as Python lists, with the lookups the binding lacks
    (tuple -> transition-state, the self-loop of a state), for per-arc work in Python.

    Transition-states count from 1 and are described by a tuple ``(phone, hmm_state,
    forward_pdf, self_loop_pdf)``; their transition-ids are consecutive from ``first_id[tstate]``,
    one per transition of the HMM state, in topology order.
    """

    def __init__(self, transition_model: khg.TransitionModel) -> None:
        self.model = transition_model
        self.topology = transition_model.topo
        tuples = [t.__getstate__() for t in transition_model.tuples]
        self.state_of_tuple = {t: tstate for tstate, t in enumerate(tuples, start=1)}
        self.tuple_of_state = [None, *tuples]
        self.first_id = list(transition_model.state2id)
        self.log_probs = list(transition_model.log_probs)
        self.non_self_loop_log_probs = list(transition_model.non_self_loop_log_probs)
        self.state_of_id = list(transition_model.id2state)
        self.self_loop_of_state = [0] * len(self.tuple_of_state)
        for tstate in range(1, len(self.tuple_of_state)):
            phone, hmm_state, _, _ = self.tuple_of_state[tstate]
            for k, (destination, _) in enumerate(self.topology.topology_for_phone(phone)[hmm_state].transitions):
                if destination == hmm_state:
                    self.self_loop_of_state[tstate] = self.first_id[tstate] + k

    @property
    def num_transition_ids(self) -> int:
        return int(self.model.num_transition_ids)

    def is_self_loop(self, transition_id: int) -> bool:
        return transition_id == self.self_loop_of_state[self.state_of_id[transition_id]]

    def hmm_arcs(
        self, window: Sequence[int], tree: khg.ContextDependency, central_position: int, transition_scale: float
    ) -> tuple[list[tuple[int, int, int, float]], int]:
        """Arcs ``(from_state, to_state, transition_id, cost)`` of the self-loop-free HMM of ``window``,
        and its number of states (the topology's; the last one is final)."""
        phone = window[central_position]
        states = self.topology.topology_for_phone(phone)
        arcs = []
        for hmm_state, state in enumerate(states[:-1]):
            forward_pdf = self._pdf(tree, window, state.forward_pdf_class)
            self_loop_pdf = self._pdf(tree, window, state.self_loop_pdf_class)
            tstate = self.state_of_tuple.get((phone, hmm_state, forward_pdf, self_loop_pdf))
            if tstate is None:
                raise ValueError(
                    f"context window {list(window)}, HMM state {hmm_state}: pdfs ({forward_pdf}, {self_loop_pdf}) "
                    "are not in the transition model: the tree and the model do not belong together"
                )
            for k, (destination, _) in enumerate(state.transitions):
                if destination == hmm_state:
                    continue
                transition_id = self.first_id[tstate] + k
                log_prob = self.log_probs[transition_id] - self.non_self_loop_log_probs[tstate]
                arcs.append((hmm_state, destination, transition_id, -transition_scale * log_prob))
        return arcs, len(states)

    @staticmethod
    def _pdf(tree: khg.ContextDependency, window: Sequence[int], pdf_class: int) -> int:
        found, pdf = tree.compute(list(window), pdf_class)
        if not found:
            raise ValueError(f"the tree has no pdf for context window {list(window)}, pdf-class {pdf_class}")
        return pdf


def h_transducer(
    ilabel_info: Sequence[Sequence[int]],
    tree: khg.ContextDependency,
    states: TransitionStates,
    *,
    transition_scale: float = 1.0,
) -> tuple[kaldifst.StdVectorFst, list[int]]:
    """H without self-loops: transition-ids -> indices into ``ilabel_info``.

    Returns H and the input symbols standing for the disambiguation windows (to be removed
    from the graph after determinization), like ``make-h-transducer --disambig-syms-out``.
    """
    if not ilabel_info or len(ilabel_info[0]) != 0:
        raise ValueError("ilabel_info must start with the empty window of epsilon (as compose_context returns it)")
    fst = kaldifst.StdVectorFst()
    loop = fst.add_state()
    fst.start = loop
    fst.set_final(loop, 0.0)
    disambig_symbols = []
    for label, window in enumerate(ilabel_info[1:], start=1):
        if len(window) == 1 and window[0] <= 0:  # a disambiguation symbol (#-1 is 0, #k is -phone-id)
            symbol = states.num_transition_ids + 1 + len(disambig_symbols)
            disambig_symbols.append(symbol)
            fst.add_arc(loop, kaldifst.StdArc(symbol, label, 0.0, loop))
            continue
        arcs, num_hmm_states = states.hmm_arcs(window, tree, tree.central_position, transition_scale)
        hmm = [fst.add_state() for _ in range(num_hmm_states - 1)] + [loop]
        fst.add_arc(loop, kaldifst.StdArc(EPSILON, label, 0.0, hmm[0]))
        for source, destination, transition_id, cost in arcs:
            fst.add_arc(hmm[source], kaldifst.StdArc(transition_id, EPSILON, cost, hmm[destination]))
    return fst, disambig_symbols


def add_self_loops(
    fst: kaldifst.StdFst,
    states: TransitionStates,
    *,
    self_loop_scale: float,
    disambig_symbols: Iterable[int] = (),
) -> kaldifst.StdVectorFst:
    """Return ``fst`` (input labels: transition-ids without self-loops) with self-loops added,
    reordered, each weighted by ``self_loop_scale`` (``add-self-loops --reorder=true``)."""
    disambig = set(disambig_symbols)

    def transition_state(label: int) -> int:
        if label == EPSILON or label in disambig:
            return 0
        if not 1 <= label <= states.num_transition_ids:
            raise ValueError(f"input label {label} is neither a transition-id nor a declared disambiguation symbol")
        if states.is_self_loop(label):
            raise ValueError(f"the graph already has self-loops (transition-id {label})")
        return states.state_of_id[label]

    # Which transition-states lead into each state (the start state counts as entered by epsilon).
    entering: dict[int, dict[int, None]] = {fst.start: {0: None}}
    for state in kaldifst.StateIterator(fst):
        for arc in kaldifst.ArcIterator(fst, state):
            entering.setdefault(arc.nextstate, {})[transition_state(arc.ilabel)] = None
    out = kaldifst.StdVectorFst()
    copy_of = {(state, tstate): out.add_state() for state in sorted(entering) for tstate in entering[state]}
    out.start = copy_of[(fst.start, 0)]
    for (state, tstate), copy in copy_of.items():
        self_loop = states.self_loop_of_state[tstate] if tstate else 0
        leave_cost = -self_loop_scale * states.non_self_loop_log_probs[tstate] if self_loop else 0.0
        if self_loop:
            out.add_arc(copy, kaldifst.StdArc(self_loop, EPSILON, -self_loop_scale * states.log_probs[self_loop], copy))
        final = fst.final(state).value
        if final != float("inf"):
            out.set_final(copy, final + leave_cost)
        for arc in kaldifst.ArcIterator(fst, state):
            destination = copy_of[(arc.nextstate, transition_state(arc.ilabel))]
            out.add_arc(copy, kaldifst.StdArc(arc.ilabel, arc.olabel, arc.weight.value + leave_cost, destination))
    return out


def transition_costs(transition_model: khg.TransitionModel, *, transition_scale: float, self_loop_scale: float) -> np.ndarray:
    """Scaled cost of every transition-id (index 0 unused), as Kaldi's ``AddTransitionProbs`` adds
    them to the arcs of training graphs.

    A self-loop costs ``-self_loop_scale * log P(loop)``; any other transition of an HMM state
    costs ``-self_loop_scale * log P(leave the state)`` plus ``-transition_scale * log P(this
    way | leave)``: the same split of weights :func:`h_transducer` and :func:`add_self_loops` make.
    """
    states = TransitionStates(transition_model)
    costs = np.zeros(states.num_transition_ids + 1)
    for transition_id in range(1, states.num_transition_ids + 1):
        tstate = states.state_of_id[transition_id]
        log_prob = states.log_probs[transition_id]
        if states.is_self_loop(transition_id):
            costs[transition_id] = -self_loop_scale * log_prob
        else:
            leave = states.non_self_loop_log_probs[tstate]
            costs[transition_id] = -self_loop_scale * leave - transition_scale * (log_prob - leave)
    return costs
