"""``features.json``: everything a user of an exported model needs to compute its inputs and read its outputs.

An exported network is useless without the exact front end it was trained on, so the file
states the Kaldi fbank options and the sample rate of the training audio (also written as
``fbank.conf`` for ``compute-fbank-feats``, which refuses audio at another rate), the
CMVN mode, the deltas stacked as channels, the input and output layouts, and the units.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from blspeech.config import FeatureConfig
from blspeech.export.trained_run import TrainedRun
from blspeech.features.fbank import INT16_SCALE
from blspeech.features.front_end import fbank_options

FORMAT_VERSION = 1
DELTA_ORDER, DELTA_WINDOW = 2, 2  # what FeatureDataset stacks for channels=3 (Kaldi add-deltas defaults)
INPUT_NAMES = ("features", "lengths")
PADDING_NOTE = ("channel 0 static log-mel, 1 delta, 2 delta-delta. Frames past a length are zeroed after every stage, "
                "but within a stage they still reach the last few output frames of a shorter utterance in a padded "
                "batch: run an utterance alone for outputs that depend on it only (blspeech decodes in batches of "
                "utterances of similar length, decode.max_frames, so matching its numbers exactly needs its batches)")
OUTPUT_NAMES = ("logits", "out_lengths")


def kaldi_pipeline(features: FeatureConfig) -> str:
    """Kaldi commands that turn ``data/SET/feats.scp`` (``compute-fbank-feats --config=fbank.conf``) into
    the model's input, one (T, C*F) matrix per utterance: channel c is columns c*F .. (c+1)*F - 1."""
    norm_vars = f"--norm-vars={'true' if features.norm_vars else 'false'}"
    stats = {
        "speaker": f"apply-cmvn {norm_vars} --utt2spk=ark:data/SET/utt2spk scp:data/SET/cmvn.scp",
        "global": f"apply-cmvn {norm_vars} 'matrix-sum scp:data/SET/cmvn.scp - |'",
        "utterance": f"apply-cmvn {norm_vars} 'ark:compute-cmvn-stats scp:data/SET/feats.scp ark:- |'",
    }
    if features.cmvn == "none":
        steps = ["copy-feats scp:data/SET/feats.scp ark:-"]
    else:
        steps = [f"{stats[features.cmvn]} scp:data/SET/feats.scp ark:-"]
    if features.channels == 3:
        steps.append(f"add-deltas --delta-order={DELTA_ORDER} --delta-window={DELTA_WINDOW} ark:- ark:-")
    return " | ".join(steps)


def feature_spec(run: TrainedRun, units: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """The contents of ``features.json``; ``units`` and ``files`` name what the export wrote beside it."""
    features = run.recipe.features
    model = run.model
    return {
        "format_version": FORMAT_VERSION,
        "model": {"objective": run.objective, "config": model.config},
        "features": {
            "kaldi_fbank": dataclasses.asdict(fbank_options(features)),
            "sample_frequency": run.sample_rate,
            "sample_scale": {"factor": INT16_SCALE,
                             "note": "float samples in [-1, 1] are multiplied by this before the filterbank: "
                                     "Kaldi computes on 16-bit integer PCM, and its log floor makes the scale matter"},
            "cmvn": {"mode": features.cmvn, "norm_vars": features.norm_vars,
                     "note": "speaker: per-speaker stats (cmvn.scp + utt2spk); global: all speakers' stats summed; "
                             "utterance: each utterance's own stats; none: no normalization"},
            "channels": features.channels,
            "deltas": ({"order": DELTA_ORDER, "window": DELTA_WINDOW, "after_cmvn": True}
                       if features.channels == 3 else None),
            "kaldi_pipeline": kaldi_pipeline(features),
        },
        "input": {
            "names": list(INPUT_NAMES),
            "features": {"layout": "(B, C, F, T)", "dtype": "float32", "channels": model.in_channels,
                         "num_mel_bins": model.num_mel_bins,
                         "note": PADDING_NOTE},
            "lengths": {"layout": "(B,)", "dtype": "int64", "note": "valid frames of each utterance"},
        },
        "output": {
            "names": list(OUTPUT_NAMES),
            "logits": {"layout": "(B, T', V)", "num_outputs": model.num_outputs,
                       "note": "unnormalized: apply log_softmax over V for log posteriors"},
            "out_lengths": {"layout": "(B,)", "note": "ceil(length / time_subsampling)"},
            "time_subsampling": model.time_subsampling,
            "frame_shift_ms": features.frame_shift_ms * model.time_subsampling,
        },
        "units": units,
        "files": files,
    }
