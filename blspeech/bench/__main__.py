"""``python -m blspeech.bench``: baseline vs bL models, and the data path, measured in one run.

Usage::

    python -m blspeech.bench                      # full run on the CPU, writes benchmarks/
    python -m blspeech.bench --quick              # CI: tiny inputs, once, into a temporary directory
    python -m blspeech.bench --device cuda --no-data-path --out benchmarks/cuda   # the models on a GPU
    python -m blspeech.bench --results exp/swbd_mini/results.json --wer-key eval2000/lm
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from blspeech.allocator import retain_freed_memory
from blspeech.bench.run import BenchPlan, Outputs, run_benchmark, write_outputs
from blspeech.models.speed import COMPILE_MODES
from blspeech.results import read_results_file


def _positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"values must be >= 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m blspeech.bench", description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs, one repeat, small presets only; writes to a temporary directory "
                             "unless --out is given")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: benchmarks/, or a temporary one with --quick)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: per-core figures)")
    parser.add_argument("--repeats", type=int, help="timed repeats of the small models (default 11)")
    parser.add_argument("--batch-sizes", type=_positive_ints,
                        help="inference batch sizes of every group (default 1,16); larger ones fill a GPU")
    parser.add_argument("--train-batch-size", type=int, help="training batch of every group (default 16 small, 8 paper)")
    parser.add_argument("--alphas", type=_positive_ints, help="alpha grid of the small bL models (default 1,2,4)")
    parser.add_argument("--betas", type=_positive_ints, help="beta grid of the small bL models (default 1,2,4)")
    parser.add_argument("--no-paper", action="store_true", help="leave out the paper-sized presets")
    parser.add_argument("--contiguous", action="store_true", help="NCHW tensors instead of channels-last")
    parser.add_argument("--compile", action="store_true", help="also time the small presets under torch.compile")
    parser.add_argument("--compile-mode", choices=COMPILE_MODES,
                        help="torch.compile mode of --compile (default: default; reduce-overhead replays CUDA "
                             "graphs, for small models on a GPU)")
    parser.add_argument("--amp", action="store_true",
                        help="training steps under bfloat16 autocast, as the Trainer trains on a GPU (CUDA only)")
    parser.add_argument("--no-data-path", action="store_true",
                        help="leave out the data path (CPU work that needs the TTS engines), e.g. on a GPU machine")
    parser.add_argument("--results", type=Path, action="append",
                        help="main-job results.json: its WERs for the plot, its trained models for the decode timing "
                             "(repeatable; default: exp/*/results.json)")
    parser.add_argument("--wer-key", help="which set/mode WER to plot, e.g. eval2000/lm (default: chosen per file)")
    parser.add_argument("--note", default="", help="a remark for the results file (e.g. machine load)")
    return parser


def plan_from_args(args: argparse.Namespace) -> BenchPlan:
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.compile_mode is not None and not args.compile:
        raise ValueError("--compile-mode needs --compile")
    if args.amp and not args.device.startswith("cuda"):
        raise ValueError(f"--amp is for CUDA devices (bfloat16 autocast, as in training), not {args.device}")
    plan = BenchPlan.quick(args.device) if args.quick else BenchPlan(device=args.device)
    changes: dict = {"threads": args.threads, "channels_last": not args.contiguous, "compile": args.compile,
                     "compile_mode": args.compile_mode or "default", "amp": args.amp}
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
        changes["small"] = replace(plan.small, repeats=args.repeats)
    if args.train_batch_size is not None and args.train_batch_size < 1:
        raise ValueError(f"--train-batch-size must be >= 1, got {args.train_batch_size}")
    batches = {"batch_sizes": args.batch_sizes, "train_batch_size": args.train_batch_size}
    batches = {key: value for key, value in batches.items() if value is not None}
    for group in ("small", "paper"):
        timing = changes.get(group, getattr(plan, group))
        if batches and timing is not None:
            changes[group] = replace(timing, **batches)
    if args.alphas is not None:
        changes["alphas"] = args.alphas
    if args.betas is not None:
        changes["betas"] = args.betas
    if args.no_paper:
        changes["paper"] = None
    if args.no_data_path:
        changes["data_path"] = None
    return replace(plan, **changes)


def check_results(paths: Sequence[Path], wer_key: str | None) -> None:
    """Read the results files now: a missing or malformed one, or a --wer-key none of them has,
    fails before the benchmark runs instead of after it (when nothing would be written)."""
    entries = [entry for path in paths for entry in read_results_file(path)]
    keys = sorted({key for entry in entries for key in entry.wer})
    if wer_key is not None and entries and wer_key not in keys:
        raise ValueError(f"--wer-key {wer_key!r} is in none of the results files; they have {', '.join(keys)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        plan = plan_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="blspeech-bench-quick-")) if args.quick else Path("benchmarks"))
    results_files = args.results if args.results is not None else sorted(Path("exp").glob("*/results.json"))
    try:
        check_results(results_files, args.wer_key)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    command = "python -m blspeech.bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    try:
        results = run_benchmark(plan, command.strip(), note=args.note, results_files=results_files)
    except ValueError as error:  # e.g. --device cuda without a GPU
        parser.error(str(error))
    for path in write_outputs(results, Outputs(out_dir, results_files, args.wer_key)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
