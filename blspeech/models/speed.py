"""Wall-clock speed of acoustic models, measured side by side in one process.

``python -m blspeech.models.speed bl-vgg-small`` times a bL model and its baseline twin,
interleaved (model A, model B, A, B, ...) so that both see the same machine load, and
reports medians: inference throughput (seconds of audio per second) at batch 1 and 16
and the time of one training step (forward, CTC or cross-entropy, backward, AdamW).
Inference runs the model as decoding does (``prepare_for_inference``: batch norms folded,
oneDNN convolutions); training runs it as training does.
On a CPU, FLOPs are not wall time: ``--channels-last`` and ``--compile`` show how much
of the gap is memory layout and un-fused element-wise work.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from blspeech.allocator import retain_freed_memory
from blspeech.models.acoustic import AcousticModel
from blspeech.models.inference import prepare_for_inference
from blspeech.models.registry import baseline_name, baseline_twin_config, build_model, list_models

FRAME_RATE = 100  # input frames per second of audio
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's modes


@dataclass(frozen=True)
class SpeedReport:
    """Medians over the repeats. ``inference_audio_per_second[b]``: seconds of audio
    processed per wall-clock second at batch size b; the training step uses
    ``train_batch_size`` utterances of ``utterance_seconds`` each. ``seconds`` holds the timed
    repeats behind the medians ("infer{b}" and "train" -> seconds)."""

    name: str
    inference_audio_per_second: dict[int, float]
    train_step_seconds: float
    train_batch_size: int
    utterance_seconds: float
    seconds: dict[str, list[float]] = field(default_factory=dict, compare=False)

    @property
    def train_audio_per_second(self) -> float:
        return self.train_batch_size * self.utterance_seconds / self.train_step_seconds

    @classmethod
    def from_seconds(cls, name: str, seconds: dict[str, list[float]], *, train_batch_size: int,
                     utterance_seconds: float, statistic: Callable[[list[float]], float] = statistics.median,
                     ) -> SpeedReport:
        """Summarize timed repeats with ``statistic`` (median by default)."""
        batch_sizes = sorted(int(key.removeprefix("infer")) for key in seconds if key.startswith("infer"))
        return cls(name=name,
                   inference_audio_per_second={b: b * utterance_seconds / statistic(seconds[f"infer{b}"])
                                               for b in batch_sizes},
                   train_step_seconds=statistic(seconds["train"]), train_batch_size=train_batch_size,
                   utterance_seconds=utterance_seconds, seconds=seconds)

    def fastest(self) -> SpeedReport:
        """The same measurements summarized by their fastest repeat instead of the median. Other
        jobs on a shared machine only ever add time, so the minimum is closest to the model's own
        cost; the median also counts how often others got in the way."""
        return SpeedReport.from_seconds(self.name, self.seconds, train_batch_size=self.train_batch_size,
                                        utterance_seconds=self.utterance_seconds, statistic=min)


@dataclass(frozen=True)
class SpeedOptions:
    """How the models run: ``channels_last`` memory format, ``compile`` with torch.compile in
    ``compile_mode`` ("reduce-overhead" replays CUDA graphs: no kernel launch gaps on a GPU), on
    ``device`` ("cpu", "cuda", "cuda:1", ...; timings wait for the device to finish), the training
    step's forward pass under bfloat16 autocast with ``amp`` (as the Trainer trains on a GPU;
    CUDA only)."""

    channels_last: bool = False
    compile: bool = False
    device: str = "cpu"
    compile_mode: str = "default"
    amp: bool = False

    def __post_init__(self) -> None:
        if self.amp and not self.device.startswith("cuda"):
            raise ValueError(f"amp (bfloat16 autocast) is for CUDA devices, as in training; device is {self.device}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile_mode {self.compile_mode!r} (choose {', '.join(COMPILE_MODES)})")
        if self.compile_mode != "default" and not self.compile:
            raise ValueError(f"compile_mode {self.compile_mode!r} without compile")


def measure_speed(models: Mapping[str, AcousticModel], *, utterance_seconds: float = 4.0,
                  batch_sizes: Sequence[int] = (1, 16), train_batch_size: int = 16, repeats: int = 5,
                  options: SpeedOptions = SpeedOptions()) -> dict[str, SpeedReport]:
    """Time every model in ``models`` (name -> model), interleaved; one untimed warm-up round.

    The models are copied, so the caller's weights and BN statistics are left untouched.
    """
    if repeats < 1 or utterance_seconds <= 0 or train_batch_size < 1 or not batch_sizes:
        raise ValueError(f"need repeats >= 1, utterance_seconds > 0, train_batch_size >= 1 and batch sizes; got "
                         f"repeats={repeats}, utterance_seconds={utterance_seconds}, "
                         f"train_batch_size={train_batch_size}, batch_sizes={list(batch_sizes)}")
    frames = round(utterance_seconds * FRAME_RATE)
    timers = {name: ModelRunner(model, frames, batch_sizes, train_batch_size, options)
              for name, model in models.items()}
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in models}
    with room_to_compile(len(models) * (len(batch_sizes) + 1) if options.compile else 0):
        for round_index in range(repeats + 1):
            for name, timer in timers.items():
                for key, seconds in timer.run_once().items():
                    if round_index > 0:  # the first round warms up allocators and compiled graphs
                        samples[name].setdefault(key, []).append(seconds)
    return {name: SpeedReport.from_seconds(name, samples[name], train_batch_size=train_batch_size,
                                           utterance_seconds=utterance_seconds)
            for name in models}


@contextlib.contextmanager
def room_to_compile(variants: int) -> Iterator[None]:
    """torch.compile's cache, emptied and with room for ``variants`` compiled graphs of one function.

    Dynamo keeps compiled graphs per Python function, and every model of a class shares its
    ``forward``: one graph per model and input shape and grad mode. Past its limit (8 by
    default) dynamo stops compiling and runs the function eagerly, so a group of compiled models
    would silently time some of them uncompiled.
    """
    if variants <= 0:
        yield
        return
    import torch._dynamo  # only when compiling: importing it takes seconds

    torch._dynamo.reset()
    with torch._dynamo.config.patch(recompile_limit=max(8, 2 * variants)):
        yield


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (CUDA runs asynchronously; a CPU has nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ModelRunner:
    """One model's inference and training steps on fixed random inputs, on ``options.device``.

    Inputs are (B, C, F, T) features of ``frames`` frames for every batch size in
    ``batch_sizes`` (inference) and ``train_batch_size`` (training); the model is copied.
    """

    def __init__(self, model: AcousticModel, frames: int, batch_sizes: Sequence[int], train_batch_size: int,
                 options: SpeedOptions) -> None:
        device = torch.device(options.device)
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        self.device = device
        self.train_model = copy.deepcopy(model).train().to(device=device, memory_format=memory_format)
        self.eval_model = prepare_for_inference(model, channels_last=options.channels_last).to(device)
        self.optimizer = torch.optim.AdamW(self.train_model.parameters(), lr=1e-4)
        self.train_forward: Callable[..., tuple[Tensor, Tensor]] = self.train_model
        self.eval_forward: Callable[..., tuple[Tensor, Tensor]] = self.eval_model
        if options.compile:
            mode = None if options.compile_mode == "default" else options.compile_mode
            self.train_forward = torch.compile(self.train_model, dynamic=False, mode=mode)
            self.eval_forward = torch.compile(self.eval_model, dynamic=False, mode=mode)
        self.amp = options.amp
        generator = torch.Generator().manual_seed(0)

        def features(batch: int) -> tuple[Tensor, Tensor]:
            x = torch.randn(batch, model.in_channels, model.num_mel_bins, frames, generator=generator)
            x = x.to(device).contiguous(memory_format=memory_format)
            return x, torch.full((batch,), frames, device=device)

        self.inference_inputs = {b: features(b) for b in batch_sizes}
        self.train_inputs = features(train_batch_size)
        self.output = model.output
        self.num_outputs = model.num_outputs
        out_frames = -(-frames // model.time_subsampling)
        target_length = max(1, out_frames // 3) if model.output == "ctc" else out_frames
        low = 1 if model.output == "ctc" else 0  # CTC keeps 0 for the blank
        self.targets = torch.randint(low, model.num_outputs, (train_batch_size, target_length),
                                     generator=generator).to(device)

    def run_once(self) -> dict[str, float]:
        """Seconds of one inference pass per batch size (``infer{b}``) and one training step (``train``).

        Each timed inference pass follows an untimed one on the same input, so it sees a decoding
        loop's steady state (allocator pages and caches warm), not what the previous model's
        training step left behind (at batch 1 that alone added half the time).
        """
        seconds = {}
        for batch in self.inference_inputs:
            self.infer(batch)
            synchronize(self.device)
            start = time.perf_counter()
            self.infer(batch)
            synchronize(self.device)
            seconds[f"infer{batch}"] = time.perf_counter() - start
        start = time.perf_counter()
        self.train_step()
        synchronize(self.device)
        seconds["train"] = time.perf_counter() - start
        return seconds

    def infer(self, batch: int) -> None:
        """One inference pass over the batch of ``batch`` utterances."""
        x, lengths = self.inference_inputs[batch]
        with torch.inference_mode():
            self.eval_forward(x, lengths)

    def train_step(self) -> None:
        """Forward, CTC or cross-entropy loss, backward and an AdamW update."""
        x, lengths = self.train_inputs
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, out_lengths = self.train_forward(x, lengths)
        logits = logits.float()  # the losses in float32, as the training objectives compute them
        if self.output == "ctc":
            log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T', B, V) as ctc_loss wants
            target_lengths = torch.full((x.shape[0],), self.targets.shape[1], device=self.device)
            loss = F.ctc_loss(log_probs, self.targets, out_lengths, target_lengths, zero_infinity=True)
        else:
            loss = F.cross_entropy(logits.reshape(-1, self.num_outputs), self.targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def format_reports(reports: Mapping[str, SpeedReport], baseline: str) -> str:
    """A table; the last column is each model's speed relative to ``baseline``."""
    reference = reports[baseline]
    batch_sizes = list(reference.inference_audio_per_second)
    header = "".join(f"  infer b={b:<3d}" for b in batch_sizes) + "  train step (s)  train audio/s  speed-up"
    lines = [f"{'model':20s}{header}"]
    for name, report in reports.items():
        cells = "".join(f"  {report.inference_audio_per_second[b]:10.1f}" for b in batch_sizes)
        speedups = [report.inference_audio_per_second[b] / reference.inference_audio_per_second[b]
                    for b in batch_sizes] + [reference.train_step_seconds / report.train_step_seconds]
        lines.append(f"{name:20s}{cells}  {report.train_step_seconds:14.3f}  {report.train_audio_per_second:13.1f}"
                     f"  {' / '.join(f'{s:.2f}' for s in speedups)}")
    lines.append("(inference in seconds of audio per second; speed-up vs "
                 f"{baseline}: inference per batch size / training)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blspeech.models.speed", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a bL model (its baseline twin is timed beside it): "
                                     f"{', '.join(name for name in list_models() if baseline_name(name))}")
    parser.add_argument("--num-outputs", type=int, default=32, help="output units (default 32)")
    parser.add_argument("--num-mel-bins", type=int, default=40, help="mel bins (default 40)")
    parser.add_argument("--output", default="ctc", help="ctc or hybrid (default ctc)")
    parser.add_argument("--utterance-seconds", type=float, default=4.0, help="utterance length (default 4 s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per model (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or not args.utterance_seconds > 0:
        parser.error(f"--threads and --repeats must be >= 1 and --utterance-seconds > 0, got {args.threads}, "
                     f"{args.repeats} and {args.utterance_seconds}")
    torch.set_num_threads(args.threads)
    retain_freed_memory()
    try:
        model = build_model(args.name, num_outputs=args.num_outputs, num_mel_bins=args.num_mel_bins,
                            output=args.output)
    except ValueError as error:
        parser.error(str(error))
    if not model.config["big_little"]:
        parser.error(f"{args.name} has no bL-modules; name a bL model (its baseline is timed beside it)")
    twin = baseline_twin_config(model.config)
    models = {twin["name"]: build_model(**twin), args.name: model}
    reports = measure_speed(models, utterance_seconds=args.utterance_seconds, repeats=args.repeats,
                            options=SpeedOptions(channels_last=args.channels_last, compile=args.compile))
    print(format_reports(reports, baseline=twin["name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
