"""``export_model``: TorchScript and ONNX files of a trained run, each checked against the eager model.

Each file is serialized in memory, loaded back from those bytes by its own runtime (``torch.jit``,
onnxruntime) and run on random batches of different sizes and lengths; only then is it written
(atomically). Exact bytes are verified, so what is on disk is what was checked. The maximum
differences go to ``verification.json``, and any file outside the tolerance raises
:class:`ExportVerificationError` naming it, without replacing an earlier good file.
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch

from blspeech.export.feature_spec import INPUT_NAMES, OUTPUT_NAMES, feature_spec
from blspeech.export.trained_run import TrainedRun, load_trained_run
from blspeech.features.front_end import fbank_options
from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.hybrid.priors import DEFAULT_PRIOR_FLOOR, UNSEEN_LOG_PRIOR
from blspeech.models import AcousticModel
from blspeech.tokenizer import Tokenizer

log = logging.getLogger("blspeech")

TORCHSCRIPT_FILE = "model.ts"
ONNX_FILE = "model.onnx"
FEATURES_FILE = "features.json"
FBANK_CONF_FILE = "fbank.conf"
VERIFICATION_FILE = "verification.json"
TOKENS_FILE = "tokens.txt"
LOGLIKELIHOOD_RULE = (f"log_softmax(logits) - log(count / sum(counts)) per pdf (Kaldi's mapped decoders read these); "
                      f"a pdf whose prior is below {DEFAULT_PRIOR_FLOOR:g} (unseen in training) gets log-prior "
                      f"{UNSEEN_LOG_PRIOR:g}, which switches it off")
ONNX_OPSET = 17
TOLERANCE = 1e-4
# (batch, frames, lengths): different batch sizes and lengths prove the axes are dynamic, and
# padded rows prove lengths are honoured.
CHECK_BATCHES = ((2, 41, (41, 30)), (3, 17, (17, 9, 1)))

# A runner maps (features (B, C, F, T), lengths (B,)) to (logits (B, T', V), out_lengths (B,)) as numpy.
Runner = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class ExportVerificationError(RuntimeError):
    """An exported file does not reproduce the eager model's outputs."""


@dataclass(frozen=True)
class ExportResult:
    """Where the export went, how TorchScript was made ("script" or "trace"), max abs diff per file."""

    out_dir: Path
    files: dict[str, Path]
    torchscript_method: str
    max_abs_diff: dict[str, float]


def check_inputs(model: AcousticModel, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random ``(features (B, C, F, T), lengths (B,))`` pairs of :data:`CHECK_BATCHES`, reproducibly."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, model.in_channels, model.num_mel_bins, frames, generator=generator),
             torch.tensor(lengths, dtype=torch.int64))
            for batch, frames, lengths in CHECK_BATCHES]


