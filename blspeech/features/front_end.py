"""The front end a trained model expects, and the check that a data dir's features are its kind.

A network reads its input as the mel bins and frames of its training features, at the sample
rate of its training audio. Features computed with other options, or from audio at another
rate, can have the very shape the network expects and then decode to wrong words without any
error (a model trained on 8 kHz telephone speech, given features of 22.05 kHz audio, puts out
syllable salad). So training records the rate of its audio in ``final.pt``, and decoding and the
loglikes export compare a data dir's ``fbank.conf`` with the model's options and refuse a
difference. Dither is left out of the comparison: it adds noise of about one int16 step, and
recipes may train with it and test without. Features made by Kaldi are checked against the copy
of its options that ``steps/make_fbank*.sh`` keeps in ``conf/fbank.conf`` (Kaldi's defaults
filling what it leaves out); a data dir with neither file cannot be checked, which is logged,
and its features are used as they are. A run of an
earlier version, whose ``final.pt`` lacks the rate, takes it from its training data dir: the
``fbank.conf`` there, else the first recording of its ``wav.scp``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blspeech.config import FeatureConfig, Recipe
from blspeech.data.audio import AudioError, load_recording
from blspeech.data.kaldi_dir import DataDirError, read_table
from blspeech.experiment import Experiment
from blspeech.features.compute import OPTIONS_FILE, recorded_options, recorded_sample_rate
from blspeech.features.fbank import FbankOptions

logger = logging.getLogger("blspeech")

SAMPLE_RATE_KEY = "sample_rate"  # final.pt: the sample rate of the training audio, or None
UNCHECKED_OPTIONS = ("--dither",)
KALDI_CONF = Path("conf") / OPTIONS_FILE  # where Kaldi's make_fbank*.sh keeps a copy of its options
# compute-fbank-feats' defaults for the options blspeech compares (its own default rate is 16 kHz).
KALDI_DEFAULTS = {"--num-mel-bins": "23", "--frame-length": "25", "--frame-shift": "10", "--snip-edges": "true",
                  "--low-freq": "20", "--high-freq": "0", "--sample-frequency": "16000"}
# Options blspeech's filterbank never changes (torchaudio's Kaldi-compatible defaults, which are
# Kaldi's): a Kaldi configuration setting one of them otherwise made other features.
FIXED_OPTIONS = {"--window-type": "povey", "--preemphasis-coefficient": "0.97", "--remove-dc-offset": "true",
                 "--use-energy": "false", "--use-log-fbank": "true", "--use-power": "true", "--raw-energy": "true",
                 "--round-to-power-of-two": "true"}


def fbank_options(features: FeatureConfig) -> FbankOptions:
    """The fbank options the features stage uses for a recipe (it sets these; the rest are Kaldi's defaults)."""
    return FbankOptions(num_mel_bins=features.num_mel_bins, frame_length_ms=features.frame_length_ms,
                        frame_shift_ms=features.frame_shift_ms, dither=features.dither)


def data_dir_sample_rate(data_dir: str | os.PathLike) -> int | None:
    """The sample rate of a data dir's audio: as its ``fbank.conf`` states it, else that of the
    first recording in its ``wav.scp`` (all of a featurized dir's share one); None when there is
    neither or the recording cannot be read (the data dir was moved, say)."""
    root = Path(data_dir)
    rate = recorded_sample_rate(root)
    if rate is not None or not (root / "wav.scp").is_file():
        return rate
    first = next(iter(read_table(root / "wav.scp").values()), None)
    try:
        return load_recording(first)[1] if first is not None else None
    except AudioError as error:
        logger.info("sample rate of %s unknown: %s", root, error)
        return None


def front_end_record(exp: Experiment) -> dict[str, int | None]:
    """What training adds to ``final.pt`` about its front end: the sample rate of its training audio."""
    return {SAMPLE_RATE_KEY: data_dir_sample_rate(exp.train_dir)}


def training_sample_rate(state: Mapping[str, Any], recipe: Recipe) -> int | None:
    """The sample rate of the audio a model was trained on: as training recorded it in
    ``final.pt``, else (a run of an earlier version) that of the recipe's training data dir;
    None when neither says."""
    if state.get(SAMPLE_RATE_KEY) is not None:
        return int(state[SAMPLE_RATE_KEY])
    return data_dir_sample_rate(Experiment(recipe).train_dir)


def _as_dict(options: list[str]) -> dict[str, str]:
    return dict(option.split("=", 1) if "=" in option else (option, "true") for option in options)


def recorded_front_end(data_dir: Path) -> tuple[Path, dict[str, str]] | None:
    """The options file of a data dir's features and its options: blspeech's ``fbank.conf`` (an
    option it leaves out is unknown), else the copy Kaldi's ``steps/make_fbank*.sh`` keeps in
    ``conf/fbank.conf`` (an option it leaves out has Kaldi's default); None without either."""
    if (data_dir / OPTIONS_FILE).is_file():
        return data_dir / OPTIONS_FILE, _as_dict(recorded_options(data_dir))
    kaldi = data_dir / KALDI_CONF
    if not kaldi.is_file():
        return None
    words = [word for line in kaldi.read_text(encoding="utf-8").splitlines() for word in line.split("#", 1)[0].split()]
    return kaldi, {**KALDI_DEFAULTS, **_as_dict(words)}


def _same_value(first: str, second: str) -> bool:
    try:
        return float(first) == float(second)
    except ValueError:
        return first == second


def check_features_fit_model(data_dir: str | os.PathLike, features: FeatureConfig, sample_rate: int | None,
                             model: str) -> None:
    """Raise a ``DataDirError`` naming ``data_dir`` and ``model`` when the data dir's features were
    computed with other fbank options than the model was trained on, or from audio at another
    sample rate (compared where both are known)."""
    root = Path(data_dir)
    if sample_rate is None:
        logger.warning("%s does not say the sample rate of its training audio: the rate of %s's features is not "
                       "checked against it", model, root)
    found = recorded_front_end(root)
    if found is None:
        logger.info("%s has neither %s nor %s: its features are taken to be computed as %s's training features were",
                    root, OPTIONS_FILE, KALDI_CONF, model)
        return
    source, recorded = found
    expected = {**FIXED_OPTIONS, **_as_dict(fbank_options(features).kaldi_config(sample_rate).split())}
    differing = [f"{key} {recorded[key]} (the model's {expected[key]})" for key in expected
                 if key in recorded and key not in UNCHECKED_OPTIONS and not _same_value(recorded[key], expected[key])]
    if differing:
        resample = (f", resampling the audio to {sample_rate} Hz in wav.scp where it is at another rate "
                    f"(e.g. 'sox FILE -r {sample_rate} -t wav - |')" if sample_rate is not None else "")
        raise DataDirError(
            f"{root}/feats.scp was computed with other features than {model} was trained on ({source}: "
            f"{'; '.join(differing)}). "
            f"Recompute them with the model's options (python -m blspeech.features.compute {root} --overwrite "
            f"--num-mel-bins {features.num_mel_bins} --frame-length-ms {features.frame_length_ms:g} "
            f"--frame-shift-ms {features.frame_shift_ms:g}){resample}")
