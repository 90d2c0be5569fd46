"""Feature pipeline: Kaldi-compatible log-mel filterbanks, CMVN, deltas, SpecAugment, speed perturbation.

Modules: ``fbank`` (filterbank, speed measurement), ``cmvn`` (Kaldi-format stats, apply),
``deltas`` (Kaldi add-deltas as channels), ``specaugment`` (seeded masks), ``compute`` (the
``python -m blspeech.features.compute`` stage), ``extract`` (one recording's features, a worker
job), ``speed_perturb`` and ``combine`` (data-dir copies), ``ark`` (ark/scp writing).
The stateless functions are re-exported here; the stages are imported from their modules.
"""

from blspeech.features.cmvn import apply_cmvn, cmvn_stats, sum_stats
from blspeech.features.deltas import add_deltas
from blspeech.features.fbank import FbankOptions, fbank, measure_feature_speed
from blspeech.features.specaugment import SpecAugment, SpecAugmentConfig, spec_augment

__all__ = [
    "FbankOptions",
    "SpecAugment",
    "SpecAugmentConfig",
    "add_deltas",
    "apply_cmvn",
    "cmvn_stats",
    "fbank",
    "measure_feature_speed",
    "spec_augment",
    "sum_stats",
]
