"""The benchmark's results as Markdown (``results.md``) and JSON (``results.json``).

Every number in the Markdown comes from the measurements passed in; the explanations of
speed-ups below the claimed 1.3x are written from the profiler breakdowns of the same run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from blspeech.bench.breakdown import CATEGORY_NAMES, TimeBreakdown
from blspeech.bench.datapath import DataPathFigures
from blspeech.bench.trained import DecodeTiming, format_decode_timings
from blspeech.bench.machine import MachineInfo, MachineLimits
from blspeech.bench.pairs import ModelFigures, PairGroup, pair_ratios

CLAIM_FLOPS_RATIO = 0.7  # where bL needs at most this share of the baseline's FLOPs ...
CLAIM_SPEEDUP = 1.3  # ... it should be at least this much faster in wall time
MIB = 2 ** 20
SPEEDUP_LEGEND = ("Speed-ups are baseline time / bL time, as *median / best*: from the median of the "
                  "interleaved repeats, and from each model's fastest repeat (other jobs on a shared machine "
                  "only ever add time, so the fastest repeat is closest to the model's own cost).")


@dataclass(frozen=True)
class BenchResults:
    """Everything one benchmark run measured. ``breakdowns[group title][model label][step]``,
    step "infer{b}" or "train"; ``limits["inference"]`` and ``limits["training"]`` are the machine's
    yardsticks in the arithmetic of each step."""

    machine: MachineInfo
    limits: dict[str, MachineLimits]
    cpu_share: float  # CPU seconds of this process per wall second while the models were timed
    groups: list[PairGroup]
    breakdowns: dict[str, dict[str, dict[str, TimeBreakdown]]]
    data_path: DataPathFigures | None
    command: str
    note: str = ""
    plot_note: str = ""
    extra_notes: list[str] = field(default_factory=list)
    decode_timings: list[DecodeTiming] = field(default_factory=list)
    convolution_call_seconds: float = 0.0  # fixed cost of one convolution call (machine.convolution_call_seconds)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


GPU_BREAKDOWN_NOTE = (" On a GPU each category is kernel time, and *outside operators* is the wall time in which "
                      "no kernel ran: the GPU waiting for the host to launch the next one. Where that dominates, "
                      "the step is launch-bound and its time follows the number of kernels, not FLOPs.")
DECODE_TIMING_NOTE = ("The trained models of each experiment whose results.json the plot reads compute the "
                      "log-probabilities of its dev and test sets as its decode stage does: features read from the "
                      "data dir, utterances batched by length, the inference-ready model; bL model and baselines "
                      "interleaved, median seconds over the rounds after a warm-up round. RTF = seconds per second of "
                      "audio. Beam search and scoring come after and do not depend on the model.")


def _step_name(step: str) -> str:
    return "training step" if step == "train" else f"inference b={step.removeprefix('infer')}"


def _settings(group: PairGroup) -> str:
    timing, options = group.timing, group.options
    layout = "channels-last" if options.channels_last else "contiguous (NCHW)"
    extras = ""
    if options.compile:
        extras += ", torch.compile" + ("" if options.compile_mode == "default" else f" mode {options.compile_mode}")
    if options.amp:
        extras += ", training forward under bfloat16 autocast"
    library = "cuDNN" if options.device.startswith("cuda") else "oneDNN"
    return (f"{timing.utterance_seconds:g} s utterances; inference batch {'/'.join(map(str, timing.batch_sizes))}, "
            f"training batch {timing.train_batch_size}; median of {timing.repeats} interleaved repeats after one "
            f"warm-up; {layout}{extras}; device {options.device}; inference runs the models as decoding does "
            f"(batch norms folded into the convolutions, {library} convolutions: `prepare_for_inference`)")


def format_machine(results: BenchResults) -> str:
    machine = results.machine
    lines = [
        f"- date: {machine.date}",
        f"- processor: {machine.processor}, {machine.logical_cores} logical cores"
        + (f"; accelerator: {machine.accelerator}" if machine.accelerator != "none" else ""),
        f"- device: {machine.device}; torch {machine.torch_version} (Python {machine.python_version}), "
        f"{machine.threads} intra-op thread(s)",
        f"- command: `{results.command}`",
    ]
    lines.append(f"- CPU time of this process per wall-clock second while the models were timed: "
                 f"{results.cpu_share:.2f} (of {machine.threads} thread(s) asked; less means other jobs shared "
                 "the cores)")
    if results.note:
        lines.append(f"- note: {results.note}")
    return "\n".join(lines)


def format_summary(groups: Sequence[PairGroup]) -> str:
    """One row per registered bL preset: its ratios to the baseline."""
    batches = sorted({batch for group in groups for batch in group.timing.batch_sizes})
    rows = [_ratio_row(f"{group.title}: {figures.label}", group, figures, batches)
            for group in groups for figures in group.variants if figures.preset]
    return _table(_ratio_head("pair", batches), rows) + "\n\n" + SPEEDUP_LEGEND


def _ratio_head(first: str, batches: Sequence[int]) -> list[str]:
    return ([first, "FLOPs bL/base", "params bL/base"] + [f"speed-up infer b={b}" for b in batches]
            + ["speed-up train", "memory infer bL/base", "memory train bL/base"])


def _both(median: float, best: float) -> str:
    return f"{median:.2f}x / {best:.2f}x"


def _ratio_row(label: str, group: PairGroup, figures: ModelFigures, batches: Sequence[int]) -> list[str]:
    ratios = pair_ratios(figures, group.baseline)
    speedups = [_both(ratios.inference_speedup[b], ratios.best_inference_speedup[b])
                if b in ratios.inference_speedup else "-" for b in batches]
    return ([label, f"{ratios.flops:.3f}", f"{ratios.parameters:.3f}"] + speedups
            + [_both(ratios.train_speedup, ratios.best_train_speedup)]
            + [f"{ratios.memory[step]:.2f}" if step in ratios.memory else "-" for step in ("inference", "train")])


def format_group(group: PairGroup) -> str:
    """Absolute figures of every model of the group, then each bL model's ratios."""
    batches = group.timing.batch_sizes
    head = (["model", "params", "GFLOPs / s audio"] + [f"infer b={b} (s audio/s)" for b in batches]
            + ["train step (s)", "train (s audio/s)", f"peak mem infer b={max(batches)} (MiB)", "peak mem train (MiB)"])
    rows = []
    for figures in group.figures:
        memory = [f"{figures.memory_bytes[step] / MIB:.1f}" if step in figures.memory_bytes else "-"
                  for step in ("inference", "train")]
        rows.append([figures.label, f"{figures.parameters / 1e6:.3f}M", f"{figures.flops_per_second / 1e9:.3f}"]
                    + [f"{figures.inference_audio_per_second[b]:.1f}" for b in batches]
                    + [f"{figures.train_step_seconds:.3f}", f"{figures.train_audio_per_second:.1f}"] + memory)
    ratio_head = _ratio_head("bL model", batches)
    ratio_rows = [_ratio_row(figures.label + (" (preset)" if figures.preset else ""), group, figures, batches)
                  for figures in group.variants]
    parts = [f"### {group.title}", _settings(group) + ".", _table(head, rows), _table(ratio_head, ratio_rows)]
    return "\n\n".join(parts + [f"- {line}" for line in twin_spreads(group)])