def _torch_runner(model: torch.nn.Module) -> Runner:
    def run(features: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            logits, out_lengths = model(torch.from_numpy(features), torch.from_numpy(lengths))
        return logits.numpy(), out_lengths.numpy()

    return run


def _onnx_runner(session: onnxruntime.InferenceSession) -> Runner:
    def run(features: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, out_lengths = session.run(list(OUTPUT_NAMES), dict(zip(INPUT_NAMES, (features, lengths))))
        return logits, out_lengths

    return run


def compare(reference: Runner, candidate: Runner, inputs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    """Max abs logit difference over ``inputs`` and whether every output length agrees exactly."""
    worst, lengths_equal = 0.0, True
    for features, lengths in inputs:
        expected, expected_lengths = reference(features.numpy(), lengths.numpy())
        logits, out_lengths = candidate(features.numpy(), lengths.numpy())
        if logits.shape != expected.shape:
            return {"max_abs_diff": float("inf"), "lengths_equal": False,
                    "error": f"logits shape {list(logits.shape)} != eager {list(expected.shape)}"}
        worst = max(worst, float(np.abs(logits - expected).max()))
        lengths_equal &= bool(np.array_equal(out_lengths, expected_lengths))
    return {"max_abs_diff": worst, "lengths_equal": lengths_equal}


def torchscript_bytes(model: AcousticModel, example: tuple[torch.Tensor, torch.Tensor]) -> tuple[bytes, str]:
    """Serialized TorchScript: ``torch.jit.script`` if the model scripts, else a trace on ``example``.

    A trace records one input's control flow; the verification on other lengths and batch
    sizes is what shows it did not bake in the example's shape.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit's deprecation notices
        try:
            module, method = torch.jit.script(model), "script"
        except Exception as err:  # torch.jit raises assorted frontend errors for unsupported Python
            log.info("export: torch.jit.script failed (%s); tracing instead", str(err).splitlines()[0])
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            module, method = torch.jit.trace(model, example), "trace"
        torch.jit.save(module, buffer)
    return buffer.getvalue(), method


def load_torchscript(data: bytes) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit's deprecation notice
        return torch.jit.load(io.BytesIO(data))


def onnx_bytes(model: AcousticModel, example: tuple[torch.Tensor, torch.Tensor]) -> bytes:
    """Serialized ONNX (opset :data:`ONNX_OPSET`) with dynamic batch and time axes, checked by ``onnx.checker``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy (TorchScript-based) exporter, the one the models' own export tests cover; its
        # deprecation notice and the trace warnings of the input shape check are expected.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(model, example, buffer, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                          dynamic_axes={"features": {0: "batch", 3: "frames"}, "lengths": {0: "batch"},
                                        "logits": {0: "batch", 1: "out_frames"}, "out_lengths": {0: "batch"}})
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    return buffer.getvalue()


def unit_files(run: TrainedRun, out_dir: Path) -> tuple[dict[str, Any], dict[str, Path], dict[Path, bytes]]:
    """What names the outputs: CTC -> tokenizer + ``tokens.txt``; hybrid -> the pdf count + priors.

    Returns the ``units`` record, the files by key, and each file's bytes, written only once the
    model files have passed verification, so a failed export leaves an earlier one whole.
    """
    num_outputs = run.model.num_outputs
    if run.objective == "ctc":
        tokenizer = Tokenizer.load(run.tokenizer_model)
        if tokenizer.vocab_size != num_outputs:
            raise ValueError(f"{run.tokenizer_model} has {tokenizer.vocab_size} units (blank included) but the model "
                             f"in {run.weights} has {num_outputs} outputs")
        files = {"tokens": out_dir / TOKENS_FILE, "tokenizer": out_dir / run.tokenizer_model.name}
        contents = {files["tokens"]: "".join(f"{token} {i}\n" for i, token in enumerate(tokenizer.tokens)).encode(),
                    files["tokenizer"]: run.tokenizer_model.read_bytes()}
        units = {"kind": "ctc", "blank_id": Tokenizer.blank_id, "num_outputs": num_outputs,
                 "tokens": TOKENS_FILE, "tokenizer": files["tokenizer"].name,
                 "note": f"output {Tokenizer.blank_id} is the blank, output i > 0 the tokenizer's piece i - 1; "
                         f"{TOKENS_FILE} lists the pieces by output id (words: join them, '\u2581' starts a word)"}
        return units, files, contents
    if run.objective == "hybrid":
        scale, source = run.acoustic_scale
        units = {"kind": "hybrid", "num_pdfs": num_outputs, "priors": None,
                 "loglikelihoods": LOGLIKELIHOOD_RULE, "acoustic_scale": scale, "acoustic_scale_source": source}
        if not run.prior_counts.is_file():
            log.warning("export: %s not found; exporting without priors (loglikes export will need them)",
                        run.prior_counts)
            return units, {}, {}
        files = {"priors": out_dir / run.prior_counts.name}
        units["priors"] = files["priors"].name
        units["priors_format"] = "pdf counts, analyze-counts --binary=false text vector"
        return units, files, {files["priors"]: run.prior_counts.read_bytes()}
    raise ValueError(f"{run.weights}: unknown objective {run.objective!r} (expected 'ctc' or 'hybrid')")


def verify_exports(model: AcousticModel, torchscript: bytes, onnx_model: bytes,
                   inputs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict[str, Any]]:
    """Per file name: max abs logit diff to the eager ``model`` on ``inputs``, lengths agreement, passed."""
    eager = _torch_runner(model)
    runners = {
        TORCHSCRIPT_FILE: _torch_runner(load_torchscript(torchscript)),
        ONNX_FILE: _onnx_runner(onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])),
    }
    results = {}
    for name, runner in runners.items():
        result = compare(eager, runner, inputs)
        result["passed"] = result["lengths_equal"] and result["max_abs_diff"] <= TOLERANCE
        results[name] = result
    return results


