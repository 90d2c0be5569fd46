"""One benchmark run: what to measure (:class:`BenchPlan`), measuring it, writing the files."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from blspeech.bench.breakdown import TimeBreakdown, profile_runners
from blspeech.bench.datapath import DataPathSizes, measure_data_path
from blspeech.bench.machine import (MachineLimits, check_device, convolution_call_seconds, describe_machine,
                                   measure_limits, model_arithmetic)
from blspeech.bench.pairs import (ModelCase, PairGroup, TimingSettings, add_memory, grid_cases, measure_group,
                                  model_label, preset_cases)
from blspeech.bench.plot import FlopsPoint, plot_flops_vs_wer, wer_points
from blspeech.bench.report import BenchResults, format_results, results_json, variants_below_target
from blspeech.bench.trained import time_trained_models
from blspeech.fileio import write_text_atomic
from blspeech.models.speed import FRAME_RATE, ModelRunner, SpeedOptions

log = logging.getLogger("blspeech")

SMALL_BASELINES = ("vgg-small", "resnet-small")
PAPER_BASELINES = ("vgg", "resnet")
RESULTS_FILE, JSON_FILE, PLOT_FILE = "results.md", "results.json", "flops_vs_wer.png"


@dataclass(frozen=True)
class BenchPlan:
    """What one run measures. ``paper=None`` leaves the paper-sized presets out; empty ``alphas``
    or ``betas`` time the small bL presets as registered instead of a grid."""

    device: str = "cpu"
    threads: int = 1
    channels_last: bool = True
    small: TimingSettings = TimingSettings(4.0, (1, 16), 16, 11)
    paper: TimingSettings | None = TimingSettings(2.0, (1, 16), 8, 5)
    alphas: tuple[int, ...] = (1, 2, 4)
    betas: tuple[int, ...] = (1, 2, 4)
    compile: bool = False
    compile_mode: str = "default"
    amp: bool = False
    decode_rounds: int = 5
    profile_calls: int = 7
    data_path: DataPathSizes | None = DataPathSizes()
    matmul_size: int = 2048
    conv_batch: int = 8
    conv_size: int = 64

    @classmethod
    def quick(cls, device: str = "cpu") -> BenchPlan:
        """Everything end to end on tiny inputs, once: checks that the benchmark runs, not its numbers."""
        return cls(device=device, small=TimingSettings(0.5, (1, 2), 2, 1), paper=None, alphas=(), betas=(),
                   data_path=DataPathSizes(synthesis_hours=0.002, feature_audio_seconds=5.0, feature_repeats=1,
                                           loader_utterances=12, loader_max_frames=4000, decode_utterances=5),
                   decode_rounds=1, profile_calls=1, matmul_size=256, conv_batch=2, conv_size=16)


@dataclass(frozen=True)
class GroupSpec:
    title: str
    cases: list[ModelCase]
    timing: TimingSettings
    options: SpeedOptions


@dataclass
class Outputs:
    """Where the files go and what the plot reads."""

    out_dir: Path
    results_files: list[Path] = field(default_factory=list)
    wer_key: str | None = None


def group_specs(plan: BenchPlan) -> list[GroupSpec]:
    """The groups in measuring order: small pairs (grid), paper-sized pairs, compiled small pairs."""
    options = eager_options(plan)
    specs = []
    for baseline in SMALL_BASELINES:
        cases = (grid_cases(baseline, plan.alphas, plan.betas) if plan.alphas and plan.betas
                 else preset_cases(baseline))
        specs.append(GroupSpec(baseline, cases, plan.small, options))
    if plan.paper is not None:
        specs += [GroupSpec(baseline, preset_cases(baseline), plan.paper, options) for baseline in PAPER_BASELINES]
    if plan.compile:
        compiled = replace(options, compile=True, compile_mode=plan.compile_mode)
        how = "torch.compile" if plan.compile_mode == "default" else f"torch.compile {plan.compile_mode}"
        specs += [GroupSpec(f"{baseline} ({how})", preset_cases(baseline), plan.small, compiled)
                  for baseline in SMALL_BASELINES]
    return specs


def eager_options(plan: BenchPlan) -> SpeedOptions:
    """How the uncompiled groups (and the profiled pairs) run."""
    return SpeedOptions(channels_last=plan.channels_last, device=plan.device, amp=plan.amp)


def profiled_pairs(plan: BenchPlan, groups: Sequence[PairGroup]) -> list[tuple[str, TimingSettings, list[ModelCase]]]:
    """What "Where the time goes" profiles: each small baseline with its bL preset, then every other
    bL model of an uncompiled group whose speed-up fell below the target, with its baseline (each
    shortfall gets its own evidence). (title, timing, [baseline case, bL case]) each."""
    pairs = [(baseline, plan.small, preset_cases(baseline)) for baseline in SMALL_BASELINES]
    for group, figures in variants_below_target(groups):
        if group.options.compile or (figures.preset and group.title in SMALL_BASELINES):
            continue
        config = figures.config
        cases = [ModelCase(group.baseline.config["name"]), ModelCase(config["name"], config["alpha"], config["beta"])]
        pairs.append((f"{group.title}: {figures.label}", group.timing, cases))
    return pairs


def profile_pairs(plan: BenchPlan, pairs: Sequence[tuple[str, TimingSettings, list[ModelCase]]]
                  ) -> dict[str, dict[str, dict[str, TimeBreakdown]]]:
    """Operator-category breakdowns of each (title, timing, cases) pair, its two models interleaved."""
    options = eager_options(plan)
    breakdowns = {}
    for title, timing, cases in pairs:
        frames = round(timing.utterance_seconds * FRAME_RATE)
        runners = {}
        for case in cases:
            model = case.build()
            runners[model_label(model.config)] = ModelRunner(model, frames, timing.batch_sizes,
                                                             timing.train_batch_size, options)
        breakdowns[title] = profile_runners(runners, batch_sizes=timing.batch_sizes, calls=plan.profile_calls)
    return breakdowns


GPU_MATMUL_SCALE, GPU_CONV_BATCH_SCALE = 4, 8  # see machine_limits


def machine_limits(device: torch.device, plan: BenchPlan) -> dict[str, MachineLimits]:
    """The yardsticks of the models' efficiency, "inference" and "training", each in the arithmetic
    that step runs in (measured once where both use the same). A GPU reaches its peak only on far
    bigger problems than a CPU core (a 2048 x 2048 product is over there in tens of microseconds,
    the launch a good part of it), so on CUDA the matmul side is 4x and the convolution batch 8x."""
    gpu = device.type == "cuda"
    sizes = {"matmul_size": plan.matmul_size * (GPU_MATMUL_SCALE if gpu else 1),
             "conv_batch": plan.conv_batch * (GPU_CONV_BATCH_SCALE if gpu else 1), "conv_size": plan.conv_size}
    arithmetic = {"inference": model_arithmetic(device), "training": model_arithmetic(device, autocast=plan.amp)}
    measured = {kind: measure_limits(device, kind, channels_last=plan.channels_last, **sizes)
                for kind in dict.fromkeys(arithmetic.values())}
    return {step: measured[kind] for step, kind in arithmetic.items()}


def run_benchmark(plan: BenchPlan, command: str, note: str = "", results_files: Sequence[Path] = ()) -> BenchResults:
    """Measure everything ``plan`` asks for (see the package docstring for the order); the trained
    models of the experiments in ``results_files`` decode their own data too."""
    device = check_device(plan.device)
    torch.set_num_threads(plan.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the Trainer runs: each fixed shape gets cuDNN's fastest algorithm
    machine = describe_machine(device, plan.threads)
    log.info("bench: matmul and convolution limits of %s", device)
    limits_before = machine_limits(device, plan)
    groups: list[PairGroup] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for spec in group_specs(plan):
        log.info("bench: timing %s (%d models, interleaved)", spec.title, len(spec.cases))
        groups.append(measure_group(spec.title, spec.cases, spec.timing, spec.options))
    cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    limits_after = machine_limits(device, plan)  # load changes: the best the machine showed counts
    limits = {step: limits_before[step].best(limits_after[step]) for step in limits_before}
    log.info("bench: peak memory, each model and step in a fresh process")
    groups = add_memory(groups, plan.threads)
    pairs = profiled_pairs(plan, groups)
    log.info("bench: profiling %d pairs (the small presets, then the other models below the target)", len(pairs))
    breakdowns = profile_pairs(plan, pairs)
    call_seconds = convolution_call_seconds(device)
    data_path = None
    if plan.data_path is not None:
        log.info("bench: data path (synthesis, features, loader, decoding)")
        with tempfile.TemporaryDirectory(prefix="blspeech-bench-") as scratch:
            data_path = measure_data_path(Path(scratch), plan.data_path)
    log.info("bench: trained models decoding their own data (%d experiments)", len(results_files))
    decode_timings = time_trained_models(results_files, device, plan.decode_rounds)
    notes = [] if plan.threads > 1 or device.type == "cuda" else [
        "One intra-op thread: figures are per core. Inference calls oneDNN for every convolution; training "
        "takes PyTorch's own choice, which at batch 1 with one thread would send unstrided 1x1 convolutions "
        "(the bL widening convs) and inputs of at most 20480 values to its slower non-oneDNN path (the "
        "training batches here are larger)."]
    if device.type == "cuda":
        notes.append(f"cuDNN benchmark mode (fastest algorithm per shape, as in training): on for the timings, off "
                     f"in the peak-memory processes (whose peaks would otherwise include its algorithm trials); "
                     f"TF32 for convolutions: {torch.backends.cudnn.allow_tf32}; float32 matmul "
                     f"precision (the models' output layer): {torch.get_float32_matmul_precision()}.")
    return BenchResults(machine=machine, limits=limits, cpu_share=cpu_share, groups=groups,
                        breakdowns=breakdowns, data_path=data_path, command=command, note=note, extra_notes=notes,
                        decode_timings=decode_timings, convolution_call_seconds=call_seconds)


def plot_note(has_wer: bool, wer_key: str | None, sources: list[Path]) -> str:
    """What the results file says under the plot: where its WERs came from, or that there are none."""
    if has_wer:
        listed = ", ".join(f"`{path}`" for path in sources)
        return (f"![FLOPs vs WER]({PLOT_FILE})\n\nWER ({wer_key}, Overall) of the trained models in {listed}; "
                "FLOPs as the scoring stage computed them for each trained model.")
    return (f"![FLOPs per model]({PLOT_FILE})\n\nNo WER results yet (no `exp/<recipe>/results.json` with scored "
            "models), so the plot shows the benchmarked models' FLOPs only. Rerun the benchmark after the main job "
            "has scored its models to plot WER against FLOPs.")


def write_outputs(results: BenchResults, outputs: Outputs) -> list[Path]:
    """results.md, results.json and the FLOPs-vs-WER PNG under ``outputs.out_dir``; returns their paths."""
    points, key = wer_points(outputs.results_files, outputs.wer_key)
    results = replace(results, plot_note=plot_note(bool(points), key, outputs.results_files))
    flops = [FlopsPoint(figures.config["name"],
                        f"a={figures.config['alpha']} b={figures.config['beta']}" if figures.is_big_little
                        else figures.label,
                        figures.flops_per_second / 1e9, figures.preset)
             for group in results.groups if not group.options.compile for figures in group.figures]
    out_dir = outputs.out_dir
    plot_flops_vs_wer(out_dir / PLOT_FILE, points, key, flops)
    write_text_atomic(out_dir / RESULTS_FILE, format_results(results))
    write_text_atomic(out_dir / JSON_FILE, results_json(results))
    return [out_dir / RESULTS_FILE, out_dir / JSON_FILE, out_dir / PLOT_FILE]
