"""End to end on the tiny recipe, for real: synthesize, prepare, featurize, train (killed with
SIGKILL part-way, then resumed), decode and score; then the hybrid recipe on the same data (GMM
system, hybrid training, HCLG decoding of the networks and of the GMM system) and both tables side
by side. Minutes, not seconds.

The bar is "better than chance", measured, not a number tuned to pass: greedy WER on the
training utterances must fall well below 100% and well below that of the same model untrained.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from blspeech.bench.trained import format_decode_timings, time_trained_models
from blspeech.config import load_recipe
from blspeech.data.kaldi_dir import DataDir, read_table
from blspeech.decode.__main__ import main as decode_main
from blspeech.decode.recognize import (compute_log_probs, decode_hybrid, feature_dataset, greedy, hybrid_graph_decoder,
                                       hybrid_loglikes, hypothesis_wer, load_model, write_hypotheses)
from blspeech.hybrid_system.decode_gmm import GMM_ACOUSTIC_SCALE
from blspeech.hybrid_system.gmm_features import GmmFeatures
from blspeech.hybrid_system.model_io import read_acoustic_model
from blspeech.hybrid_training import PRIOR_COUNTS
from blspeech.results import GMM_ROW, reference_files
from blspeech.score import score
from blspeech.experiment import Experiment
from blspeech.models import build_model
from blspeech.models.registry import baseline_twin_config
from blspeech.tokenizer import Tokenizer
from blspeech.training.checkpoint import list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def overrides(root: Path) -> list[str]:
    return [f"corpus.dir={root / 'corpus'}", f"data.dir={root / 'data'}", f"exp_dir={root / 'exp'}",
            "train.checkpoint_every_minutes=0.02"]


def hybrid_overrides(root: Path) -> list[str]:
    """tiny_hybrid.yaml on the CTC run's corpus and data; its GMM system follows its exp dir."""
    return [f"corpus.dir={root / 'corpus'}", f"data.dir={root / 'data'}", f"exp_dir={root / 'exp_hybrid'}"]


def run_train(root: Path, *args: str, recipe: str = "tiny.yaml", settings: list[str] | None = None,
              **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "blspeech.train", str(REPO / "recipes" / recipe), *args]
    for item in overrides(root) if settings is None else settings:
        command += ["--set", item]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 1500) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    finish(run_train(root, "--stop-stage", "units"))
    exp = Experiment(load_recipe(REPO / "recipes" / "tiny.yaml", overrides(root)))
    run_dir = exp.run_dir(exp.recipe.model.name)

    # Train, and kill -9 the process once it has written a checkpoint a few steps in.
    training = run_train(root, "--stage", "train", "--stop-stage", "train")
    deadline = time.monotonic() + 900
    while not [p for p in list_checkpoints(run_dir / "checkpoints") if load_checkpoint(p)["step"] >= 10]:
        assert training.poll() is None, training.communicate()[0][-4000:]
        assert time.monotonic() < deadline, "no checkpoint after 15 minutes"
        time.sleep(0.5)
    os.kill(training.pid, signal.SIGKILL)
    training.communicate()
    killed_at = load_checkpoint(list_checkpoints(run_dir / "checkpoints")[-1])["step"]
    assert not (run_dir / "final.pt").exists()

    refused = finish_expecting_failure(run_train(root, "--stage", "train", "--stop-stage", "train"))
    assert "--resume" in refused
    output = finish(run_train(root, "--stage", "train", "--resume"))
    return exp, run_dir, killed_at, output


