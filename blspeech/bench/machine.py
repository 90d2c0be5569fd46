"""What the benchmark ran on, how fast that machine multiplies matrices, and what one layer call
costs it whatever the layer's size.

The matmul figure is the yardstick for the models' efficiency: large matrix products are the
best case for the machine's vector units (or tensor cores), so a model's FLOP/s divided by it
says how much of the machine the model actually uses. A yardstick only means that in the
arithmetic the models run in: a GPU convolves float32 tensors in TF32 on its tensor cores
(cuDNN's default) and trains under autocast in bfloat16, each several times faster than plain
float32 matmul, so the limits are measured in each arithmetic the models use. The fixed cost of
a call is the other side: a model of many small layers pays it once per layer.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from blspeech.models.inference import InferenceConv2d
from blspeech.models.speed import synchronize


@dataclass(frozen=True)
class MachineInfo:
    """The machine as the results file describes it."""

    processor: str
    logical_cores: int
    device: str
    accelerator: str
    torch_version: str
    threads: int
    python_version: str
    date: str

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The first "model name" of ``cpuinfo`` (x86 Linux), else what ``platform`` knows."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device; "cuda" on a machine without a usable GPU is a ValueError."""
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}: {error}") from error
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but there are only {torch.cuda.device_count()} GPUs")
    elif parsed.type != "cpu":
        raise ValueError(f"device must be cpu or cuda[:N], got {device!r}")
    return parsed


def describe_machine(device: torch.device, threads: int) -> MachineInfo:
    accelerator = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    return MachineInfo(
        processor=cpu_model(), logical_cores=os.cpu_count() or 0, device=str(device), accelerator=accelerator,
        torch_version=torch.__version__, threads=threads, python_version=platform.python_version(),
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))


ARITHMETICS = ("float32", "tf32", "bfloat16")


def model_arithmetic(device: torch.device, *, autocast: bool = False) -> str:
    """The arithmetic a model's convolutions run in on ``device``: bfloat16 under autocast (the
    GPU training step), TF32 for float32 tensors where cuDNN is allowed it, else float32."""
    if autocast:
        return "bfloat16"
    return "tf32" if device.type == "cuda" and torch.backends.cudnn.allow_tf32 else "float32"


@contextlib.contextmanager
def arithmetic_mode(device: torch.device, arithmetic: str) -> Iterator[torch.dtype]:
    """The tensor dtype of ``arithmetic``, with TF32 tensor cores allowed for float32 matmuls and
    convolutions exactly when it is "tf32" (restored afterwards). TF32 is a GPU arithmetic."""
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {', '.join(ARITHMETICS)}, got {arithmetic!r}")
    if arithmetic == "tf32" and device.type != "cuda":
        raise ValueError(f"TF32 is a CUDA arithmetic; device is {device}")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = arithmetic == "tf32"
    try:
        yield torch.bfloat16 if arithmetic == "bfloat16" else torch.float32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def matmul_flops_per_second(device: torch.device, *, size: int = 2048, arithmetic: str = "float32",
                            repeats: int = 5) -> float:
    """FLOP/s of the fastest of ``repeats`` ``size`` x ``size`` matrix products (2 size^3 FLOPs
    each) on ``device`` in ``arithmetic``."""
    if size < 1 or repeats < 1:
        raise ValueError(f"need size >= 1 and repeats >= 1, got size={size}, repeats={repeats}")
    generator = torch.Generator().manual_seed(0)
    with arithmetic_mode(device, arithmetic) as dtype:
        a = torch.randn(size, size, generator=generator).to(device, dtype)
        b = torch.randn(size, size, generator=generator).to(device, dtype)
        return 2.0 * size ** 3 / _fastest_seconds(lambda: torch.matmul(a, b), device, repeats)