def twin_spreads(group: PairGroup) -> list[str]:
    """How far apart identical architectures were timed: the run's own measurement noise.

    Two grid points that differ only in beta, with equal parameters and FLOPs, have the same
    Little-Branch depths (``depth // beta - 1`` is at most 1 for both), i.e. the same network.
    """
    lines = []
    for first, second in itertools.combinations(group.variants, 2):
        same = ({k: v for k, v in first.config.items() if k != "beta"}
                == {k: v for k, v in second.config.items() if k != "beta"})
        if not same or first.parameters != second.parameters or first.flops_per_second != second.flops_per_second:
            continue
        pairs = [(first.inference_audio_per_second[b], second.inference_audio_per_second[b])
                 for b in group.timing.batch_sizes] + [(first.train_step_seconds, second.train_step_seconds)]
        spread = max(abs(a - b) / min(a, b) for a, b in pairs)
        lines.append(f"{first.label} and {second.label} are the same network (equal parameters and FLOPs); "
                     f"their medians differ by up to {100 * spread:.0f}%: the measurement noise of this run.")
    return lines


def format_efficiency(groups: Sequence[PairGroup], limits: Mapping[str, MachineLimits]) -> str:
    inference, training = limits["inference"], limits["training"]
    head = ["group", "model", "inference GFLOP/s (largest batch)", "% of matmul", "% of best conv",
            "training GFLOP/s (~3x forward)", "% of matmul", "% of best conv"]
    rows = []
    for group in groups:
        batch = max(group.timing.batch_sizes)
        for figures in group.figures:
            if not figures.preset:
                continue
            cells = [group.title, figures.label]
            for achieved, limit in ((figures.achieved_flops(batch), inference), (figures.achieved_flops(None), training)):
                cells += [f"{achieved / 1e9:.1f}", f"{100 * achieved / limit.matmul_flops:.0f}",
                          f"{100 * achieved / limit.conv_flops:.0f}"]
            rows.append(cells)
    if inference == training:
        measured = inference.describe()
    else:
        measured = (f"inference ({inference.arithmetic}, as the models' inference computes): {inference.describe()}; "
                    f"training ({training.arithmetic}, as the training steps compute): {training.describe()}")
    intro = (f"Machine limits, measured in this run in the arithmetic each step uses: {measured}. Each is the "
             "fastest of 5, measured before and after the model timing. A model's FLOP/s = its FLOPs per second of "
             "audio (convolutions and the head's matmuls, 2 per multiply-add) x seconds of audio per second in its "
             "fastest repeat; training counts ~3 forward passes per step. On a shared machine the share of a core "
             "each measurement gets varies, so the percentages are approximate. Where the two limits differ a lot, "
             "the BLAS behind matmul and the convolution library do not use the machine alike (e.g. MKL's sgemm on "
             "an AMD CPU).")
    return intro + "\n\n" + _table(head, rows)


