"""The whole GMM stage on a tiny synthesized corpus: Kaldi layout, alignments, decoding graph."""

from pathlib import Path

import kaldi_hmm_gmm  # noqa: F401  (before kaldifst)
import kaldifst
import numpy as np
import pytest

from blspeech.data.kaldi_dir import DataDir, read_table
from blspeech.hybrid import load_transition_model, num_pdfs, pdf_alignments, read_int32_vectors, read_word_boundary
from blspeech.hybrid.words import TransitionTables, word_frame_spans
from blspeech.hybrid_system.gmm import MonophoneConfig
from blspeech.hybrid_system.gmm_features import GmmFeatures
from blspeech.hybrid_system.lang import LangDir
from blspeech.hybrid_system.system import build_hybrid_system
from blspeech.hybrid_system.triphone import TriphoneConfig

MONOPHONE = MonophoneConfig(num_iters=8, max_iter_inc=6, total_gaussians=200, realign_iters=(1, 2, 3, 4, 5, 6))
TRIPHONE = TriphoneConfig(num_iters=6, max_iter_inc=4, total_gaussians=400, realign_iters=(2, 4), num_leaves=200)
PADDING_FRAMES = 20  # the synthesizer keeps 0.2 s of silence after each segment's speech


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from blspeech.corpus.synth import synthesize_corpus
    from blspeech.data.swbd import prepare_switchboard
    from blspeech.features.compute import compute_features

    root = tmp_path_factory.mktemp("gmm_corpus")
    synthesize_corpus(root / "corpus", hours=0.02, speakers=2, eval_minutes=0, seed=5, jobs=1)
    prepare_switchboard(
        root / "corpus" / "LDC97S62", root / "corpus" / "swb_ms98_transcriptions", output_dir=root / "data", dev_utterances=3
    )
    for name in ("train", "dev"):
        compute_features(root / "data" / name, jobs=1)
    train = root / "data" / "train"
    paths = build_hybrid_system(
        train, train / "text", root / "gmm", dev_dir=root / "data" / "dev", monophone=MONOPHONE, triphone=TRIPHONE
    )
    return root, paths


def test_stage_writes_the_kaldi_layout_and_skips_when_complete(built):
    root, paths = built
    for path in (paths.tree, paths.transition_model, paths.alignments / "ali.1.gz", paths.dev_alignments / "ali.1.gz",
                 paths.graph, paths.words, paths.word_boundary, paths.topo, root / "gmm" / "lexicon_excluded.txt",
                 root / "gmm" / "mono" / "final.mdl", root / "gmm" / "dict" / "lexicon.txt"):
        assert Path(path).is_file(), path
    assert num_pdfs(paths.transition_model) == num_pdfs(paths.tree) > num_pdfs(root / "gmm" / "mono" / "tree")
    stamp = paths.graph.stat().st_mtime_ns
    train = root / "data" / "train"
    assert build_hybrid_system(train, train / "text", root / "gmm", dev_dir=root / "data" / "dev",
                               monophone=MONOPHONE, triphone=TRIPHONE) == paths
    assert paths.graph.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"was made with other settings \(lm_order 3 -> 2"):  # not the system asked for
        build_hybrid_system(train, train / "text", root / "gmm", dev_dir=root / "data" / "dev", lm_order=2,
                            monophone=MONOPHONE, triphone=TRIPHONE)


