"""Monophone GMM flat start on features with known phone boundaries; final.mdl and alignment files."""


import kaldi_hmm_gmm as khg  # before kaldifst
import numpy as np
import pytest

from blspeech.hybrid import (
    load_transition_model,
    pdf_alignments,
    read_int32_vectors,
    read_topology,
    read_word_boundary,
)
from blspeech.hybrid.words import TransitionTables, word_frame_spans
from blspeech.hybrid_system.decode_gmm import gmm_size
from blspeech.hybrid_system.gmm import GmmScorer, MonophoneConfig, flat_start_model, monophone_tree, train_monophone
from blspeech.hybrid_system.graph import TrainingGraphCompiler
from blspeech.hybrid_system.lang import prepare_lang
from blspeech.hybrid_system.lexicon import PhoneSets
from blspeech.hybrid_system.model_io import read_acoustic_model, write_model
from blspeech.hybrid_system.system import write_alignments

SMALL = MonophoneConfig(num_iters=6, max_iter_inc=4, total_gaussians=150, realign_iters=(1, 2, 3, 4))
LEXICON = {
    "yes": [("y", "eh", "s")],
    "no": [("n", "ow")],
    "hello": [("hh", "ah", "l", "ow")],
    "world": [("w", "er", "l", "d")],
    "the": [("dh", "ax")],
    "dog": [("d", "aa", "g")],
    "<unk>": [("spn",)],
}
PHONES = PhoneSets(silence=("sil", "spn"), nonsilence=("aa", "ah", "ax", "d", "dh", "eh", "er", "g", "hh", "l", "n", "ow", "s", "w", "y"), optional_silence="sil")


def sets_of(lang):
    return [[int(p) for p in line.split()] for line in (lang.path / "phones" / "sets.int").read_text().splitlines()]


def word_spans(alignment, transition_model, word_boundary):
    return word_frame_spans(TransitionTables(transition_model).split_into_phones(alignment), word_boundary)


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory):
    """Utterances whose frames are drawn from one Gaussian per phone, with the true word spans."""
    rng = np.random.default_rng(0)
    lang = prepare_lang(LEXICON, PHONES, "<unk>", tmp_path_factory.mktemp("toy") / "lang")
    means = {p: rng.normal(0.0, 3.0, size=39) for p in PHONES.silence + PHONES.nonsilence}
    words = [w for w in LEXICON if w != "<unk>"]
    texts, features, truth = {}, {}, {}
    for index in range(40):
        transcript = list(rng.choice(words, size=rng.integers(2, 5)))
        frames, spans = [], []

        def emit(phone, count):
            frames.extend(rng.normal(means[phone], 1.0, size=(count, 39)))

        emit("sil", int(rng.integers(8, 20)))
        for word in transcript:
            start = len(frames)
            for phone in LEXICON[word][0]:
                emit(phone, int(rng.integers(6, 14)))
            spans.append((start, len(frames)))
            if rng.random() < 0.5:
                emit("sil", int(rng.integers(5, 15)))
        emit("sil", int(rng.integers(8, 20)))
        utt = f"utt{index:02d}"
        texts[utt], features[utt], truth[utt] = transcript, np.asarray(frames, dtype=np.float32), spans
    return lang, texts, features, truth


@pytest.fixture(scope="module")
def toy_system(toy_corpus):
    lang, texts, features, _ = toy_corpus
    topology = read_topology(lang.path / "topo")
    tree = monophone_tree(topology, sets_of(lang))
    compiler = TrainingGraphCompiler(lang, tree, khg.TransitionModel(tree, topology))
    graphs = {utt: compiler.compile(words) for utt, words in texts.items()}
    return train_monophone(tree, topology, graphs, features, SMALL)


def test_monophone_tree_shares_pdfs_across_word_positions(toy_corpus):
    lang, *_ = toy_corpus
    topology = read_topology(lang.path / "topo")
    tree = monophone_tree(topology, sets_of(lang))
    assert tree.num_pdfs == 2 * 5 + 15 * 3
    assert tree.compute([lang.phones["ow_B"]], 1) == tree.compute([lang.phones["ow_E"]], 1)
    assert tree.compute([lang.phones["ow_B"]], 1) != tree.compute([lang.phones["n_B"]], 1)
    with pytest.raises(ValueError, match="phone sets cover"):
        monophone_tree(topology, sets_of(lang)[1:])


def test_alignments_find_the_true_word_boundaries(toy_corpus, toy_system):
    lang, texts, features, truth = toy_corpus
    system, alignments = toy_system
    assert alignments.keys() == texts.keys()
    boundary = read_word_boundary(lang.path / "phones" / "word_boundary.int")
    errors = []
    for utt, alignment in alignments.items():
        assert len(alignment) == len(features[utt])
        spans = word_spans(alignment, system.transition_model, boundary)
        assert len(spans) == len(truth[utt]), utt
        errors += [abs(a - b) for ours, true in zip(spans, truth[utt]) for a, b in zip(ours, true)]
    assert np.median(errors) <= 1 and np.mean(np.asarray(errors) <= 3) > 0.9


def test_training_raises_the_likelihood_and_mixes_up(toy_system):
    system, _ = toy_system
    first, last = (float(line.split("per frame ")[1].split(",")[0]) for line in (system.history[0], system.history[-1]))
    assert last > first + 5
    assert system.acoustic_model.num_gauss > system.tree.num_pdfs


