"""G, H and HCLG built in Python against Kaldi's own (arpa2fst, mkgraph.sh, latgen-faster-mapped)."""

import math

import kaldi_hmm_gmm  # noqa: F401  (before kaldifst)
import kaldifst
import kaldiio
import numpy as np
import pytest

from blspeech.hybrid import decode_loglikes, load_transition_model, read_context_dependency, read_int32_vectors
from blspeech.hybrid_system.align import equal_alignment
from blspeech.hybrid_system.fst_equivalence import difference
from blspeech.hybrid_system.fst_map import map_arcs
from blspeech.hybrid_system.graph import TrainingGraphCompiler, compose_hclg, grammar_fst, make_graph
from blspeech.hybrid_system.hmm_fst import TransitionStates, h_transducer, transition_costs
from blspeech.hybrid_system.lang import prepare_lang
from blspeech.hybrid_system.lexicon import read_lexicon
from test_lang_prepare import KALDI, fixture_phone_sets

pytestmark = pytest.mark.skipif(not KALDI.is_dir(), reason="real-Kaldi fixtures not present")


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    lexicon = read_lexicon(KALDI / "lang" / "lexicon.txt")
    lang = prepare_lang(lexicon, fixture_phone_sets(lexicon), "<UNK>", tmp_path_factory.mktemp("lang") / "lang")
    grammar_fst(KALDI / "lang" / "lm.arpa", lang, lang.path / "G.fst")
    return lang


@pytest.fixture(scope="module")
def model():
    return read_context_dependency(KALDI / "exp" / "tree"), load_transition_model(KALDI / "exp" / "final.mdl")


