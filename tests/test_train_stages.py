"""How the main job wires its stages: what each stage is handed."""

import argparse
import os
from pathlib import Path

import pytest

from blspeech.config import load_recipe
from blspeech.experiment import Experiment
from blspeech.train import stage_units


@pytest.mark.parametrize("speed_perturb", [[], [0.9, 1.1]])
def test_the_gmm_system_trains_on_the_training_dir_and_takes_its_lm_from_the_plain_text(tmp_path, monkeypatch,
                                                                                         speed_perturb):
    import blspeech.hybrid_system

    handed = {}
    monkeypatch.setattr(blspeech.hybrid_system, "build_hybrid_system",
                        lambda data_dir, lang_text, out_dir, **options: handed.update(data=data_dir, text=lang_text))
    exp = Experiment(load_recipe(None, [f"exp_dir={tmp_path / 'exp'}", f"data.dir={tmp_path / 'data'}",
                                        "model.output=hybrid", "hybrid.build_system=true",
                                        f"features.speed_perturb={speed_perturb}"]))
    stage_units(exp, argparse.Namespace())
    assert handed["data"] == exp.train_dir  # train_sp with speed perturbation: its audio is the GMM's data
    assert handed["text"] == tmp_path / "data" / "train" / "text"  # never train_sp's tripled sentences


def test_a_data_dir_another_run_is_preparing_is_refused(tmp_path, capsys):
    from blspeech.train import main
    from blspeech.training.lock import ExperimentLock

    settings = ["--set", f"exp_dir={tmp_path / 'exp'}", "--set", f"data.dir={tmp_path / 'data'}",
                "--set", f"corpus.dir={tmp_path / 'corpus'}", "--stage", "prep", "--stop-stage", "prep"]
    with ExperimentLock(tmp_path / "data"):  # another recipe on the same corpus, preparing its data
        assert main([str(Path(__file__).parents[1] / "recipes" / "tiny.yaml"), *settings]) == 2
    assert f"{tmp_path / 'data'} is in use by pid {os.getpid()}" in capsys.readouterr().err


def test_the_synthesized_corpus_is_locked_from_beside_it(tmp_path):
    from blspeech.train import shared_dir_lock

    exp = Experiment(load_recipe(None, [f"corpus.dir={tmp_path / 'corpora' / 'mini'}"]))
    with shared_dir_lock(exp, "corpus"):
        assert not (tmp_path / "corpora" / "mini").exists()  # synthesis wants an empty or new directory
    assert shared_dir_lock(exp, "train") is None
