"""blspeech.features.front_end: a model's training front end is recorded and a data dir whose
features differ from it is refused before decoding, naming the difference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from blspeech.config import FeatureConfig, Recipe
from blspeech.data.kaldi_dir import DataDirError, write_table
from blspeech.experiment import Experiment
from blspeech.features.fbank import FbankOptions
from blspeech.features.front_end import check_features_fit_model, front_end_record, training_sample_rate

MODEL = "exp/run/final.pt"


def data_dir_with(root: Path, options: FbankOptions, sample_rate: int | None) -> Path:
    root.mkdir(parents=True)
    (root / "fbank.conf").write_text(options.kaldi_config(sample_rate))
    return root


def test_features_of_the_models_options_and_rate_pass(tmp_path):
    data = data_dir_with(tmp_path / "test", FbankOptions(), 8000)
    check_features_fit_model(data, FeatureConfig(), 8000, MODEL)


def test_audio_at_another_sample_rate_is_refused_with_the_resampling_command(tmp_path):
    data = data_dir_with(tmp_path / "test", FbankOptions(), 22050)
    with pytest.raises(DataDirError) as error:
        check_features_fit_model(data, FeatureConfig(), 8000, MODEL)
    message = str(error.value)
    assert f"{data}/feats.scp" in message and MODEL in message
    assert "--sample-frequency 22050 (the model's 8000)" in message and "sox FILE -r 8000 -t wav - |" in message


@pytest.mark.parametrize("options, difference", [
    (FbankOptions(num_mel_bins=80), "--num-mel-bins 80 (the model's 40)"),
    (FbankOptions(frame_shift_ms=15.0), "--frame-shift 15 (the model's 10)"),
    (FbankOptions(snip_edges=False), "--snip-edges false (the model's true)"),
])
def test_other_filterbank_options_are_refused_with_the_command_that_recomputes(tmp_path, options, difference):
    data = data_dir_with(tmp_path / "test", options, 8000)
    with pytest.raises(DataDirError, match="other features than") as error:
        check_features_fit_model(data, FeatureConfig(), 8000, MODEL)
    assert difference in str(error.value)
    assert f"python -m blspeech.features.compute {data} --overwrite --num-mel-bins 40" in str(error.value)


def test_dither_and_unknown_rates_are_not_compared(tmp_path):
    check_features_fit_model(data_dir_with(tmp_path / "dithered", FbankOptions(dither=1.0), 8000),
                             FeatureConfig(), 8000, MODEL)
    # a model of an earlier version does not know its rate; a data dir of one does not say it
    check_features_fit_model(data_dir_with(tmp_path / "any_rate", FbankOptions(), 16000), FeatureConfig(), None, MODEL)
    check_features_fit_model(data_dir_with(tmp_path / "no_rate", FbankOptions(), None), FeatureConfig(), 8000, MODEL)
    with pytest.raises(DataDirError, match="--num-mel-bins 80"):
        check_features_fit_model(data_dir_with(tmp_path / "other_bins", FbankOptions(num_mel_bins=80), 16000),
                                 FeatureConfig(), None, MODEL)


def test_kaldi_made_features_are_checked_against_the_options_make_fbank_kept(tmp_path):
    kaldi = tmp_path / "kaldi"
    (kaldi / "conf").mkdir(parents=True)
    conf = kaldi / "conf" / "fbank.conf"
    conf.write_text("# swbd/s5c conf/fbank.conf\n--sample-frequency=8000\n--num-mel-bins=40  # 40 bins\n")
    check_features_fit_model(kaldi, FeatureConfig(), 8000, MODEL)  # the rest are Kaldi's defaults, as blspeech's
    conf.write_text("--num-mel-bins=40\n")  # compute-fbank-feats' default rate is 16 kHz
    with pytest.raises(DataDirError, match=r"conf/fbank.conf: --sample-frequency 16000 \(the model's 8000\)"):
        check_features_fit_model(kaldi, FeatureConfig(), 8000, MODEL)
    conf.write_text("--sample-frequency=8000\n--num-mel-bins=40\n--window-type=hamming\n")
    with pytest.raises(DataDirError, match="--window-type hamming \\(the model's povey\\)"):
        check_features_fit_model(kaldi, FeatureConfig(), 8000, MODEL)
    conf.write_text("--sample-frequency=8000\n")  # Kaldi's default 23 bins
    with pytest.raises(DataDirError, match="--num-mel-bins 23 \\(the model's 40\\)"):
        check_features_fit_model(kaldi, FeatureConfig(), 8000, MODEL)


def test_features_made_elsewhere_are_used_and_said_to_be_unchecked(tmp_path, caplog):
    (tmp_path / "kaldi").mkdir()
    caplog.set_level(logging.INFO, logger="blspeech")
    check_features_fit_model(tmp_path / "kaldi", FeatureConfig(), 8000, MODEL)
    assert f"{tmp_path / 'kaldi'} has neither fbank.conf nor conf/fbank.conf" in caplog.text
    assert "does not say the sample rate" not in caplog.text
    check_features_fit_model(data_dir_with(tmp_path / "test", FbankOptions(), 16000), FeatureConfig(), None, MODEL)
    assert f"{MODEL} does not say the sample rate of its training audio" in caplog.text


def test_training_records_the_rate_of_its_data_and_earlier_runs_fall_back_to_the_data_dir(tmp_path):
    recipe = Recipe()
    recipe.data.dir = str(tmp_path / "data")
    train_dir = Experiment(recipe).train_dir
    assert front_end_record(Experiment(recipe)) == {"sample_rate": None}
    assert training_sample_rate({}, recipe) is None
    data_dir_with(train_dir, FbankOptions(), 8000)
    assert front_end_record(Experiment(recipe)) == {"sample_rate": 8000}
    assert training_sample_rate({}, recipe) == 8000  # a final.pt of an earlier version
    assert training_sample_rate({"sample_rate": 16000}, recipe) == 16000  # what training recorded wins


def test_without_a_recorded_rate_the_training_audio_says_it(tmp_path, caplog):
    recipe = Recipe()
    recipe.data.dir = str(tmp_path / "data")
    train_dir = Experiment(recipe).train_dir
    train_dir.mkdir(parents=True)
    soundfile.write(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32), 16000, subtype="PCM_16")
    write_table(train_dir / "wav.scp", {"rec-a": f"cat {tmp_path / 'a.wav'} |", "rec-b": "missing.wav"})
    assert training_sample_rate({}, recipe) == 16000 and front_end_record(Experiment(recipe)) == {"sample_rate": 16000}
    write_table(train_dir / "wav.scp", {"rec-a": str(tmp_path / "moved.wav")})  # audio no longer there
    caplog.set_level(logging.INFO, logger="blspeech")
    assert training_sample_rate({}, recipe) is None
    assert f"sample rate of {train_dir} unknown" in caplog.text and "moved.wav" in caplog.text