def conv_flops_per_second(device: torch.device, *, channels: int = 128, size: int = 64, batch: int = 8,
                          channels_last: bool = True, arithmetic: str = "float32", repeats: int = 5) -> float:
    """FLOP/s of the fastest of ``repeats`` wide 3x3 convolutions in ``arithmetic``, (batch,
    channels, size, size) -> same shape: the convolution engine's best case, a second yardstick
    beside matmul (on some CPUs the BLAS behind matmul and the oneDNN behind convolutions do not
    use the vector units alike)."""
    if min(channels, size, batch, repeats) < 1:
        raise ValueError(f"need positive channels, size, batch and repeats, got {channels}, {size}, {batch}, {repeats}")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    generator = torch.Generator().manual_seed(0)
    flops = 2.0 * batch * size * size * channels * channels * 9
    with arithmetic_mode(device, arithmetic) as dtype, torch.inference_mode():
        x = torch.randn(batch, channels, size, size, generator=generator).to(device, dtype)
        weight = torch.randn(channels, channels, 3, 3, generator=generator).to(device, dtype)
        x, weight = x.contiguous(memory_format=memory_format), weight.contiguous(memory_format=memory_format)
        return flops / _fastest_seconds(lambda: F.conv2d(x, weight, padding=1), device, repeats)


@dataclass(frozen=True)
class MachineLimits:
    """The two yardsticks in one arithmetic, with the problems that measured them."""

    arithmetic: str
    matmul_flops: float
    conv_flops: float
    matmul_size: int
    conv_batch: int
    conv_size: int
    conv_channels: int

    def best(self, other: MachineLimits) -> MachineLimits:
        """The higher of each figure: load on a shared machine only ever lowers them."""
        return replace(self, matmul_flops=max(self.matmul_flops, other.matmul_flops),
                       conv_flops=max(self.conv_flops, other.conv_flops))

    def describe(self) -> str:
        return (f"{self.matmul_flops / 1e9:.1f} GFLOP/s for {self.matmul_size} x {self.matmul_size} {self.arithmetic} "
                f"`torch.matmul` products, {self.conv_flops / 1e9:.1f} GFLOP/s for a wide {self.arithmetic} 3x3 "
                f"convolution ({self.conv_channels} channels in and out, batch {self.conv_batch}, "
                f"{self.conv_size} x {self.conv_size} maps: the convolution engine's best case)")


def measure_limits(device: torch.device, arithmetic: str, *, matmul_size: int, conv_batch: int, conv_size: int,
                   conv_channels: int = 128, channels_last: bool = True) -> MachineLimits:
    """Both yardsticks of ``device`` in ``arithmetic``."""
    return MachineLimits(
        arithmetic=arithmetic,
        matmul_flops=matmul_flops_per_second(device, size=matmul_size, arithmetic=arithmetic),
        conv_flops=conv_flops_per_second(device, channels=conv_channels, size=conv_size, batch=conv_batch,
                                         channels_last=channels_last, arithmetic=arithmetic),
        matmul_size=matmul_size, conv_batch=conv_batch, conv_size=conv_size, conv_channels=conv_channels)


def convolution_call_seconds(device: torch.device, *, calls: int = 200, repeats: int = 5) -> float:
    """Seconds per call of a convolution with next to no work, run as inference runs its layers
    (a 16-channel 3x3 convolution with its ReLU fused, on one 2 x 2 map, on ``device``): the cost
    every convolution pays whatever its size (Python module call, dispatch, the convolution
    library's per-call set-up; on a GPU, the kernel launch). The fastest of ``repeats`` runs of
    ``calls`` calls each."""
    if calls < 1 or repeats < 1:
        raise ValueError(f"need calls >= 1 and repeats >= 1, got calls={calls}, repeats={repeats}")
    conv = InferenceConv2d(16, 16, 3, padding=1).to(device).eval().requires_grad_(False)
    conv.activation = "relu"
    x = torch.randn(1, 16, 2, 2, generator=torch.Generator().manual_seed(0)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)

    def run() -> None:
        for _ in range(calls):
            conv(x)

    with torch.inference_mode():
        return _fastest_seconds(run, device, repeats) / calls


def _fastest_seconds(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Shortest wall time of ``run()`` over ``repeats`` calls after one untimed warm-up call."""
    seconds = []
    for index in range(repeats + 1):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        if index > 0:
            seconds.append(time.perf_counter() - start)
    return min(seconds)