def finish_expecting_failure(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0
    return output


def test_resumed_run_completes_the_schedule(tiny_run):
    exp, run_dir, killed_at, _ = tiny_run
    final = load_checkpoint(list_checkpoints(run_dir / "checkpoints")[-1])
    rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    steps = [int(row[0]) for row in rows if row[2] == "train"]
    assert 0 < killed_at < final["step"]
    assert steps == list(range(1, final["step"] + 1))  # every step once: none lost, none repeated
    assert (run_dir / "final.pt").exists() and (run_dir / "curves.png").exists()


def test_greedy_wer_on_training_utterances_is_far_better_than_chance(tiny_run):
    exp, run_dir, _, _ = tiny_run
    tokenizer = Tokenizer.load(exp.tokenizer_model)
    train_set = feature_dataset(exp.recipe, exp.train_dir)
    text = read_table(exp.train_dir / "text")
    shift = exp.recipe.features.frame_shift_ms / 1000

    trained, _ = load_model(run_dir / "final.pt")
    trained_wer = hypothesis_wer(greedy(compute_log_probs(trained, train_set), tokenizer, shift), text)
    torch.manual_seed(0)
    untrained = build_model(**trained.config).eval()
    chance_wer = hypothesis_wer(greedy(compute_log_probs(untrained, train_set), tokenizer, shift), text)
    assert chance_wer >= 95.0
    assert trained_wer < 60.0, f"trained greedy WER {trained_wer:.1f}% on training utterances"


def test_decode_and_score_write_the_reports(tiny_run):
    exp, run_dir, _, output = tiny_run
    for mode in ("greedy", "lm"):
        decode_dir = run_dir / "decode_eval2000" / mode
        assert (decode_dir / "hyp.ctm").stat().st_size > 0
        assert "%WER" in (decode_dir / "wer.txt").read_text()
    table = (exp.exp_dir / "results.md").read_text()
    assert "bl-vgg-small" in table and "eval2000 lm" in table
    assert "| bl-vgg-small |" in output


def test_decode_command_reproduces_the_decode_stage(tiny_run, tmp_path, capsys, caplog):
    """``python -m blspeech.decode`` on the tiny run's test set writes the hypotheses the decode
    stage wrote (same model, tuned LM settings and decoder) and scores them, and dev (text, no stm)
    to the decode stage's WER; another --lm with the tuned settings is warned about; a device the
    machine does not have is refused with a message naming the option, and so are features of audio
    at another rate than training's."""
    exp, run_dir, _, _ = tiny_run
    test_set = exp.recipe.data.test_sets[0]
    command = ["--exp", str(run_dir), "--data", str(exp.data_dir(test_set)), "--out", str(tmp_path / "out")]
    assert decode_main(command + ["--device", "cpu"]) == 0
    for mode in ("greedy", "lm"):
        written = (tmp_path / "out" / mode / "hyp.ctm").read_text()
        assert written and written == (run_dir / f"decode_{test_set}" / mode / "hyp.ctm").read_text()
    assert "%WER" in capsys.readouterr().out
    caplog.set_level(logging.INFO, logger="blspeech")
    assert decode_main(command + ["--lm", str(exp.arpa), "--out", str(tmp_path / "same_lm"), "--no-score"]) == 0
    assert "not with --lm" not in caplog.text  # the LM the settings were tuned with
    other = tmp_path / "other.arpa"
    shutil.copy(exp.arpa, other)
    assert decode_main(command + ["--lm", str(other), "--out", str(tmp_path / "other_lm"), "--no-score"]) == 0
    assert f"holds settings tuned with {exp.arpa}, not with --lm {other}" in caplog.text
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="--device 'cuda' needs GPU 0, but this machine has 0"):
            decode_main(command + ["--device", "cuda"])
    # dev has text but no stm: scored against a reference written from its text, as the score stage does
    dev_out = tmp_path / "dev"
    dev_command = ["--exp", str(run_dir), "--data", str(exp.data_dir(exp.recipe.data.dev_set)), "--out", str(dev_out)]
    stm, glm = reference_files(exp, exp.recipe.data.dev_set)
    assert decode_main(dev_command + ["--greedy-only", "--glm", str(glm)]) == 0
    assert (dev_out / "ref.stm").read_text() == stm.read_text()
    stage_wer = (run_dir / f"decode_{exp.recipe.data.dev_set}" / "greedy" / "wer.txt").read_text().split()[1]
    assert f"%WER {stage_wer} " in capsys.readouterr().out
    # the run knows the rate of its training audio; features of audio at another rate are refused
    assert torch.load(run_dir / "final.pt", weights_only=True)["sample_rate"] == 8000
    resampled = tmp_path / "resampled"
    shutil.copytree(exp.data_dir(test_set), resampled)
    conf = resampled / "fbank.conf"
    conf.write_text(conf.read_text().replace("--sample-frequency=8000", "--sample-frequency=16000"))
    with pytest.raises(SystemExit, match=r"--sample-frequency 16000 \(the model's 8000\)"):
        decode_main(["--exp", str(run_dir), "--data", str(resampled), "--out", str(tmp_path / "resampled_out")])


