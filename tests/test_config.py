"""The recipe tree: YAML in, typed overrides, errors that name the key and the file."""

from pathlib import Path

import pytest

from blspeech.config import ConfigError, load_recipe, save_recipe

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_defaults_and_overrides():
    recipe = load_recipe(None, ["train.lr=0.01", "model.overrides.alpha=4", "features.speed_perturb=[0.9, 1.1]"])
    assert recipe.train.lr == 0.01
    assert recipe.model.overrides == {"alpha": 4}
    assert recipe.features.speed_perturb == [0.9, 1.1]


def test_numbers_are_read_as_written(tmp_path):
    # YAML 1.1 would refuse 1e-3 as a float, read seed=010 as 8 and max_frames=1:30 as 90.
    recipe = load_recipe(None, ["train.lr=1e-3", "train.weight_decay=-2.5E-2", "seed=010"])
    assert (recipe.train.lr, recipe.train.weight_decay, recipe.seed) == (0.001, -0.025, 10)
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  lr: 3e-4\n  amp: false\ncorpus:\n  dir: off\n")
    recipe = load_recipe(path)
    assert (recipe.train.lr, recipe.train.amp, recipe.corpus.dir) == (3e-4, False, "off")  # off: a name, not false
    with pytest.raises(ConfigError, match="'train.max_frames' must be int, got '1:30'"):
        load_recipe(None, ["train.max_frames=1:30"])
    with pytest.raises(ConfigError, match="'train.amp' must be true or false, got 'yes'"):
        load_recipe(None, ["train.amp=yes"])


def test_a_mapping_for_a_section_sets_its_keys_and_keeps_the_others():
    base = load_recipe(Path(__file__).parents[1] / "recipes" / "tiny.yaml")
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "tiny.yaml",
                         ["train={epochs: 5, lr: 0.01}", "features={specaugment_settings: {freq_masks: 1}}",
                          "model.overrides={alpha: 4}", "model.overrides={beta: 2}"])
    assert (recipe.train.epochs, recipe.train.lr) == (5, 0.01)
    assert (recipe.train.max_frames, recipe.train.warmup_steps) == (base.train.max_frames, base.train.warmup_steps)
    assert recipe.features.specaugment_settings.freq_masks == 1
    assert recipe.features.specaugment_settings.time_masks == base.features.specaugment_settings.time_masks
    assert recipe.model.overrides == {"beta": 2}  # a free mapping is replaced whole
    with pytest.raises(ConfigError, match="unknown key 'train.epoch'"):
        load_recipe(None, ["train={epoch: 5}"])


def test_int_is_accepted_for_float():
    assert load_recipe(None, ["train.lr=1"]).train.lr == 1.0


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "unknown key 'train.lrr'"),
    ("nosuch.key=1", "unknown key 'nosuch'"),
    ("train.lr=fast", "'train.lr' must be float"),
    ("train.epochs=1.5", "'train.epochs' must be int"),
    ("features.specaugment=3", "must be true or false"),
    ("train.lr", "section.key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, [override])


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("train:\n  epochs: 2\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'train\.learning_rate'"):
        load_recipe(recipe)


def test_wrong_type_in_file(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model:\n  compare: vgg-small\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: 'model\.compare' must be a list"):
        load_recipe(recipe)


def test_yaml_is_loaded_safely(tmp_path):
    recipe = tmp_path / "evil.yaml"
    recipe.write_text("exp_dir: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(recipe)


def test_save_round_trip(tmp_path):
    # Strings that read as numbers or dates unquoted are written so that they read back as strings.
    recipe = load_recipe(None, ["train.epochs=7", 'corpus.dir="1e-3"', 'data.dir="010"', 'exp_dir="2026-11-26"'])
    save_recipe(recipe, tmp_path / "recipe.yaml")
    assert load_recipe(tmp_path / "recipe.yaml") == recipe


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_load(path):
    load_recipe(path)


def test_a_run_that_changes_what_an_experiment_made_is_refused(tmp_path, capsys):
    from blspeech.config import recipe_changes
    from blspeech.experiment import Experiment
    from blspeech.train import check_recipe_unchanged, main

    tiny = Path(__file__).parents[1] / "recipes" / "tiny.yaml"
    first = load_recipe(tiny, [f"exp_dir={tmp_path}"])
    save_recipe(first, tmp_path / "recipe.yaml")  # what the first run recorded
    # Settings of how a run computes (threads, workers, devices, checkpoint cadence) may change.
    check_recipe_unchanged(Experiment(load_recipe(tiny, [f"exp_dir={tmp_path}", "train.threads=2", "features.jobs=1"])))
    changed = load_recipe(tiny, [f"exp_dir={tmp_path}", "units.vocab_size=30", "train.epochs=99"])
    assert recipe_changes(first, changed) == [f"units.vocab_size {first.units.vocab_size!r} -> 30",
                                              f"train.epochs {first.train.epochs!r} -> 99"]
    # A first run that failed before making anything leaves nothing to protect.
    check_recipe_unchanged(Experiment(changed))
    (tmp_path / "tokenizer.model").write_bytes(b"made by the first run")
    # Every stage would find its outputs complete and report the old tokenizer and model as new.
    assert main([str(tiny), "--set", f"exp_dir={tmp_path}", "--set", "train.epochs=99"]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} holds outputs made with the recipe in {tmp_path / 'recipe.yaml'}" in error
    assert f"train.epochs {first.train.epochs!r} -> 99" in error and "another exp_dir" in error
