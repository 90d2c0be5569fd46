"""Baseline and bL models measured side by side: costs, speed, memory and their ratios.

A :class:`PairGroup` is one baseline and its bL variants (the registered bL preset, or a grid
of alpha/beta values). All models of a group are timed interleaved in one process
(:func:`blspeech.models.speed.measure_speed`), so machine load hits them alike; memory is
measured per model in fresh processes (:mod:`blspeech.bench.memory`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from blspeech.bench.memory import STEPS, MemoryJob, measure_memory
from blspeech.models import AcousticModel, baseline_name, build_model, count_parameters, flops_per_second, list_models
from blspeech.models.speed import FRAME_RATE, SpeedOptions, measure_speed

NUM_OUTPUTS = 256  # output units, about the embedded recipe's (sentencepiece unigram 256, plus the blank)
NUM_MEL_BINS = 40
IN_CHANNELS = 3
TRAIN_FLOPS_PER_FORWARD = 3.0  # a training step costs ~3 forward passes (backward: grads of inputs and weights)


@dataclass(frozen=True)
class TimingSettings:
    """Input size and repeats for one group: ``batch_sizes`` for inference, ``train_batch_size``
    utterances per training step, all ``utterance_seconds`` long."""

    utterance_seconds: float
    batch_sizes: tuple[int, ...]
    train_batch_size: int
    repeats: int

    def __post_init__(self) -> None:
        if self.utterance_seconds <= 0 or not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"need utterance_seconds > 0 and batch sizes >= 1, got {self}")
        if self.train_batch_size < 1 or self.repeats < 1:
            raise ValueError(f"need train_batch_size >= 1 and repeats >= 1, got {self}")


@dataclass(frozen=True)
class ModelCase:
    """A registered preset; a bL preset may get ``alpha``/``beta`` overrides (None: the preset's)."""

    name: str
    alpha: int | None = None
    beta: int | None = None

    def build(self) -> AcousticModel:
        overrides = {key: value for key, value in (("alpha", self.alpha), ("beta", self.beta)) if value is not None}
        return build_model(self.name, num_outputs=NUM_OUTPUTS, num_mel_bins=NUM_MEL_BINS, in_channels=IN_CHANNELS,
                           **overrides)

    def is_preset(self) -> bool:
        """Whether the overrides (if any) equal the preset's own alpha and beta."""
        if self.alpha is None and self.beta is None:
            return True
        preset = ModelCase(self.name).build().config
        return self.alpha in (None, preset["alpha"]) and self.beta in (None, preset["beta"])


def model_label(config: dict[str, Any]) -> str:
    """``vgg-small`` for a baseline, ``bl-vgg-small a=2 b=4`` for a bL model."""
    if not config["big_little"]:
        return config["name"]
    return f"{config['name']} a={config['alpha']} b={config['beta']}"


@dataclass(frozen=True)
class ModelFigures:
    """Everything measured for one model. Throughputs in seconds of audio per second, medians
    of the repeats (``best_*``: the fastest repeat); FLOPs per second of audio;
    ``memory_bytes[step]`` for "inference" (largest batch) and "train"; ``preset``: alpha and
    beta are the registered preset's own (baselines: always)."""

    label: str
    config: dict[str, Any]  # build_model(**config) rebuilds the model
    parameters: int
    flops_per_second: float
    inference_audio_per_second: dict[int, float]
    train_step_seconds: float
    train_audio_per_second: float
    best_inference_audio_per_second: dict[int, float]
    best_train_step_seconds: float
    preset: bool = True
    memory_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def is_big_little(self) -> bool:
        return bool(self.config["big_little"])

    def achieved_flops(self, batch_size: int | None = None) -> float:
        """FLOP/s reached in the fastest repeat: inference at ``batch_size``, or a training step
        (~3 forward passes) for None."""
        if batch_size is None:
            audio = self.train_audio_per_second * self.train_step_seconds  # seconds of audio per step
            return TRAIN_FLOPS_PER_FORWARD * self.flops_per_second * audio / self.best_train_step_seconds
        return self.flops_per_second * self.best_inference_audio_per_second[batch_size]


@dataclass(frozen=True)
class PairRatios:
    """A bL model against its baseline. ``flops``, ``parameters`` and ``memory`` are bL / baseline
    (below 1 = bL cheaper); speed-ups are baseline time / bL time (above 1 = bL faster), from
    the medians and (``best_*``) from each model's fastest repeat."""

    flops: float
    parameters: float
    inference_speedup: dict[int, float]
    train_speedup: float
    best_inference_speedup: dict[int, float]
    best_train_speedup: float
    memory: dict[str, float]


def pair_ratios(candidate: ModelFigures, baseline: ModelFigures) -> PairRatios:
    def speedups(bl: dict[int, float], base: dict[int, float]) -> dict[int, float]:
        return {b: bl[b] / base[b] for b in base}

    return PairRatios(
        flops=candidate.flops_per_second / baseline.flops_per_second,
        parameters=candidate.parameters / baseline.parameters,
        inference_speedup=speedups(candidate.inference_audio_per_second, baseline.inference_audio_per_second),
        train_speedup=baseline.train_step_seconds / candidate.train_step_seconds,
        best_inference_speedup=speedups(candidate.best_inference_audio_per_second,
                                        baseline.best_inference_audio_per_second),
        best_train_speedup=baseline.best_train_step_seconds / candidate.best_train_step_seconds,
        memory={step: candidate.memory_bytes[step] / baseline.memory_bytes[step]
                for step in baseline.memory_bytes if step in candidate.memory_bytes and baseline.memory_bytes[step]})


@dataclass(frozen=True)
class PairGroup:
    """One baseline (``figures[0]``) and its bL variants, timed together with ``timing``."""

    title: str
    timing: TimingSettings
    options: SpeedOptions
    figures: list[ModelFigures]

    @property
    def baseline(self) -> ModelFigures:
        return self.figures[0]

    @property
    def variants(self) -> list[ModelFigures]:
        return self.figures[1:]


def big_little_twin(baseline: str) -> str:
    """The registered bL preset compared with ``baseline``."""
    twins = [name for name in list_models() if baseline_name(name) == baseline]
    if len(twins) != 1:
        raise ValueError(f"baseline {baseline!r} has {len(twins)} registered bL presets ({twins}); expected one")
    return twins[0]


def grid_cases(baseline: str, alphas: Sequence[int], betas: Sequence[int]) -> list[ModelCase]:
    """The baseline, then its bL preset at every (alpha, beta) of the grid."""
    twin = big_little_twin(baseline)
    return [ModelCase(baseline)] + [ModelCase(twin, alpha, beta) for alpha, beta in itertools.product(alphas, betas)]


def preset_cases(baseline: str) -> list[ModelCase]:
    """The baseline and its bL preset as registered."""
    return [ModelCase(baseline), ModelCase(big_little_twin(baseline))]


def measure_group(title: str, cases: Sequence[ModelCase], timing: TimingSettings,
                  options: SpeedOptions) -> PairGroup:
    """Costs and interleaved speed of ``cases`` (the first one the baseline); memory comes later
    (:func:`add_memory`), all groups' jobs in one pool of fresh processes."""
    models, presets = {}, {}
    for case in cases:
        model = case.build()
        label = model_label(model.config)
        models[label] = model
        presets[label] = case.is_preset()
    reports = measure_speed(models, utterance_seconds=timing.utterance_seconds, batch_sizes=timing.batch_sizes,
                            train_batch_size=timing.train_batch_size, repeats=timing.repeats, options=options)
    figures = []
    for label, model in models.items():
        report, best = reports[label], reports[label].fastest()
        figures.append(ModelFigures(
            label=label, config=model.config, parameters=count_parameters(model),
            flops_per_second=flops_per_second(model, in_channels=IN_CHANNELS, num_mel_bins=NUM_MEL_BINS,
                                              frame_rate=FRAME_RATE),
            inference_audio_per_second=dict(report.inference_audio_per_second),
            train_step_seconds=report.train_step_seconds, train_audio_per_second=report.train_audio_per_second,
            best_inference_audio_per_second=dict(best.inference_audio_per_second),
            best_train_step_seconds=best.train_step_seconds, preset=presets[label]))
    return PairGroup(title, timing, options, figures)


def add_memory(groups: Sequence[PairGroup], threads: int) -> list[PairGroup]:
    """The groups with every model's peak inference (largest batch) and training-step memory.

    Compiled groups are left as they are: their memory is the eager models' plus compiler
    caches, and compiling again in every fresh process would take minutes.
    """
    measured = [group for group in groups if not group.options.compile]
    jobs = []
    for group in measured:
        batch = {"inference": max(group.timing.batch_sizes), "train": group.timing.train_batch_size}
        jobs += [MemoryJob(figures.config, step, batch[step], group.timing.utterance_seconds, group.options, threads)
                 for figures in group.figures for step in STEPS]
    peaks = iter(measure_memory(jobs))
    return [group if group.options.compile else
            replace(group, figures=[replace(figures, memory_bytes={step: next(peaks) for step in STEPS})
                                    for figures in group.figures])
            for group in groups]
