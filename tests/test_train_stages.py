"""How the main job wires its stages: what each stage is handed."""

import argparse
import json
import os
from pathlib import Path

import pytest

from blspeech.config import load_recipe
from blspeech.experiment import Experiment
from blspeech.config import ConfigError, save_recipe
from blspeech.train import (check_recipe_unchanged, prep_settings, stage_corpus, stage_prep, stage_units,
                            with_gmm_system_paths)


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


def test_a_complete_corpus_synthesized_with_other_settings_is_refused(tmp_path):
    exp = Experiment(load_recipe(None, [f"corpus.dir={tmp_path / 'corpus'}", "corpus.hours=0.5", "corpus.seed=7"]))
    (tmp_path / "corpus").mkdir()
    other = {"hours": 0.08, "speakers": 40, "eval_minutes": 15.0, "seed": 1, "text_file": None, "ms98_dir": None,
             "engines": None}
    (tmp_path / "corpus" / "synthesis.json").write_text(json.dumps({"parameters": other, "summary": {}}))
    (tmp_path / "corpus" / ".complete").write_text("done\n")
    with pytest.raises(ValueError, match="holds a corpus synthesized with .*'hours': 0.08.*, not .*'hours': 0.5"):
        stage_corpus(exp, argparse.Namespace())


def test_complete_data_dirs_prepared_with_other_settings_are_refused(tmp_path, monkeypatch):
    import blspeech.data.swbd

    prepared = []
    monkeypatch.setattr(blspeech.data.swbd, "prepare_switchboard", lambda *args, **kwargs: prepared.append(kwargs))
    settings = [f"corpus.dir={tmp_path / 'corpus'}", f"data.dir={tmp_path / 'data'}"]
    exp = Experiment(load_recipe(None, settings))
    stage_prep(exp, argparse.Namespace())
    assert len(prepared) == 1 and json.loads((tmp_path / "data" / ".complete").read_text()) == prep_settings(exp)
    stage_prep(exp, argparse.Namespace())  # the same settings: complete, skipped
    assert len(prepared) == 1
    other = Experiment(load_recipe(None, [*settings, "data.dev_utterances=30"]))
    with pytest.raises(ValueError, match=r"data \(data.dir\) was made with other settings \(dev_utterances 200 -> 30\)"):
        stage_prep(other, argparse.Namespace())
    (tmp_path / "data" / ".complete").write_text("prepared\n")  # an earlier version's marker: not checked
    stage_prep(other, argparse.Namespace())
    assert len(prepared) == 1


def test_stage_errors_and_unknown_names_are_one_line_and_name_the_stage_or_key(tmp_path, capsys, monkeypatch):
    import blspeech.train
    from blspeech.train import main

    recipe = str(Path(__file__).parents[1] / "recipes" / "tiny.yaml")
    settings = ["--set", f"exp_dir={tmp_path / 'exp'}", "--set", f"data.dir={tmp_path / 'data'}",
                "--set", f"corpus.dir={tmp_path / 'corpus'}"]
    refused = [("model.compare=[vgg-smal]", "model.compare 'vgg-smal' is not one of bl-resnet,"),
               ("model.compare=[bl-vgg-small]", "model.compare ['bl-vgg-small'] repeats a model"),
               ("train.epochs=0", "train.validate_every_steps and train.epochs must be >= 1, got 100 and 0"),
               ("model.overrides={bogus: 1}", "model.overrides {'bogus': 1}, features): unknown model setting")]
    for setting, message in refused:
        assert main([recipe, *settings, "--set", setting]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "exp").exists()  # before any stage or record

    def unreadable(exp, args):
        raise OSError(f"{tmp_path / 'corpus' / 'x.sph'}: cannot read")

    monkeypatch.setitem(blspeech.train.STAGE_FUNCTIONS, "corpus", unreadable)
    assert main([recipe, *settings, "--stop-stage", "corpus"]) == 2
    assert capsys.readouterr().err == f"blspeech.train: error: stage corpus: {tmp_path / 'corpus' / 'x.sph'}: cannot read\n"
    assert main([str(tmp_path), *settings]) == 2
    assert f"{tmp_path}: cannot read the recipe" in capsys.readouterr().err


