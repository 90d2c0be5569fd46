"""``export_loglikes``: a hybrid model's scaled log-likelihoods over a data set, as Kaldi's mapped decoders read them.

One float32 (T, num_pdfs) matrix per utterance, log posterior - log prior, column j = pdf-id j,
in ``loglikes.ark`` + ``loglikes.scp``, and the ``latgen-faster-mapped`` command that decodes
them. The Kaldi model's pdf count and the priors are checked against the network's outputs
before any frame is computed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from blspeech.decode.recognize import compute_log_probs, decoding_device, feature_dataset, hybrid_loglikes
from blspeech.export.trained_run import TrainedRun, load_trained_run
from blspeech.features.front_end import check_features_fit_model
from blspeech.hybrid.alignments import check_num_outputs
from blspeech.hybrid.loglikes import LoglikeArk, latgen_command, write_loglikes
from blspeech.hybrid.priors import read_counts
from blspeech.hybrid.transition_model import is_tree_file, num_pdfs

log = logging.getLogger("blspeech")


@dataclass(frozen=True)
class LoglikesExport:
    """The written ark/scp and the shell command that decodes them with Kaldi."""

    ark: LoglikeArk
    latgen_command: str


def check_pdf_count(run: TrainedRun, kaldi_model: str | os.PathLike | None) -> int | None:
    """The pdf count of ``kaldi_model`` (final.mdl or tree), which must equal the network's outputs."""
    if kaldi_model is None:
        return None
    count = num_pdfs(Path(kaldi_model))
    check_num_outputs(num_pdfs=count, num_outputs=run.model.num_outputs, network=str(run.weights),
                      kaldi=str(kaldi_model))
    return count


def check_priors(run: TrainedRun, priors: Path) -> None:
    """The counts file exists and has one count per network output."""
    if not priors.is_file():
        raise FileNotFoundError(f"priors {priors} not found (python -m blspeech.hybrid analyze-counts writes them "
                                "from training alignments)")
    size, outputs = read_counts(priors).size, run.model.num_outputs
    if size != outputs:
        raise ValueError(f"{priors} has {size} pdf counts but the model in {run.weights} has {outputs} outputs")


def export_loglikes(run_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                    transition_model: str | os.PathLike | None = None, priors: str | os.PathLike | None = None,
                    graph: str | os.PathLike | None = None, max_frames: int = 20000) -> LoglikesExport:
    """Write ``out_dir/loglikes.{ark,scp}`` for every utterance of ``data_dir`` (featurized, as in training).

    ``transition_model``: the Kaldi ``final.mdl`` to decode with, default the recipe's
    ``hybrid.transition_model`` (else its ``hybrid.tree`` for the pdf-count check); its pdf count
    must equal the network's outputs. ``priors``: pdf counts, default the run's own
    (``ali_train_pdf.counts``, written by hybrid training). ``graph`` (default the recipe's
    ``hybrid.graph``) only goes into the printed command. CTC runs are refused: their outputs
    are posteriors of units with a blank, not of HMM pdfs.
    """
    run = load_trained_run(run_dir)
    if run.objective != "hybrid":
        raise ValueError(f"{run.weights} is a {run.objective!r} model: its outputs are not pdf posteriors, so there "
                         "are no log-likelihoods for latgen-faster-mapped (only hybrid runs can be exported this way)")
    settings = run.recipe.hybrid
    decoding_model = transition_model or settings.transition_model or None
    if decoding_model is not None and is_tree_file(decoding_model):
        raise ValueError(f"{decoding_model} is a Kaldi tree; latgen-faster-mapped decodes with the transition model "
                         "(final.mdl): give that")
    pdf_count = check_pdf_count(run, decoding_model or settings.tree or None)
    counts = Path(priors) if priors is not None else run.prior_counts
    check_priors(run, counts)
    check_features_fit_model(data_dir, run.recipe.features, run.sample_rate, str(run.weights))
    posteriors = compute_log_probs(run.model, feature_dataset(run.recipe, data_dir), max_frames=max_frames,
                                   device=decoding_device(run.recipe))
    ark = write_loglikes(out_dir, hybrid_loglikes(posteriors, counts).items(), num_pdfs=pdf_count)
    log.info("export: %d utterances of %s -> %s", ark.num_utterances, data_dir, ark.ark)
    graph = graph or settings.graph or None
    if decoding_model is None or graph is None:
        log.warning("export: the command below names %s as a placeholder: give --model final.mdl and --graph "
                    "HCLG.fst (or set hybrid.transition_model / hybrid.graph) for one to run as it is",
                    " and ".join(name for name, given in (("final.mdl", decoding_model), ("HCLG.fst", graph))
                                 if given is None))
    beside_graph = Path(graph).parent / "words.txt" if graph is not None else None
    words = settings.words or (beside_graph if beside_graph is not None and beside_graph.is_file() else None)
    scale, source = run.acoustic_scale
    log.info("export: acoustic scale %g (%s)", scale, source)
    command = latgen_command(out_dir, model=decoding_model or "final.mdl", graph=graph or "HCLG.fst", words=words,
                             acoustic_scale=scale, beam=settings.beam, max_active=settings.max_active)
    return LoglikesExport(ark=ark, latgen_command=command)
