"""Decoding graphs (HCLG, as ``utils/mkgraph.sh`` makes it) and per-utterance training graphs.

Both are built the same way, only G differs (an n-gram LM, or the utterance's transcript):

1. LG = det*(L_disambig ∘ G), minimized (``fstdeterminizestar --use-log=true``, ``fstminimizeencoded``)
2. CLG = C ∘ LG with ``compose_context`` (context width and central position from the tree)
3. HCLGa = det*(H ∘ CLG), disambiguation symbols removed, minimized (H from :mod:`.hmm_fst`)
4. HCLG = HCLGa with reordered self-loops (``add-self-loops --reorder=true``)

``fstpushspecial`` and ``fstrmepslocal`` have no kaldifst counterpart and are left out: they
move weights and remove some epsilons without changing any path's total weight, so the
graph decodes the same; it keeps a few more epsilon arcs (the former disambiguation symbols).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import kaldi_hmm_gmm as khg  # must precede kaldifst / kaldilm (see blspeech.hybrid)
import kaldifst
import kaldilm

from blspeech.hybrid_system.fst_map import map_arcs
from blspeech.hybrid_system.hmm_fst import TransitionStates, add_self_loops, h_transducer
from blspeech.hybrid_system.lang import LangDir

logger = logging.getLogger("blspeech")

TRANSITION_SCALE = 1.0
DECODING_SELF_LOOP_SCALE = 0.1  # mkgraph.sh's default


def grammar_fst(arpa: str | os.PathLike, lang: LangDir, out_path: str | os.PathLike) -> kaldifst.StdVectorFst:
    """G.fst from an ARPA LM with ``lang``'s words (``arpa2fst --disambig-symbol=#0 --read-symbol-table``).

    N-grams with words outside ``words.txt`` are dropped by arpa2fst (with a warning), so
    build the LM from text whose OOV words are already mapped to the OOV word.
    """
    kaldilm.arpa2fst(
        input_arpa=str(arpa),
        output_fst=str(out_path),
        disambig_symbol="#0",
        read_symbol_table=str(lang.path / "words.txt"),
    )
    return kaldifst.StdVectorFst.read(str(out_path))


def _determinized(fst: kaldifst.StdFst, use_log: bool) -> kaldifst.StdVectorFst:
    """``fstdeterminizestar``: epsilon removal and determinization in one step (no state limit)."""
    result = kaldifst.StdVectorFst(fst)
    kaldifst.determinize_star(result, use_log=use_log)  # returns True only when stopped by max_states
    return result


def _without_inputs(fst: kaldifst.StdFst, symbols: set[int]) -> kaldifst.StdVectorFst:
    """A copy with input labels in ``symbols`` replaced by epsilon (``fstrmsymbols``)."""
    return map_arcs(fst, lambda arc: (0 if arc.ilabel in symbols else arc.ilabel, arc.olabel, arc.weight.value))


def compose_hclg(
    l_disambig: kaldifst.StdFst,
    g: kaldifst.StdFst,
    disambig_phones: Sequence[int],
    tree: khg.ContextDependency,
    transitions: TransitionStates,
    *,
    self_loop_scale: float,
    transition_scale: float = TRANSITION_SCALE,
    use_log: bool = True,
) -> kaldifst.StdVectorFst:
    """HCLG from L_disambig (olabel-sorted) and G, for ``tree`` and the transition model behind
    ``transitions``; see the module docstring for the steps."""
    kaldifst.arcsort(g, sort_type="ilabel")
    lg = _determinized(kaldifst.compose(l_disambig, g), use_log)
    kaldifst.minimize_encoded(lg)
    clg, ilabel_info = kaldifst.compose_context(list(disambig_phones), tree.context_width, tree.central_position, lg)
    kaldifst.arcsort(clg, sort_type="ilabel")
    h, disambig_symbols = h_transducer(ilabel_info, tree, transitions, transition_scale=transition_scale)
    hclg = _determinized(kaldifst.compose(h, clg), use_log)
    hclg = _without_inputs(hclg, set(disambig_symbols))
    kaldifst.minimize_encoded(hclg)
    return add_self_loops(hclg, transitions, self_loop_scale=self_loop_scale)


def make_graph(
    lang: LangDir,
    g_fst: str | os.PathLike,
    tree: khg.ContextDependency,
    transition_model: khg.TransitionModel,
    graph_dir: str | os.PathLike,
) -> Path:
    """``utils/mkgraph.sh``: write ``graph_dir/HCLG.fst`` (const FST) with ``words.txt``,
    ``phones.txt`` and ``phones/`` beside it, where :class:`blspeech.hybrid.HybridGraphDecoder`
    looks for them. Returns the HCLG path."""
    graph_dir = Path(graph_dir)
    l_disambig = kaldifst.StdVectorFst.read(str(lang.path / "L_disambig.fst"))
    g = kaldifst.StdVectorFst.read(os.fspath(g_fst))
    hclg = compose_hclg(
        l_disambig, g, lang.disambig_phones, tree, TransitionStates(transition_model), self_loop_scale=DECODING_SELF_LOOP_SCALE
    )
    graph_dir.mkdir(parents=True, exist_ok=True)
    for name in ("words.txt", "phones.txt"):
        shutil.copyfile(lang.path / name, graph_dir / name)
    shutil.copytree(lang.path / "phones", graph_dir / "phones", dirs_exist_ok=True)
    target = graph_dir / "HCLG.fst"
    tmp = graph_dir / ".HCLG.fst.tmp"
    if not kaldifst.StdConstFst(hclg).write(str(tmp)):
        raise OSError(f"could not write {tmp}")
    os.replace(tmp, target)  # last, so a graph dir with HCLG.fst is complete
    logger.info("graph: %s, %d states", target, hclg.num_states)
    return target


class TrainingGraphCompiler:
    """Per-utterance graphs for forced alignment (``compile-train-graphs``): HCLG with G the
    linear acceptor of the transcript, optional silence between words.

    The graphs carry no transition probabilities (only L's silence costs): the aligner adds
    those of the current model to its frame scores (:class:`.align.ViterbiAligner`), so a
    graph is compiled once and serves every EM iteration.
    """

    def __init__(self, lang: LangDir, tree: khg.ContextDependency, transition_model: khg.TransitionModel) -> None:
        self.lang = lang
        self.tree = tree
        self.transitions = TransitionStates(transition_model)
        self.l_disambig = kaldifst.StdVectorFst.read(str(lang.path / "L_disambig.fst"))

    def compile(self, words: Sequence[str]) -> kaldifst.StdVectorFst:
        """The training graph of one transcript; OOV words are mapped to ``lang.oov``."""
        if not words:
            raise ValueError("cannot compile a training graph for an empty transcript")
        transcript = kaldifst.make_linear_acceptor(self.lang.word_ids(words))
        return compose_hclg(
            self.l_disambig,
            transcript,
            self.lang.disambig_phones,
            self.tree,
            self.transitions,
            self_loop_scale=0.0,
            transition_scale=0.0,
            use_log=False,
        )