def call_cost_note(call_seconds: float) -> str:
    """What one convolution call costs whatever its size, for the breakdowns' introduction."""
    if call_seconds <= 0:
        return ""
    return (f" One convolution call costs {call_seconds * 1e6:.0f} us here even with next to no work (16 channels, "
            "a 2 x 2 map, run as inference runs its layers: module call, dispatch, the convolution library's "
            "per-call set-up), so a model of more, smaller layers pays more of it.")


def format_breakdowns(breakdowns: dict[str, dict[str, dict[str, TimeBreakdown]]], call_seconds: float = 0.0) -> str:
    """Per pair and step: milliseconds by operator category for both models, and what differs."""
    sections = []
    for title, models in breakdowns.items():
        labels = list(models)
        if len(labels) != 2:
            continue
        base_label, bl_label = labels
        steps = list(models[base_label])
        used = [c for c in CATEGORY_NAMES if any(models[m][s].milliseconds.get(c) for m in labels for s in steps)]
        rows = []
        for step in steps:
            for label in labels:
                breakdown = models[label][step]
                rows.append([_step_name(step), label, f"{breakdown.total:.1f}"]
                            + [f"{breakdown.milliseconds.get(c, 0.0):.1f}" for c in used])
        explanation = [explain_step(step, models[base_label][step], models[bl_label][step], call_seconds)
                       for step in steps]
        sections.append(f"#### {title}\n\n" + _table(["step", "model", "total ms"] + [f"{c} ms" for c in used], rows)
                        + "\n\n" + "\n".join(f"- {line}" for line in explanation))
    return "\n\n".join(sections)


def explain_step(step: str, baseline: TimeBreakdown, big_little: TimeBreakdown, call_seconds: float = 0.0) -> str:
    """One sentence with the numbers that decide a speed-up: how fast each model's convolutions
    run, how many convolution layers each calls (at inference, with the fixed cost of the extra
    calls), and how much time everything else takes."""
    conv = "convolution"
    base_conv, bl_conv = baseline.milliseconds.get(conv, 0.0), big_little.milliseconds.get(conv, 0.0)
    base_rest, bl_rest = baseline.total - base_conv, big_little.total - bl_conv
    changes = sorted(((big_little.milliseconds.get(c, 0.0) - baseline.milliseconds.get(c, 0.0), c)
                      for c in CATEGORY_NAMES if c != conv), reverse=True)
    grew = ", ".join(f"{c} {delta:+.1f} ms" for delta, c in changes if delta > 0.05 * big_little.total)
    flops = (f" (its convolution FLOPs: {big_little.convolution_flops / baseline.convolution_flops:.2f}x)"
             if baseline.convolution_flops else "")
    layers = ""
    if baseline.convolution_layers and big_little.convolution_layers:
        layers = f" in {baseline.convolution_layers} -> {big_little.convolution_layers} layers"
        extra = big_little.convolution_layers - baseline.convolution_layers
        if step.startswith("infer") and call_seconds > 0 and extra > 0:
            layers += (f" (the {extra} extra calls cost at least {extra * call_seconds * 1000:.2f} ms of fixed "
                       f"cost, {call_seconds * 1e6:.0f} us each)")
    return (f"{_step_name(step)}: bL takes {big_little.total / baseline.total:.2f}x the baseline's profiled "
            f"time{flops}. Convolutions: {base_conv:.1f} -> {bl_conv:.1f} ms{layers}, running at "
            f"{baseline.convolution_flops_per_second / 1e9:.0f} -> {big_little.convolution_flops_per_second / 1e9:.0f} "
            f"GFLOP/s; all other operators: {base_rest:.1f} -> {bl_rest:.1f} ms"
            + (f" (grew most: {grew})" if grew else "") + ".")