@pytest.fixture(scope="module")
def graph_dir(lang, model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("graph")
    make_graph(lang, lang.path / "G.fst", *model, directory)
    return directory


def read_any(path):
    return kaldifst.StdVectorFst(kaldifst.StdFst.read(str(path)))


def backoff_as_epsilon(fst, disambig):
    return map_arcs(fst, lambda a: (0 if a.ilabel == disambig else a.ilabel, a.olabel, a.weight.value))


def test_grammar_has_kaldis_path_weights(lang):
    ours = kaldifst.StdVectorFst.read(str(lang.path / "G.fst"))
    kaldi = kaldifst.StdVectorFst.read(str(KALDI / "lang" / "G.fst"))
    # kaldilm keeps a state for a history with only a back-off arc where Kaldi folds it, so the
    # #0 strings differ; with back-off arcs as epsilons both give every word string the same weight.
    assert difference(backoff_as_epsilon(ours, lang.word_disambig), backoff_as_epsilon(kaldi, lang.word_disambig)) is None


def test_h_transducer_weights_forward_transitions_ignoring_self_loops(model):
    tree, transition_model = model
    states = TransitionStates(transition_model)
    h, disambig = h_transducer([[], [0], [-79], [0, 23, 28]], tree, states)
    assert disambig == [transition_model.num_transition_ids + 1, transition_model.num_transition_ids + 2]
    costs = {a.ilabel: a.weight.value for s in kaldifst.StateIterator(h) for a in kaldifst.ArcIterator(h, s) if a.ilabel}
    forward = [i for i in costs if i <= transition_model.num_transition_ids]
    assert len(forward) == 3  # n_B (window 0 n_B ow_E): three HMM states, one forward transition each
    for transition_id in forward:
        tstate = states.state_of_id[transition_id]
        assert costs[transition_id] == pytest.approx(
            -(states.log_probs[transition_id] - states.non_self_loop_log_probs[tstate]), abs=1e-5
        )


def test_hclg_is_equivalent_to_mkgraph_sh(graph_dir):
    kaldi = read_any(KALDI / "exp" / "HCLG.fst")
    # Kaldi's determinization and weight pushing quantize weights at 1/1024 per step.
    assert difference(read_any(graph_dir / "HCLG.fst"), kaldi, delta=5e-3) is None


def test_hclg_with_other_self_loop_scale_is_not_equivalent(lang, model):
    l_disambig = kaldifst.StdVectorFst.read(str(lang.path / "L_disambig.fst"))
    g = kaldifst.StdVectorFst.read(str(lang.path / "G.fst"))
    tree, transition_model = model
    wrong = compose_hclg(l_disambig, g, lang.disambig_phones, tree, TransitionStates(transition_model), self_loop_scale=1.0)
    assert difference(wrong, read_any(KALDI / "exp" / "HCLG.fst"), delta=5e-3) is not None


def test_graph_dir_has_what_the_hybrid_decoder_reads(graph_dir):
    for name in ("HCLG.fst", "words.txt", "phones.txt", "phones/word_boundary.int", "phones/disambig.int"):
        assert (graph_dir / name).is_file(), name
    assert kaldifst.StdFst.read(str(graph_dir / "HCLG.fst")).type == "const"


def test_decoding_kaldis_loglikes_gives_kaldis_words(graph_dir, model):
    _, transition_model = model
    loglikes = dict(kaldiio.load_ark(str(KALDI / "exp" / "loglikes.ark")))
    results = decode_loglikes(graph_dir / "HCLG.fst", transition_model, loglikes, graph_dir / "words.txt")
    expected = dict(line.split(maxsplit=1) for line in (KALDI / "exp" / "latgen_words.txt").read_text().splitlines())
    assert {utt: r.words for utt, r in results.items()} == {utt: words.split() for utt, words in expected.items()}


def test_training_graphs_accept_kaldis_alignments_with_their_transcripts(lang, model):
    tree, transition_model = model
    compiler = TrainingGraphCompiler(lang, tree, transition_model)
    texts = dict(line.split(maxsplit=1) for line in (KALDI / "data" / "text").read_text().splitlines())
    alignments = dict(read_int32_vectors(KALDI / "exp" / "ali.txt"))
    assert alignments.keys() == texts.keys()
    for utt, alignment in alignments.items():
        graph = compiler.compile(texts[utt].split())
        kaldifst.arcsort(graph, sort_type="ilabel")
        path = kaldifst.shortest_path(kaldifst.compose(kaldifst.make_linear_acceptor(alignment.tolist()), graph))
        assert path.num_states > 0, f"{utt}: Kaldi's alignment is not a path of our training graph"
        _, _, words, _ = kaldifst.get_linear_symbol_sequence(path)
        assert [w for w in words if w] == lang.word_ids(texts[utt].split())


def test_equal_alignment_spans_every_frame(lang, model):
    tree, transition_model = model
    graph = TrainingGraphCompiler(lang, tree, transition_model).compile(["hello", "world"])
    alignment = equal_alignment(graph, 120, seed=1)
    assert alignment.shape == (120,) and alignment.min() >= 1
    assert equal_alignment(graph, 5, seed=1) is None  # fewer frames than the words' HMM states


def test_transition_costs_split_like_the_decoding_graph(model):
    _, transition_model = model
    states = TransitionStates(transition_model)
    tstate = 40
    loop = states.self_loop_of_state[tstate]
    forward = next(i for i in range(states.first_id[tstate], states.first_id[tstate + 1]) if i != loop)
    costs = transition_costs(transition_model, transition_scale=1.0, self_loop_scale=0.1)
    leave = states.non_self_loop_log_probs[tstate]
    assert costs[loop] == pytest.approx(-0.1 * states.log_probs[loop], abs=1e-6)
    assert costs[forward] == pytest.approx(-0.1 * leave - (states.log_probs[forward] - leave), abs=1e-6)
    assert math.exp(states.log_probs[loop]) + math.exp(leave) == pytest.approx(1.0, abs=1e-5)
    assert costs.shape == (transition_model.num_transition_ids + 1,) and np.isfinite(costs).all()
