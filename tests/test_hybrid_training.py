"""The hybrid path of the main job against a real Kaldi system (the shared fixtures): pdf-id
targets from Kaldi alignments, frame cross-entropy training, priors, decoding with the Kaldi
HCLG, log-likelihood export, and a wrong pdf count refused."""

import logging
from pathlib import Path

import numpy as np
import pytest

import blspeech.hybrid as hybrid
from blspeech.config import load_recipe
from blspeech.data.kaldi_dir import write_table
from blspeech.decode.__main__ import main as decode_main
from blspeech.decode.recognize import decode_hybrid_experiment
from blspeech.experiment import Experiment
from blspeech.export import export_loglikes
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import CmvnAccumulator, write_cmvn_stats
from blspeech.hybrid_training import PRIOR_COUNTS, train_hybrid_model

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "kaldi-fixtures"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"Kaldi fixtures not found at {FIXTURES}")


def featurized_data_dir(root: Path) -> None:
    """Features for the fixture utterances, each frame a noisy one-hot of its aligned pdf, so the
    network can learn the alignment; segments and reco2file_and_channel as in the fixture data."""
    model = hybrid.load_transition_model(FIXTURES / "exp" / "final.mdl")
    rng = np.random.default_rng(0)
    feats, acc = {}, CmvnAccumulator()
    for utt, pdfs in hybrid.pdf_alignments(hybrid.read_int32_vectors(FIXTURES / "exp" / "ali.txt"), model):
        matrix = rng.normal(0, 0.1, size=(len(pdfs), 40)).astype(np.float32)
        matrix[np.arange(len(pdfs)), pdfs % 40] += 2.0
        matrix[np.arange(len(pdfs)), (pdfs // 40) + 30] += 2.0
        feats[utt] = matrix
        acc.add(utt, matrix)
    root.mkdir(parents=True)
    write_table(root / "feats.scp", write_ark(root / "feats.ark", feats.items()))
    write_table(root / "utt2spk", {utt: utt for utt in feats})
    write_cmvn_stats(root, acc.stats)
    for name in ("text", "segments", "reco2file_and_channel", "stm", "glm"):
        (root / name).write_text((FIXTURES / "data" / name).read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("hybrid")
    featurized_data_dir(root / "data" / "train")
    recipe = load_recipe(None, [
        f"exp_dir={root / 'exp'}", f"data.dir={root / 'data'}", "data.dev_set=train", "data.test_sets=[]",
        "features.channels=1", "features.specaugment=false", "model.name=bl-vgg-small", "model.output=hybrid",
        "train.epochs=40", "train.lr=0.003", "train.warmup_steps=5", "train.max_frames=2000", "train.threads=1",
        f"hybrid.alignments={FIXTURES / 'exp' / 'ali.txt'}", f"hybrid.dev_alignments={FIXTURES / 'exp' / 'ali.txt'}",
        f"hybrid.transition_model={FIXTURES / 'exp' / 'final.mdl'}", f"hybrid.graph={FIXTURES / 'exp' / 'HCLG.fst'}",
        f"hybrid.words={FIXTURES / 'lang' / 'words.txt'}", f"hybrid.word_boundary={FIXTURES / 'lang' / 'phones' / 'word_boundary.int'}",
    ])
    exp = Experiment(recipe)
    train_hybrid_model(exp, "bl-vgg-small", resume=False)
    return exp, exp.run_dir("bl-vgg-small")


def test_priors_are_the_alignment_pdf_counts(trained):
    _, run_dir = trained
    counts = hybrid.read_counts(run_dir / PRIOR_COUNTS)
    model = hybrid.load_transition_model(FIXTURES / "exp" / "final.mdl")
    expected = hybrid.count_pdfs(hybrid.pdf_alignments(hybrid.read_int32_vectors(FIXTURES / "exp" / "ali.txt"), model), 88)
    assert counts.tolist() == expected.tolist() and counts.sum() == 620


def test_trained_hybrid_model_decodes_the_reference_words_with_the_kaldi_graph(trained):
    exp, run_dir = trained
    decode_hybrid_experiment(exp, "bl-vgg-small")
    recognitions = (run_dir / "decode_train" / "graph" / "recognitions.txt").read_text().splitlines()
    refs = {line.split("\t")[0]: line.split("=", 1)[1] for line in recognitions if "\tref=" in line}
    hyps = {line.split("\t")[0]: line.split("=", 1)[1] for line in recognitions if "\thyp=" in line}
    correct = sum(refs[utt] == hyps[utt] for utt in refs)
    assert correct >= 4, (refs, hyps)
    assert (run_dir / "decode_train" / "graph" / "hyp.ctm").stat().st_size > 0


def test_exported_loglikes_fit_the_kaldi_model(trained, tmp_path):
    exp, run_dir = trained
    result = export_loglikes(run_dir, exp.data_dir("train"), tmp_path / "loglikes")
    assert result.ark.num_utterances == 5
    assert "latgen-faster-mapped" in result.latgen_command


def test_a_tree_with_another_pdf_count_is_refused(trained):
    exp, run_dir = trained
    with pytest.raises(ValueError, match=rf"{run_dir / 'final.pt'} has 88 outputs but .*mono_final.mdl has 61 pdfs"):
        export_loglikes(run_dir, exp.data_dir("train"), run_dir / "bad", transition_model=FIXTURES / "exp" / "mono_final.mdl")


def test_decode_command_checks_its_kaldi_files_before_the_network_runs_and_names_them(trained, tmp_path, caplog):
    _, run_dir = trained
    command = ["--hybrid", "--exp", str(run_dir), "--data", str(run_dir.parent.parent / "data" / "train"),
               "--no-score", "--out", str(tmp_path / "out")]
    graph = ["--graph", str(FIXTURES / "exp" / "HCLG.fst")]
    assert decode_main(command + graph + ["--word-boundary", str(FIXTURES / "lang" / "phones" / "word_boundary.int")]) == 0
    assert (tmp_path / "out" / "graph" / "hyp.ctm").stat().st_size > 0
    caplog.set_level(logging.INFO, logger="blspeech")
    refused = [
        (["--graph", str(tmp_path / "missing" / "HCLG.fst")], "missing/HCLG.fst not found"),
        (["--graph", str(FIXTURES / "exp")], "exp is a directory: give the HCLG.fst file"),
        (graph + ["--word-boundary", str(tmp_path / "wb.int")], "wb.int not found"),
        (graph + ["--tree", str(FIXTURES / "exp" / "tree")], "both a tree and a topo file"),
        (graph + ["--model", str(FIXTURES / "exp" / "mono_final.mdl")],
         rf"{run_dir / 'final.pt'} has 88 outputs but .*mono_final.mdl has 61 pdfs"),
    ]
    for extra, message in refused:
        caplog.clear()
        with pytest.raises(SystemExit, match=rf"^blspeech.decode: error: .*{message}"):
            decode_main(command + extra)
        assert "FeatureDataset" not in caplog.text  # refused before the features were read
