"""Where a model's time goes, by kind of operator: the evidence for why FLOPs are not wall time.

``torch.profiler`` records every ATen operator of a few inference passes or training steps;
each operator's *self* time (time not spent in operators it calls) is summed into a category.
Convolutions follow FLOPs; everything else (batch norm, pooling, upsampling, element-wise
adds and ReLUs, copies between memory layouts) is memory-bound and scales with the number of
full-resolution passes instead, and the time outside any operator (Python module calls,
dispatch) with the number of operators.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from blspeech.models.flops import flop_counter
from blspeech.models.speed import ModelRunner, synchronize

# Checked in order; an operator lands in the first category one of whose patterns its name contains.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("convolution", ("conv",)),
    ("batch norm", ("batch_norm",)),
    ("pooling", ("pool",)),
    ("upsampling", ("upsample",)),
    ("matmul (head)", ("mm", "linear", "matmul")),
    ("optimizer", ("_foreach", "adam")),
    ("copies / layout", ("copy", "clone", "contiguous", "cat", "index")),
    ("element-wise", ("add", "mul", "relu", "clamp", "threshold", "masked_fill", "where", "sub", "div",
                      "softmax", "ctc", "fill", "max", "sum")),
)
OTHER = "other"
# Wall time of the step that no operator's self time covers: Python (module calls), dispatch, profiler;
# on a GPU, the time the device sat idle waiting for the host to launch kernels.
OUTSIDE = "outside operators"
CATEGORY_NAMES = tuple(name for name, _ in CATEGORIES) + (OTHER, OUTSIDE)


def categorize(operator: str) -> str:
    """The category of an ATen operator name such as ``aten::mkldnn_convolution``."""
    name = operator.removeprefix("aten::").lower()
    for category, patterns in CATEGORIES:
        if any(pattern in name for pattern in patterns):
            return category
    return OTHER


@dataclass(frozen=True)
class TimeBreakdown:
    """Milliseconds per call of a profiled step, by category (profiler overhead included), the
    FLOPs its convolutions perform per call (forward and, for training, backward), and how many
    convolution layers the model runs per pass (each call carries a fixed cost, whatever its size)."""

    milliseconds: dict[str, float]
    convolution_flops: float = 0.0
    convolution_layers: int = 0

    @property
    def convolution_flops_per_second(self) -> float:
        seconds = self.milliseconds.get("convolution", 0.0) / 1000.0
        return self.convolution_flops / seconds if seconds else 0.0

    @property
    def total(self) -> float:
        return sum(self.milliseconds.values())


def convolution_flops(step: Callable[[], None]) -> float:
    """FLOPs of the convolutions (forward and backward) one call of ``step()`` performs."""
    with flop_counter() as counter:
        step()
    return float(sum(count for op, count in counter.get_flop_counts().get("Global", {}).items()
                     if "convolution" in str(op)))


def profile_once(step: Callable[[], None], device: torch.device) -> dict[str, float]:
    """Milliseconds of self time per category in one call of ``step()``."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    synchronize(device)  # work queued before the call must not land in its wall time
    with profile(activities=activities) as profiler:
        start = time.perf_counter()
        step()
        synchronize(device)
        wall = (time.perf_counter() - start) * 1000.0
    totals = dict.fromkeys(CATEGORY_NAMES, 0.0)
    for event in profiler.key_averages():
        if device.type == "cuda" and not event.key.startswith("aten::"):
            continue  # kernel entries repeat the device time already counted for the ATen operator that ran them
        microseconds = event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        totals[categorize(event.key)] += microseconds / 1000.0
    # On a CPU: Python and dispatch. On a GPU (one stream: kernels never overlap): time without a kernel running.
    totals[OUTSIDE] = max(0.0, wall - sum(totals.values()))
    return totals


def profile_interleaved(steps: Mapping[str, Callable[[], None]], device: torch.device,
                        calls: int = 5) -> dict[str, TimeBreakdown]:
    """Breakdowns of several models' steps (name -> step), profiled in turn, one call each per
    round, so that machine load hits them alike; each category is the median over ``calls``
    rounds, after one warm-up call that also counts the convolution FLOPs."""
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    flops = {name: convolution_flops(step) for name, step in steps.items()}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in steps}
    for _ in range(calls):
        for name, step in steps.items():
            rounds[name].append(profile_once(step, device))
    breakdowns = {}
    for name, samples in rounds.items():
        medians = {category: statistics.median(sample[category] for sample in samples) for category in CATEGORY_NAMES}
        breakdowns[name] = TimeBreakdown({c: ms for c, ms in medians.items() if ms > 0}, flops[name])
    return breakdowns


def count_convolution_layers(model: nn.Module) -> int:
    """Convolution layers in ``model``: each runs once per pass."""
    return sum(isinstance(module, nn.Conv2d) for module in model.modules())


def profile_runners(runners: Mapping[str, ModelRunner], *, batch_sizes: Sequence[int],
                    calls: int = 5) -> dict[str, dict[str, TimeBreakdown]]:
    """``breakdowns[model name][step]`` for the runners' inference per batch size (``infer{b}``)
    and training step (``train``), the models interleaved within each step."""
    device = next(iter(runners.values())).device
    steps_by_name: dict[str, dict[str, Callable[[], None]]] = {
        f"infer{batch}": {name: (lambda runner=runner, batch=batch: runner.infer(batch))
                          for name, runner in runners.items()}
        for batch in batch_sizes}
    steps_by_name["train"] = {name: runner.train_step for name, runner in runners.items()}
    breakdowns: dict[str, dict[str, TimeBreakdown]] = {name: {} for name in runners}
    for step, steps in steps_by_name.items():
        for name, breakdown in profile_interleaved(steps, device, calls).items():
            layers = count_convolution_layers(runners[name].eval_model)
            breakdowns[name][step] = replace(breakdown, convolution_layers=layers)
    return breakdowns