def test_gmm_scorer_matches_kaldis_per_frame_scores(toy_corpus, toy_system):
    _, _, features, _ = toy_corpus
    system, _ = toy_system
    model = system.acoustic_model
    frames = features["utt00"][:4]
    matrix = GmmScorer(model)(frames)
    assert matrix.shape == (4, model.num_pdfs)
    for pdf in (0, 7, model.num_pdfs - 1):
        assert matrix[2, pdf] == pytest.approx(model.log_likelihood(pdf, frames[2]), rel=1e-4)


def test_written_model_and_alignments_read_back_in_blspeech_hybrid(toy_corpus, toy_system, tmp_path):
    lang, *_ = toy_corpus
    system, alignments = toy_system
    write_model(tmp_path / "final.mdl", system.transition_model, system.acoustic_model, (lang.path / "topo").read_text())
    model = load_transition_model(tmp_path / "final.mdl")
    assert list(model.id2pdf_id) == list(system.transition_model.id2pdf_id)
    assert np.allclose(model.log_probs, system.transition_model.log_probs, atol=1e-6)
    write_alignments(tmp_path, alignments)
    read_back = dict(read_int32_vectors(tmp_path))
    assert read_back.keys() == alignments.keys()
    assert all(np.array_equal(read_back[u], alignments[u]) for u in alignments)
    pdfs = dict(pdf_alignments(read_back.items(), model))
    assert max(int(p.max()) for p in pdfs.values()) < model.num_pdfs


def test_final_mdl_holds_the_gmms_in_kaldis_text_layout(toy_corpus, toy_system, tmp_path):
    from blspeech.hybrid.kaldi_serialization import KaldiReader

    lang, *_ = toy_corpus
    system, _ = toy_system
    model = system.acoustic_model
    write_model(tmp_path / "final.mdl", system.transition_model, model, (lang.path / "topo").read_text())
    reader = KaldiReader.open(tmp_path / "final.mdl")
    reader.text_span("<TransitionModel>", "</TransitionModel>")
    reader.expect_token("<DIMENSION>")
    assert reader.read_int32() == model.dim == 39
    reader.expect_token("<NUMPDFS>")
    assert reader.read_int32() == model.num_pdfs
    for pdf in range(model.num_pdfs):
        weights, inv_vars, means_invvars = model.get_pdf(pdf).__getstate__()
        reader.expect_token("<DiagGMM>")
        for token, expected in (("<GCONSTS>", model.get_pdf(pdf).gconsts), ("<WEIGHTS>", weights),
                                ("<MEANS_INVVARS>", means_invvars), ("<INV_VARS>", inv_vars)):
            reader.expect_token(token)
            assert np.allclose(reader.read_float_vector(), np.ravel(expected), rtol=1e-6)
        reader.expect_token("</DiagGMM>")


def test_acoustic_model_reads_back_from_final_mdl(toy_corpus, toy_system, tmp_path):
    lang, _, features, _ = toy_corpus
    system, _ = toy_system
    write_model(tmp_path / "final.mdl", system.transition_model, system.acoustic_model, (lang.path / "topo").read_text())
    model = read_acoustic_model(tmp_path / "final.mdl")
    assert model.num_pdfs == system.acoustic_model.num_pdfs and model.num_gauss == system.acoustic_model.num_gauss
    frames = features["utt01"]
    assert np.allclose(GmmScorer(model)(frames), GmmScorer(system.acoustic_model)(frames), atol=1e-3)


def test_gmm_size_counts_parameters_and_scoring_flops():
    model = flat_start_model([np.random.default_rng(0).normal(size=(10, 39))], num_pdfs=3)  # one Gaussian per pdf
    params, flops = gmm_size(model, frames_per_second=100.0)
    assert params == 3 * (2 * 39 + 1)  # mean and inverse variance per dimension, a weight
    assert flops == 4.0 * 3 * 39 * 100


def test_alignments_that_do_not_fit_their_features_or_align_nothing_are_errors(toy_corpus, toy_system):
    import copy

    from blspeech.hybrid.alignments import AlignmentError
    from blspeech.hybrid_system.gmm import align_utterances, reestimate

    lang, texts, features, _ = toy_corpus
    system, alignments = toy_system
    scratch = copy.deepcopy(system)  # reestimate updates the model it is given
    short = {"utt00": alignments["utt00"][:-3]}  # zip() would silently drop the last three frames
    with pytest.raises(AlignmentError, match=r"utterance utt00: the alignment has \d+ frames, its features \d+"):
        reestimate(scratch, short, features, target_gaussians=scratch.acoustic_model.num_gauss,
                   min_gaussian_occupancy=10.0, config=SMALL)
    compiler = TrainingGraphCompiler(lang, system.tree, system.transition_model)
    noise = {"utt00": np.full_like(features["utt00"][:5], 1e3)}  # five frames cannot hold the words
    with pytest.raises(ValueError, match="align pass 9: none of 1 utterances aligned within retry beam 40"):
        align_utterances(system, {"utt00": compiler.compile(texts["utt00"])}, noise, beam=10, retry_beam=40,
                         stage="align pass 9")