def write_verification(out_dir: Path, results: dict[str, dict[str, Any]]) -> None:
    """Record ``results`` in ``verification.json``; raise ExportVerificationError naming each failed file."""
    record = {
        "tolerance": TOLERANCE,
        "inputs": [{"batch": b, "frames": t, "lengths": list(lengths)} for b, t, lengths in CHECK_BATCHES],
        "files": results,
        "passed": all(result["passed"] for result in results.values()),
    }
    write_text_atomic(out_dir / VERIFICATION_FILE, json.dumps(record, indent=1) + "\n")
    failed = [f"{out_dir / name}: max abs diff {r['max_abs_diff']:.3g} (tolerance {TOLERANCE:g}), "
              f"lengths {'equal' if r['lengths_equal'] else 'differ'}"
              for name, r in results.items() if not r["passed"]]
    if failed:
        raise ExportVerificationError("exported model does not reproduce the eager outputs: " + "; ".join(failed))


def export_model(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> ExportResult:
    """Write ``model.ts``, ``model.onnx``, ``features.json``, ``fbank.conf`` and units of ``run_dir`` to ``out_dir``.

    ``out_dir`` defaults to ``run_dir/export``. Each model file must reproduce the eager logits
    within :data:`TOLERANCE` (max abs) and the output lengths exactly, else ExportVerificationError
    (and neither the model files nor the unit files are written).
    """
    run = load_trained_run(run_dir)
    target = Path(out_dir) if out_dir is not None else run.run_dir / "export"
    units, files, contents = unit_files(run, target)  # first: a tokenizer that does not fit the model fails early
    inputs = check_inputs(run.model)
    torchscript, method = torchscript_bytes(run.model, inputs[0])
    onnx_model = onnx_bytes(run.model, inputs[0])
    results = verify_exports(run.model, torchscript, onnx_model, inputs)
    results[TORCHSCRIPT_FILE]["method"] = method
    results[ONNX_FILE]["opset"] = ONNX_OPSET
    write_verification(target, results)

    files |= {"torchscript": target / TORCHSCRIPT_FILE, "onnx": target / ONNX_FILE,
              "fbank_conf": target / FBANK_CONF_FILE, "features": target / FEATURES_FILE,
              "verification": target / VERIFICATION_FILE}
    contents |= {files["torchscript"]: torchscript, files["onnx"]: onnx_model}
    for path, data in contents.items():
        with atomic_write(path, "wb") as handle:
            handle.write(data)
    if run.sample_rate is None:
        log.warning("export: %s does not record the sample rate of its training audio, so %s has no "
                    "--sample-frequency (compute-fbank-feats then assumes 16000 Hz): add the rate the model was "
                    "trained on", run.weights, files["fbank_conf"])
    write_text_atomic(files["fbank_conf"], fbank_options(run.recipe.features).kaldi_config(run.sample_rate))
    spec = feature_spec(run, units, {key: path.name for key, path in files.items()})
    write_text_atomic(files["features"], json.dumps(spec, indent=1) + "\n")
    diffs = {name: result["max_abs_diff"] for name, result in results.items()}
    log.info("export: %s -> %s (TorchScript by %s; max abs diff %s)", run.run_dir, target, method,
             ", ".join(f"{name} {diff:.2g}" for name, diff in diffs.items()))
    return ExportResult(out_dir=target, files=files, torchscript_method=method, max_abs_diff=diffs)
