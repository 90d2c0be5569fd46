"""Peak memory of one model's inference pass and training step, each in a fresh process.

Why a fresh process: the CPU allocator keeps freed memory, so in a process that already ran
another model, a second model's peak hides inside the first one's leftovers. Each measurement
runs in a child forked from a server that has only imported the package (multiprocessing's
"forkserver"), so children start small, in the same state, and quickly.

CPU: the peak resident set size (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``
just before the step) minus the resident size just before it, i.e. the memory the step itself
needs (activations, gradients, optimizer state, workspaces) on top of the built model and its
inputs. An inference pass is measured after one unmeasured pass, as in a decoding loop (the
first builds the inference-ready model's oneDNN weights); a training step is the first one, so
it includes the optimizer state it creates. The child first tells glibc to serve every block
of 64 KiB or more with its own mmap: freed tensors then leave the resident set at once, so the
peak is the peak of live memory rather than of whatever the allocator happened to keep cached
(which made the same measurement differ by 50% between runs).

CUDA: ``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before
it, the same quantity as PyTorch's caching allocator counts it. The children keep cuDNN's
default algorithm choice (benchmark mode off, unlike the timings): with it on, the measured
training step, the first, would also hold the workspaces of cuDNN's algorithm trials.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from blspeech.allocator import unmap_large_blocks_on_free
from blspeech.models import build_model
from blspeech.models.speed import FRAME_RATE, ModelRunner, SpeedOptions, synchronize

STEPS = ("inference", "train")


@dataclass(frozen=True)
class MemoryJob:
    """One measurement: ``step`` ("inference" or "train") of the model ``build_model(**config)``
    on a batch of ``batch_size`` utterances of ``utterance_seconds``."""

    config: Mapping[str, Any]
    step: str
    batch_size: int
    utterance_seconds: float
    options: SpeedOptions
    threads: int = 1

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"step must be one of {STEPS}, got {self.step!r}")
        if self.batch_size < 1 or self.utterance_seconds <= 0:
            raise ValueError(f"need batch_size >= 1 and utterance_seconds > 0, got {self.batch_size}, "
                             f"{self.utterance_seconds}")


def _proc_status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field} line; peak RSS needs Linux")
    return int(match.group(1))


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak RSS (VmHWM) to the current RSS


def measure_step_memory(job: MemoryJob) -> int:
    """Bytes the step needs at its peak, measured in the calling process (see the module docstring).

    Meant to run in a fresh process: :func:`measure_memory` arranges that.
    """
    torch.set_num_threads(job.threads)
    device = torch.device(job.options.device)
    if device.type == "cpu":
        unmap_large_blocks_on_free()
    model = build_model(**job.config)
    frames = round(job.utterance_seconds * FRAME_RATE)
    runner = ModelRunner(model, frames, (job.batch_size,), job.batch_size, job.options)
    del model
    run = (lambda: runner.infer(job.batch_size)) if job.step == "inference" else runner.train_step
    if job.step == "inference":
        run()  # decoding's steady state: the first pass builds oneDNN's reordered weights, part of the model
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    before = _proc_status_kib("VmRSS")
    _reset_peak_rss()
    run()
    return (_proc_status_kib("VmHWM") - before) * 1024


def measure_memory(jobs: list[MemoryJob]) -> list[int]:
    """Peak bytes of every job, each in its own fresh process, one after the other."""
    context = multiprocessing.get_context("forkserver")
    # Children start with this module (hence torch) imported, and torch._dynamo, which building
    # an optimizer imports on first use (seconds per child otherwise).
    context.set_forkserver_preload([__name__, "torch._dynamo"])
    with ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1) as pool:
        return list(pool.map(measure_step_memory, jobs))
