"""Triphone tree (statistics, questions, growth, Kaldi tree file) and triphone training on the toy corpus."""

import itertools
from pathlib import Path

import kaldi_hmm_gmm as khg  # before kaldifst
import numpy as np
import pytest

from blspeech.hybrid import read_topology, read_word_boundary
from blspeech.hybrid.kaldi_serialization import KaldiReader
from blspeech.hybrid.words import TransitionTables
from blspeech.hybrid_system.event_map import Leaf, Split, evaluate, tree_bytes
from blspeech.hybrid_system.graph import TrainingGraphCompiler
from blspeech.hybrid_system.triphone import (
    LangPhones,
    TriphoneConfig,
    context_dependency,
    convert_alignments,
    grow_tree,
    train_triphone,
)
from blspeech.hybrid_system.tree import accumulate_tree_stats, gaussian_objective, pdf_class_questions
from test_gmm_monophone import toy_corpus, toy_system, word_spans  # noqa: F401  (module fixtures)

KALDI_TREE = Path(__file__).resolve().parents[2] / "shared" / "kaldi-fixtures" / "exp" / "tree"
SMALL = TriphoneConfig(num_iters=6, max_iter_inc=4, total_gaussians=200, realign_iters=(2, 4), num_leaves=80, min_gain=10.0)


def parse_split_tree(path):
    """The (width, central, root) of a Kaldi tree made of SE/CE nodes, read with blspeech.hybrid's reader."""
    reader = KaldiReader.open(path)
    reader.expect_token("ContextDependency")
    width, central = reader.read_int32(), reader.read_int32()
    reader.expect_token("ToPdf")

    def node():
        kind = reader.read_token()
        if kind == "CE":
            return Leaf(reader.read_int32())
        assert kind == "SE", kind
        key, values = reader.read_int32(), tuple(reader.read_int32_vector())
        reader.expect_token("{")
        yes, no = node(), node()
        reader.expect_token("}")
        return Split(key, values, yes, no)

    root = node()
    reader.expect_token("EndContextDependency")
    return width, central, root


@pytest.fixture(scope="module")
def grown(toy_corpus, toy_system):
    lang, _, features, _ = toy_corpus
    system, alignments = toy_system
    return grow_tree(alignments, features, system, LangPhones.read(lang.path, lang.phones), SMALL)


@pytest.mark.skipif(not KALDI_TREE.is_file(), reason="real-Kaldi fixtures not present")
def test_tree_bytes_reproduce_a_kaldi_tree_file():
    width, central, root = parse_split_tree(KALDI_TREE)
    assert tree_bytes(width, central, root) == KALDI_TREE.read_bytes()


def test_gaussian_objective_prefers_homogeneous_data():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (500, 3)), rng.normal(4, 1, (500, 3))
    stats = [(len(x), x.sum(0), np.square(x).sum(0)) for x in (a, b, np.vstack([a, b]))]
    separate = gaussian_objective(*stats[0]) + gaussian_objective(*stats[1])
    assert separate > gaussian_objective(*stats[2]) + 500  # splitting two clusters gains a lot
    assert gaussian_objective(0.0, np.zeros(3), np.zeros(3)) == 0.0


def test_pdf_class_questions():
    assert pdf_class_questions(3) == [frozenset({0}), frozenset({0, 1}), frozenset({1}), frozenset({2})]


def test_tree_statistics_count_every_frame_and_zero_silence_context(toy_corpus, toy_system):
    lang, _, features, _ = toy_corpus
    system, alignments = toy_system
    phones = LangPhones.read(lang.path, lang.phones)
    stats = accumulate_tree_stats(alignments, features, system.transition_model, phones.silence)
    assert stats.counts.sum() == sum(len(a) for a in alignments.values())
    assert np.allclose(stats.sums.sum(0), np.vstack(list(features.values())).astype(np.float64).sum(0))
    silence_rows = np.isin(stats.events[:, 2], list(phones.silence))
    assert (stats.events[silence_rows][:, [1, 3]] == 0).all()
    speech = stats.events[~silence_rows]
    assert (speech[:, 1] != 0).any() and (speech[:, 0] <= 2).all()


def test_grown_tree_loads_in_kaldi_hmm_gmm_and_answers_like_the_python_tree(toy_corpus, grown):
    lang, *_ = toy_corpus
    tree = context_dependency(grown)
    assert tree.num_pdfs == grown.num_pdfs and 55 < grown.num_pdfs <= SMALL.num_leaves
    topology = read_topology(lang.path / "topo")
    classes = topology.get_phone_to_num_pdf_classes()
    phones = [p for p in topology.phones][::3]
    for left, central, right in itertools.product([0, *phones], phones, [0, *phones]):
        for pdf_class in range(classes[central]):
            found, pdf = tree.compute([left, central, right], pdf_class)
            assert found and pdf == evaluate(grown.root, {-1: pdf_class, 0: left, 1: central, 2: right})
    khg.TransitionModel(tree, topology)  # every phone/state combination has pdfs


def test_converted_alignments_keep_phones_and_lengths(toy_corpus, toy_system, grown):
    lang, *_ = toy_corpus
    system, alignments = toy_system
    tree = context_dependency(grown)
    model = khg.TransitionModel(tree, read_topology(lang.path / "topo"))
    converted = convert_alignments(alignments, system.transition_model, tree, model)
    old, new = TransitionTables(system.transition_model), TransitionTables(model)
    for utt, alignment in alignments.items():
        assert len(converted[utt]) == len(alignment)
        assert old.split_into_phones(alignment) == new.split_into_phones(converted[utt])


def test_triphone_training_keeps_the_true_word_boundaries(toy_corpus, toy_system):
    lang, texts, features, truth = toy_corpus
    monophones, alignments = toy_system
    topology = read_topology(lang.path / "topo")

    def compile_graphs(tree, transition_model):
        compiler = TrainingGraphCompiler(lang, tree, transition_model)
        return {utt: compiler.compile(words) for utt, words in texts.items()}

    phones = LangPhones.read(lang.path, lang.phones)
    system, final = train_triphone(monophones, alignments, features, phones, topology, compile_graphs, SMALL)
    assert system.tree.context_width == 3 and final.keys() == texts.keys()
    boundary = read_word_boundary(lang.path / "phones" / "word_boundary.int")
    errors = [
        abs(a - b)
        for utt, alignment in final.items()
        for ours, true in zip(word_spans(alignment, system.transition_model, boundary), truth[utt])
        for a, b in zip(ours, true)
    ]
    assert np.median(errors) <= 1 and np.mean(np.asarray(errors) <= 3) > 0.9