def test_alignment_puts_the_words_in_order_inside_the_speech(built):
    root, paths = built
    data = DataDir.read(root / "data" / "train")
    frames = {utt: int(n) for utt, n in read_table(root / "data" / "train" / "utt2num_frames").items()}
    model = load_transition_model(paths.transition_model)
    tables, boundary = TransitionTables(model), read_word_boundary(paths.word_boundary)
    features = GmmFeatures(root / "data" / "train")
    alignments = dict(read_int32_vectors(paths.alignments))
    assert len(alignments) >= 0.9 * len(data.utterances)
    word_energy, other_energy, silent_ends = [], [], 0
    for utt, alignment in alignments.items():
        assert len(alignment) == frames[utt]
        spans = word_frame_spans(tables.split_into_phones(alignment), boundary)
        assert len(spans) == len(data.text[utt].split())
        assert all(start < end <= following for (start, end), (following, _) in zip(spans, spans[1:] + [(frames[utt], 0)]))
        silent_ends += frames[utt] - spans[-1][1] >= PADDING_FRAMES // 2
        inside = np.zeros(len(alignment), dtype=bool)
        for start, end in spans:
            inside[start:end] = True
        energy = features[utt][:, 0]  # c0 after mean normalization
        word_energy.append(energy[inside])
        other_energy.append(energy[~inside])
    assert silent_ends >= 0.7 * len(alignments)  # the trailing padding is aligned to silence
    assert np.concatenate(word_energy).mean() > np.concatenate(other_energy).mean() + 5


def test_decoding_graph_accepts_the_training_transcripts(built):
    root, paths = built
    lang = LangDir.read(paths.lang)
    hclg = kaldifst.StdVectorFst(kaldifst.StdFst.read(str(paths.graph)))
    kaldifst.arcsort(hclg, sort_type="ilabel")
    texts = read_table(root / "data" / "train" / "text")
    for utt, alignment in list(read_int32_vectors(paths.alignments))[:10]:
        path = kaldifst.shortest_path(kaldifst.compose(kaldifst.make_linear_acceptor(alignment.tolist()), hclg))
        assert path.num_states > 0, f"{utt}: its training alignment is not a path of HCLG"
        _, _, words, _ = kaldifst.get_linear_symbol_sequence(path)
        assert [w for w in words if w] == lang.word_ids(texts[utt].split())


def test_dev_alignments_are_pdf_targets_for_the_dev_features(built):
    root, paths = built
    frames = read_table(root / "data" / "dev" / "utt2num_frames")
    model = load_transition_model(paths.transition_model)
    targets = dict(pdf_alignments(read_int32_vectors(paths.dev_alignments), model))
    assert targets and all(len(t) == int(frames[u]) for u, t in targets.items())
    assert all(t.max() < model.num_pdfs for t in targets.values())


def test_gmm_features_need_cmvn_stats_and_name_an_unreadable_utterance(tmp_path):
    from blspeech.data.kaldi_dir import DataDirError
    from blspeech.features.ark import write_ark
    from blspeech.features.cmvn import CmvnAccumulator, write_cmvn_stats

    feats = {"s1-u1": np.random.default_rng(0).normal(size=(50, 40)).astype(np.float32)}
    DataDir(utt2spk={"s1-u1": "s1"}, feats_scp=write_ark(tmp_path / "feats.ark", feats.items())).write(tmp_path)
    with pytest.raises(DataDirError, match="no cmvn.scp for the GMM features' mean normalization"):
        GmmFeatures(tmp_path)  # else alignments of raw features would meet models of normalized ones
    accumulator = CmvnAccumulator()
    accumulator.add("s1", feats["s1-u1"])
    write_cmvn_stats(tmp_path, accumulator.stats)
    mfcc = GmmFeatures(tmp_path)["s1-u1"]
    assert mfcc.shape == (50, 39)
    # Static part: the speaker-mean-normalized log-mels through an orthonormal DCT-II, 13 cepstra.
    centred = feats["s1-u1"].astype(np.float64) - feats["s1-u1"].astype(np.float64).mean(axis=0)
    n, k = np.arange(40)[:, None], np.arange(13)[None, :]
    dct = np.sqrt(2 / 40) * np.cos(np.pi * k * (2 * n + 1) / 80)
    dct[:, 0] /= np.sqrt(2)
    np.testing.assert_allclose(mfcc[:, :13], centred @ dct, atol=1e-4)
    assert np.abs(mfcc[:, 13:]).max() > 0.1  # deltas follow (their values: tests of add_deltas)
    ark = tmp_path / "feats.ark"
    ark.write_bytes(ark.read_bytes()[: ark.stat().st_size // 2])
    with pytest.raises(DataDirError, match=r"feats.scp: utterance s1-u1: cannot read"):
        GmmFeatures(tmp_path)["s1-u1"]
