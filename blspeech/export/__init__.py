"""Exports of a trained run for use outside blspeech.

``export_model``: TorchScript + ONNX files with the feature configuration and units beside them,
each verified against the eager model. ``export_loglikes``: a hybrid model's log-likelihoods of a
data set as a Kaldi ark for ``latgen-faster-mapped``. Command line: ``python -m blspeech.export``.
"""

from blspeech.export.loglikes import LoglikesExport, export_loglikes
from blspeech.export.model_files import ExportResult, ExportVerificationError, export_model
from blspeech.export.trained_run import TrainedRun, load_trained_run

__all__ = ["ExportResult", "ExportVerificationError", "LoglikesExport", "TrainedRun", "export_loglikes", "export_model",
           "load_trained_run"]