def test_benchmark_times_trained_models_decoding_their_own_data(tiny_run, tmp_path):
    """The benchmark's real-data decoding timing, on the tiny run's bL model and an untrained
    baseline twin saved beside it (the time a model takes does not depend on its weights)."""
    exp, run_dir, _, _ = tiny_run
    assert time_trained_models([exp.exp_dir / "results.json"], torch.device("cpu"), rounds=1) == []  # no baseline
    experiment = tmp_path / "exp"
    (experiment / "bl-vgg-small").mkdir(parents=True)
    shutil.copy(run_dir / "final.pt", experiment / "bl-vgg-small" / "final.pt")
    state = load_checkpoint(run_dir / "final.pt")
    twin = baseline_twin_config(state["model_config"])
    (experiment / "vgg-small").mkdir()
    torch.save({**state, "model": build_model(**twin).state_dict(), "model_config": twin},
               experiment / "vgg-small" / "final.pt")
    entries = json.loads((exp.exp_dir / "results.json").read_text())
    (experiment / "results.json").write_text(json.dumps(entries + [{**entries[0], "name": "vgg-small"}]))

    timings = time_trained_models([experiment / "results.json"], torch.device("cpu"), rounds=1)
    assert [timing.data_set for timing in timings] == exp.eval_sets
    for timing in timings:
        frames = feature_dataset(exp.recipe, exp.data_dir(timing.data_set)).num_frames
        assert timing.audio_seconds == pytest.approx(sum(frames) * exp.recipe.features.frame_shift_ms / 1000)
        assert list(timing.seconds) == ["bl-vgg-small", "vgg-small"] and min(timing.seconds.values()) > 0
    assert "| bl-vgg-small | vgg-small |" in format_decode_timings(timings)


@pytest.fixture(scope="module")
def tiny_hybrid_run(tiny_run):
    exp, _, _, _ = tiny_run
    root = Path(exp.recipe.exp_dir).parent
    output = finish(run_train(root, recipe="tiny_hybrid.yaml", settings=hybrid_overrides(root)))
    hybrid = Experiment(load_recipe(root / "exp_hybrid" / "recipe.yaml"))  # as the run recorded it
    return exp, hybrid, output


def dev_wer(exp: Experiment, words: dict, out_dir: Path) -> float:
    """Overall WER of ``words`` (utt -> timed words) on the dev set, scored as the score stage scores it."""
    dev = exp.recipe.data.dev_set
    write_hypotheses(out_dir, words, DataDir.read(exp.data_dir(dev)))
    stm, glm = reference_files(exp, dev)
    return score(stm, out_dir / "hyp.ctm", glm=glm, out_dir=out_dir).subsets["Overall"].wer


def test_hybrid_recipe_decodes_dev_far_better_than_an_untrained_model(tiny_hybrid_run):
    _, exp, output = tiny_hybrid_run
    assert "already synthesized with these arguments" in output and "prep: " in output  # the CTC run's, reused
    assert "is complete, skipping" in output
    run_dir = exp.run_dir(exp.recipe.model.name)
    results = {r["name"]: r for r in json.loads((exp.exp_dir / "results.json").read_text())}
    trained_wer = results["bl-vgg-small"]["wer"][f"{exp.recipe.data.dev_set}/graph"]["Overall"]

    dev_dir = exp.data_dir(exp.recipe.data.dev_set)
    trained, _ = load_model(run_dir / "final.pt")
    torch.manual_seed(0)
    untrained = build_model(**trained.config).eval()
    words = decode_hybrid(hybrid_loglikes(compute_log_probs(untrained, feature_dataset(exp.recipe, dev_dir)),
                                          run_dir / PRIOR_COUNTS), hybrid_graph_decoder(exp.recipe))
    chance_wer = dev_wer(exp, words, exp.exp_dir / "untrained_decode_dev")
    assert trained_wer < 0.7 * chance_wer, f"hybrid dev WER {trained_wer:.1f}% vs untrained {chance_wer:.1f}%"