@dataclass(frozen=True)
class ClaimCheck:
    """One bL speed-up measured where bL needs at most CLAIM_FLOPS_RATIO of the baseline's FLOPs."""

    where: str
    step: str
    flops: float
    median: float
    best: float

    @property
    def line(self) -> str:
        """With three decimals: a median of 1.296x is below the target, though two decimals print 1.30x."""
        return f"{self.where} (FLOPs {self.flops:.3f}): {self.step} {self.median:.3f}x / {self.best:.3f}x"


def claim_checks(groups: Sequence[PairGroup]) -> list[ClaimCheck]:
    """Every speed-up of every bL model with FLOPs bL/base <= 0.7."""
    return [check for group in groups for figures in group.variants for check in pair_claim_checks(group, figures)]


def pair_claim_checks(group: PairGroup, figures: ModelFigures) -> list[ClaimCheck]:
    """The speed-ups of one bL model of ``group``; none when it needs more than 0.7 of the FLOPs."""
    ratios = pair_ratios(figures, group.baseline)
    if ratios.flops > CLAIM_FLOPS_RATIO:
        return []
    where = f"{group.title}: {figures.label}"
    checks = [ClaimCheck(where, f"inference b={b}", ratios.flops, speedup, ratios.best_inference_speedup[b])
              for b, speedup in ratios.inference_speedup.items()]
    return checks + [ClaimCheck(where, "training", ratios.flops, ratios.train_speedup, ratios.best_train_speedup)]


def variants_below_target(groups: Sequence[PairGroup]) -> list[tuple[PairGroup, ModelFigures]]:
    """The bL models (with their group) that have a median speed-up below 1.3x where FLOPs bL/base <= 0.7."""
    return [(group, figures) for group in groups for figures in group.variants
            if any(check.median < CLAIM_SPEEDUP for check in pair_claim_checks(group, figures))]


def claim_failures(groups: Sequence[PairGroup]) -> list[str]:
    """Measurements whose median speed-up is below 1.3x although FLOPs bL/base <= 0.7."""
    return [check.line for check in claim_checks(groups) if check.median < CLAIM_SPEEDUP]


def format_claim(groups: Sequence[PairGroup]) -> str:
    checks = claim_checks(groups)
    models = len({check.where for check in checks})
    by_median = [check for check in checks if check.median < CLAIM_SPEEDUP]
    by_best = [check for check in checks if check.best < CLAIM_SPEEDUP]
    intro = (f"Target: a wall-time speed-up of at least {CLAIM_SPEEDUP}x wherever bL needs at most "
             f"{CLAIM_FLOPS_RATIO} of the baseline's FLOPs: {models} bL models, {len(checks)} measurements. "
             f"Below target: {len(by_median)} by the median, {len(by_best)} by the fastest repeat.")
    if not by_median:
        return intro
    return (intro + " Those below by the median (median / best; *Where the time goes* profiles each of them "
            "run eagerly; under torch.compile the profiler sees compiled kernels, not the model's operators):\n\n"
            + "\n".join(f"- {check.line}" for check in by_median))


def format_data_path(figures: DataPathFigures) -> str:
    rows = [
        ["corpus synthesis (1 job, TTS + telephone channel + SPHERE)",
         f"{figures.synthesis_realtime:.1f}x real time",
         f"{figures.synthesis_audio_seconds:.0f} s of conversation audio ({figures.synthesis_speech_seconds:.0f} s "
         f"of speech) in {figures.synthesis_seconds:.1f} s"],
        ["feature extraction (Kaldi fbank, 1 core)", f"{figures.feature_realtime_per_core:.0f}x real time per core",
         "8 kHz audio, best of the repeats"],
        ["training loader (CMVN + deltas + SpecAugment, main process)",
         f"{figures.loader_utterances_per_second:.0f} utterances/s, {figures.loader_frames_per_second:.0f} frames/s",
         f"{figures.loader_utterances} utterances, {figures.loader_audio_seconds:.0f} s of audio in "
         f"{figures.loader_seconds:.2f} s ({figures.loader_audio_seconds / figures.loader_seconds:.0f}x real time)"],
        ["CTC greedy decoding", f"RTF {figures.greedy_rtf:.5f}",
         f"{figures.decode_audio_seconds:.0f} s of audio"],
        [f"CTC lexicon beam search + {figures.lm_order}-gram LM", f"RTF {figures.beam_rtf:.4f}",
         f"beam {figures.beam_size}, threshold {figures.beam_threshold:g}"],
    ]
    notes = ("RTF = decoding seconds per second of audio (lower is faster). The decoders run on emissions shaped like "
             "a trained CTC model's (each unit of a real sentence fires on 1-2 frames between blanks, ~6 nats above "
             "noise), not on a trained model's output; the LM and lexicon come from the same sentence bank.")
    return _table(["stage", "speed", "details"], rows) + "\n\n" + notes