def test_a_hybrid_recipe_trains_and_decodes_with_the_gmm_system_under_its_own_exp_dir(tmp_path):
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "tiny_hybrid.yaml", [f"exp_dir={tmp_path / 'moved'}"])
    hybrid = with_gmm_system_paths(recipe).hybrid
    gmm = tmp_path / "moved" / "gmm"
    assert (hybrid.alignments, hybrid.dev_alignments) == (str(gmm), str(gmm / "dev_ali"))
    assert (hybrid.transition_model, hybrid.graph) == (str(gmm / "final.mdl"), str(gmm / "graph" / "HCLG.fst"))
    with pytest.raises(ConfigError, match=r"hybrid.graph exp/tiny_hybrid/gmm/graph/HCLG.fst is not the GMM system"):
        with_gmm_system_paths(load_recipe(None, [
            f"exp_dir={tmp_path / 'moved'}", "model.output=hybrid", "hybrid.build_system=true",
            "hybrid.graph=exp/tiny_hybrid/gmm/graph/HCLG.fst"]))
    own = load_recipe(None, ["model.output=hybrid", "hybrid.graph=mine/HCLG.fst"])  # a Kaldi system of one's own
    assert with_gmm_system_paths(own) == own


def test_an_exp_dir_recorded_with_the_gmm_paths_spelled_out_is_the_same_recipe(tmp_path):
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "tiny_hybrid.yaml", [f"exp_dir={tmp_path / 'exp'}"])
    gmm = tmp_path / "exp" / "gmm"
    spelled = load_recipe(Path(__file__).parents[1] / "recipes" / "tiny_hybrid.yaml", [
        f"exp_dir={tmp_path / 'exp'}", f"hybrid.alignments={gmm}", f"hybrid.graph={gmm / 'graph' / 'HCLG.fst'}"])
    save_recipe(spelled, tmp_path / "exp" / "recipe.yaml")  # as an earlier version recorded it
    (tmp_path / "exp" / "gmm").mkdir()
    check_recipe_unchanged(Experiment(with_gmm_system_paths(recipe)))
    with pytest.raises(ConfigError, match="train.epochs"):
        check_recipe_unchanged(Experiment(with_gmm_system_paths(load_recipe(
            Path(__file__).parents[1] / "recipes" / "tiny_hybrid.yaml", [f"exp_dir={tmp_path / 'exp'}", "train.epochs=3"]))))


def test_under_torchrun_only_training_is_shared_out(tmp_path, capsys, monkeypatch):
    import blspeech.train
    from blspeech.train import main

    recipe = str(Path(__file__).parents[1] / "recipes" / "tiny.yaml")
    settings = ["--set", f"exp_dir={tmp_path / 'exp'}", "--set", f"data.dir={tmp_path / 'data'}",
                "--set", f"corpus.dir={tmp_path / 'corpus'}"]
    ran = []
    for stage in ("train", "decode", "score"):
        monkeypatch.setitem(blspeech.train.STAGE_FUNCTIONS, stage, lambda exp, args, stage=stage: ran.append(stage))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main([recipe, *settings]) == 2  # corpus .. units write what every rank reads: one process first
    assert "only training is shared out" in capsys.readouterr().err and not (tmp_path / "corpus").exists()
    assert main([recipe, *settings, "--stage", "train"]) == 0
    assert ran == ["train"]  # rank 1 trains, then leaves decoding and scoring to rank 0
    monkeypatch.setenv("RANK", "0")
    assert main([recipe, *settings, "--stage", "train"]) == 0
    assert ran == ["train", "train", "decode", "score"]