def test_the_gmm_system_is_decoded_and_scored_beside_the_networks(tiny_hybrid_run):
    _, exp, output = tiny_hybrid_run
    assert "GMM-HMM system" in output and (exp.gmm_system_dir / "decode.json").exists()
    row = next(line for line in (exp.exp_dir / "results.md").read_text().splitlines() if line.startswith(f"| {GMM_ROW} |"))
    assert GMM_ROW not in {r["name"] for r in json.loads((exp.exp_dir / "results.json").read_text())}
    dev = exp.recipe.data.dev_set
    gmm_wer = float((exp.gmm_system_dir / f"decode_{dev}" / "graph" / "wer.txt").read_text().split()[1])
    assert f"| {gmm_wer:.1f} |" in row
    # Chance: the same graph and acoustic scale with every pdf equally likely (no acoustic information).
    num_pdfs = read_acoustic_model(exp.gmm_system_dir / "final.mdl").num_pdfs
    flat = {utt: np.zeros((len(features), num_pdfs), dtype=np.float32) for utt, features in GmmFeatures(exp.data_dir(dev))}
    words = decode_hybrid(flat, hybrid_graph_decoder(exp.recipe, acoustic_scale=GMM_ACOUSTIC_SCALE))
    chance_wer = dev_wer(exp, words, exp.exp_dir / "flat_decode_dev")
    assert gmm_wer < 0.7 * chance_wer, f"GMM dev WER {gmm_wer:.1f}% vs no acoustic information {chance_wer:.1f}%"


def test_hybrid_lm_weight_is_tuned_on_dev_and_the_decode_command_uses_it(tiny_hybrid_run, tmp_path, caplog):
    _, exp, _ = tiny_hybrid_run
    weights = exp.recipe.hybrid.lm_weights
    assert len(weights) > 1
    for run_dir in (exp.run_dir(exp.recipe.model.name), exp.gmm_system_dir):
        chosen = json.loads((run_dir / "decode.json").read_text())["acoustic_scale"]
        assert any(chosen == pytest.approx(1 / weight) for weight in weights), run_dir
        rows = (run_dir / "lm_tuning.txt").read_text().splitlines()[1:]
        assert [float(row.split()[0]) for row in rows] == weights
        assert sum("<- best" in row for row in rows) == 1
    run_dir, test_set = exp.run_dir(exp.recipe.model.name), exp.recipe.data.test_sets[0]
    graph = exp.gmm_system_dir / "graph" / "HCLG.fst"
    caplog.set_level(logging.INFO, logger="blspeech")
    assert decode_main(["--hybrid", "--exp", str(run_dir), "--data", str(exp.data_dir(test_set)), "--graph", str(graph),
                        "--model", str(exp.gmm_system_dir / "final.mdl"), "--out", str(tmp_path), "--no-score"]) == 0
    written = (tmp_path / "graph" / "hyp.ctm").read_text()
    assert written and written == (run_dir / f"decode_{test_set}" / "graph" / "hyp.ctm").read_text()
    chosen = json.loads((run_dir / "decode.json").read_text())["acoustic_scale"]
    assert f"decode: acoustic scale {chosen:g} (the run's dev tuning" in caplog.text
    with pytest.raises(ValueError, match="acoustic_scale"):  # refused, not replaced by the recipe's scale
        hybrid_graph_decoder(exp.recipe, acoustic_scale=0.0)


def test_ctc_and_hybrid_tables_print_side_by_side(tiny_hybrid_run):
    ctc, hybrid, _ = tiny_hybrid_run
    compared = subprocess.run([sys.executable, "-m", "blspeech.results", str(ctc.exp_dir), str(hybrid.exp_dir)],
                              cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "| CTC, lexicon + LM beam search |" in compared and "| hybrid, HCLG |" in compared