def format_results(results: BenchResults) -> str:
    parts = [
        "# blspeech benchmark: baseline vs bL, measured side by side",
        "Written by `python -m blspeech.bench`; every number below comes from one run on this machine.",
        "## Machine\n\n" + format_machine(results),
        "## bL / baseline at the registered presets\n\n" + format_summary(results.groups),
        "## Speed-up target\n\n" + format_claim(results.groups),
        "## Models\n\n" + "\n\n".join(format_group(group) for group in results.groups),
        "## Efficiency against the machine's limit\n\n" + format_efficiency(results.groups, results.limits),
    ]
    if results.breakdowns:
        parts.append(
            "## Where the time goes\n\nSelf time per operator category (torch.profiler; baseline and bL profiled "
            "in turn, each category the median over the calls; profiler overhead included, so totals exceed the "
            "timed medians). Convolutions follow FLOPs; "
            "batch norm, pooling, upsampling and element-wise operators are memory-bound and follow the number of "
            "full-resolution passes." + GPU_BREAKDOWN_NOTE * results.machine.device.startswith("cuda")
            + call_cost_note(results.convolution_call_seconds) + " The small presets come first, then every other "
            "bL model below the speed-up target, each with its baseline.\n\n"
            + format_breakdowns(results.breakdowns, results.convolution_call_seconds))
    if results.data_path is not None:
        parts.append("## Data path\n\n" + format_data_path(results.data_path))
    if results.decode_timings:
        parts.append("## Trained models decoding their own data\n\n" + DECODE_TIMING_NOTE + "\n\n"
                     + format_decode_timings(results.decode_timings))
    if results.plot_note:
        parts.append("## FLOPs vs WER\n\n" + results.plot_note)
    notes = [
        "Throughput = seconds of audio processed per second of wall time; speed-up = baseline time / bL time. "
        "All models of a group are timed interleaved (A, B, C, A, B, C, ...) in one process, so machine load "
        "hits them alike; each figure is the median of the repeats.",
        "FLOPs: `torch.utils.flop_counter` on one second of audio (100 frames x 40 mel bins x 3 channels), "
        "2 FLOPs per multiply-add; pooling, batch norm and element-wise work count as free.",
        "Peak memory: each model in a fresh process forked from a server that has only imported the package. "
        "CPU: peak resident set (VmHWM, reset just before the step) minus the resident set before it, so the "
        "figure is what the step needs on top of the built model and its inputs (inference: a second pass, as "
        "in a decoding loop, after the first built the oneDNN weights; training: the first step, including "
        "the AdamW state it creates); glibc is set to unmap freed blocks of 64 KiB or more at "
        "once, so the figure follows live tensors. CUDA: max_memory_allocated minus memory allocated before "
        "the step.",
    ] + results.extra_notes
    parts.append("## How it was measured\n\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


def results_json(results: BenchResults) -> str:
    """Every figure, for tools (and for the README to quote)."""
    groups = []
    for group in results.groups:
        models = []
        for figures in group.figures:
            entry = asdict(figures)
            if figures.is_big_little:
                entry["ratios"] = asdict(pair_ratios(figures, group.baseline))
            models.append(entry)
        groups.append({"title": group.title, "timing": asdict(group.timing), "options": asdict(group.options),
                       "models": models})
    document = {
        "machine": results.machine.as_dict(),
        "machine_limits": {step: asdict(limit) for step, limit in results.limits.items()},
        "convolution_call_seconds": results.convolution_call_seconds,
        "cpu_share_while_timing": results.cpu_share,
        "groups": groups,
        "breakdowns_ms": {title: {label: {step: b.milliseconds for step, b in steps.items()}
                                  for label, steps in models.items()}
                          for title, models in results.breakdowns.items()},
        "convolution_layers": {title: {label: next(iter(steps.values())).convolution_layers
                                       for label, steps in models.items() if steps}
                               for title, models in results.breakdowns.items()},
        "data_path": results.data_path.as_dict() if results.data_path is not None else None,
        "trained_decoding": [asdict(timing) for timing in results.decode_timings],
        "command": results.command,
        "note": results.note,
    }
    return json.dumps(document, indent=1) + "\n"
