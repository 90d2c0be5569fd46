"""Decoding speed of the main job's trained models on their own dev and test sets.

The model timings use random 4-second inputs of one shape. Here each experiment's trained bL
model and its baselines compute the log-probabilities of the experiment's evaluation sets as
the decode stage does (``compute_log_probs``: features read from the data dir, utterances
batched by length up to 20,000 frames, the inference-ready model), interleaved round by round,
so the speed-up covers real lengths, padding and batching.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from blspeech.decode.recognize import compute_log_probs, feature_dataset
from blspeech.experiment import Experiment
from blspeech.export.trained_run import TrainedRun, load_trained_run
from blspeech.results import read_results_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeTiming:
    """Median seconds each model took for all of one set's log-probabilities."""

    experiment: str
    data_set: str
    audio_seconds: float
    big_little: str
    seconds: dict[str, float]  # model name -> median seconds, the bL model first

    def speed_up(self, baseline: str) -> float:
        return self.seconds[baseline] / self.seconds[self.big_little]

    def real_time_factor(self, model: str) -> float:
        return self.seconds[model] / self.audio_seconds


def trained_runs(results_file: Path) -> dict[str, TrainedRun]:
    """The finished runs an experiment's results.json lists, by model name (run dirs beside it)."""
    return {entry.name: load_trained_run(results_file.parent / entry.name) for entry in read_results_file(results_file)}


def time_experiment(results_file: Path, device: torch.device, rounds: int) -> list[DecodeTiming]:
    """Timings of one experiment's bL model against its baselines on each evaluation set; none
    (logged) where the experiment has no bL model and baseline, or its data dirs are missing."""
    runs = trained_runs(results_file)
    big_little = [name for name, run in runs.items() if run.model.config["big_little"]]
    baselines = [name for name, run in runs.items() if not run.model.config["big_little"]]
    if len(big_little) != 1 or not baselines:
        log.info("bench: %s: not one bL model and a baseline (%s); its decoding is not timed",
                 results_file, ", ".join(runs))
        return []
    names = big_little + baselines
    experiment = Experiment(runs[big_little[0]].recipe)
    timings = []
    for set_name in experiment.eval_sets:
        data_dir = experiment.data_dir(set_name)
        if not (data_dir / "feats.scp").exists():
            log.info("bench: %s has no features here; %s is not timed on it", data_dir, results_file.parent)
            continue
        datasets = {name: feature_dataset(runs[name].recipe, data_dir) for name in names}
        samples: dict[str, list[float]] = {name: [] for name in names}
        # The first round warms caches; every round builds its inference-ready copy (batch norms
        # folded, oneDNN weights reordered) as the decode stage does on each call.
        for round_index in range(rounds + 1):
            for name in names:
                start = time.perf_counter()
                # ends with a copy to the CPU, so a GPU has finished
                compute_log_probs(runs[name].model, datasets[name], device=device)
                if round_index > 0:
                    samples[name].append(time.perf_counter() - start)
        audio = sum(datasets[big_little[0]].num_frames) * experiment.recipe.features.frame_shift_ms / 1000
        timings.append(DecodeTiming(str(results_file.parent), set_name, audio, big_little[0],
                                    {name: statistics.median(values) for name, values in samples.items()}))
    return timings


def time_trained_models(results_files: Sequence[Path], device: torch.device, rounds: int) -> list[DecodeTiming]:
    """``time_experiment`` for every results file, in order. An experiment whose runs cannot be
    loaded (a listed model without its final.pt, say) is logged and left out: this step comes
    last, and the rest of the benchmark must not be lost to it."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    timings = []
    for path in map(Path, results_files):
        try:
            timings += time_experiment(path, device, rounds)
        except (FileNotFoundError, ValueError) as error:
            log.warning("bench: %s: %s; its decoding is not timed", path, error)
    return timings


def format_decode_timings(timings: Sequence[DecodeTiming]) -> str:
    """Markdown: one row per experiment, set and baseline."""
    lines = ["| experiment | set | audio (s) | bL model | baseline | bL (s) | baseline (s) | speed-up | bL RTF |",
             "|---|---|---|---|---|---|---|---|---|"]
    for timing in timings:
        for baseline in (name for name in timing.seconds if name != timing.big_little):
            lines.append(f"| {timing.experiment} | {timing.data_set} | {timing.audio_seconds:.0f} | "
                         f"{timing.big_little} | {baseline} | {timing.seconds[timing.big_little]:.2f} | "
                         f"{timing.seconds[baseline]:.2f} | {timing.speed_up(baseline):.2f}x | "
                         f"{timing.real_time_factor(timing.big_little):.4f} |")
    return "\n".join(lines)
