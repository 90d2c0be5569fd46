"""Compute log-mel features and per-speaker CMVN stats for a Kaldi data dir.

Usage: ``python -m blspeech.features.compute data/train [--num-mel-bins 40] [--jobs 2]``

Writes, beside the data dir's tables (the layout of Kaldi's ``steps/make_fbank.sh`` followed
by ``steps/compute_cmvn_stats.sh``):

- ``feats.ark`` / ``feats.scp``  static log-mel features, one ``T x F`` float32 matrix per utterance
- ``utt2num_frames``            frames per utterance (lets the loader bucket without reading features)
- ``cmvn.ark`` / ``cmvn.scp``    per-speaker ``2 x (F+1)`` float64 stats
- ``fbank.conf``                the options, as a Kaldi config file

Deltas, CMVN and SpecAugment are applied on the fly by the loader, so these files are what a
Kaldi user already has and a Kaldi-made ``feats.scp`` (compressed or not) is used unchanged.

Resumable: every file is written under a temporary name and renamed, ``feats.scp`` last. A data
dir with a ``feats.scp`` is complete and skipped (its CMVN stats are still added if missing);
``--overwrite`` recomputes. A rerun with options other than those in ``fbank.conf`` is an error
rather than a silent mix of settings. Each run first removes the temporaries of a killed one.

All recordings of a data dir must have one sample rate: the filterbank's window is a number of
samples and its mel bins are in Hz up to Nyquist, so features of recordings at other rates would
not match. A second rate is a ``DataDirError`` naming the recording; resample in wav.scp (e.g.
``sox FILE -r 8000 -t wav - |``).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from blspeech.cli import report_errors
from blspeech.data.kaldi_dir import DataDir, DataDirError, write_table
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import CmvnAccumulator, compute_cmvn_stats, write_cmvn_stats
from blspeech.features.extract import RecordingFeatures, RecordingJob, recording_features
from blspeech.features.fbank import FbankOptions
from blspeech.fileio import remove_interrupted_writes, write_text_atomic
from blspeech.skips import SkipLog

logger = logging.getLogger("blspeech")

OPTIONS_FILE = "fbank.conf"
SAMPLE_FREQUENCY = "--sample-frequency="
OUTPUT_FILES = ("feats.ark", "utt2num_frames", "cmvn.ark", "cmvn.scp", OPTIONS_FILE, "feats.scp")


def recording_jobs(data: DataDir, options: FbankOptions) -> list[RecordingJob]:
    """One job per recording that has utterances, its segments in time order."""
    if not data.segments:
        return [RecordingJob(utt, data.wav_scp[utt], None, options) for utt in data.utterances]
    by_recording: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for utt, segment in data.segments.items():
        by_recording[segment.recording].append((utt, segment.start, segment.end))
    return [
        RecordingJob(recording, data.wav_scp[recording], tuple(sorted(segments, key=lambda s: (s[1], s[0]))), options)
        for recording, segments in sorted(by_recording.items())
    ]


def _single_threaded_worker() -> None:
    # Parallelism comes from processes; torch's intra-op threads would oversubscribe the cores.
    torch.set_num_threads(1)


def _run_jobs(jobs: list[RecordingJob], processes: int, description: str) -> Iterator[RecordingFeatures]:
    """Results per recording, in job order, from ``processes`` worker processes (inline for 1)."""
    if processes == 1:
        yield from tqdm(map(recording_features, jobs), total=len(jobs), desc=description, unit="rec", disable=None)
        return
    # forkserver: workers fork from a clean server that imported the extractor once, never from
    # a parent whose torch/OpenMP thread pools may already be running.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["blspeech.features.extract"])
    with context.Pool(processes, initializer=_single_threaded_worker) as pool:
        results = pool.imap(recording_features, jobs)
        yield from tqdm(results, total=len(jobs), desc=description, unit="rec", disable=None)


def recorded_options(data_dir: str | os.PathLike) -> list[str]:
    """The options a data dir's features were computed with (its ``fbank.conf``), [] without one."""
    recorded = Path(data_dir) / OPTIONS_FILE
    return recorded.read_text(encoding="utf-8").split() if recorded.is_file() else []


def _check_same_options(root: Path, options: FbankOptions) -> None:
    lines = recorded_options(root)
    if (root / OPTIONS_FILE).is_file() and [line for line in lines if not line.startswith(SAMPLE_FREQUENCY)] != options.kaldi_config().split():
        raise ValueError(
            f"{root}/feats.scp was computed with other options ({root / OPTIONS_FILE}: {' '.join(lines)}) than "
            f"requested ({' '.join(options.kaldi_config().split())}); recompute them (python -m blspeech.features.compute "
            f"--overwrite) or use another data dir"
        )


def recorded_sample_rate(data_dir: str | os.PathLike) -> int | None:
    """The sample rate a data dir's features were computed at (its ``fbank.conf``), or None when
    it does not say (features computed elsewhere or by an earlier version)."""
    rates = [int(line.removeprefix(SAMPLE_FREQUENCY)) for line in recorded_options(data_dir)
             if line.startswith(SAMPLE_FREQUENCY)]
    return rates[0] if rates else None


def check_same_sample_rate(data_dirs: Sequence[str | os.PathLike]) -> None:
    """Raise naming two data dirs whose features were computed at different sample rates: a model
    trained on one would read the other's mel bins as other frequencies."""
    known = [(Path(d), rate) for d in data_dirs if (rate := recorded_sample_rate(d)) is not None]
    for directory, rate in known[1:]:
        first, first_rate = known[0]
        if rate != first_rate:
            raise DataDirError(f"{first} has features of {first_rate} Hz audio but {directory} of {rate} Hz: "
                               f"resample one in its wav.scp (e.g. 'sox FILE -r {first_rate} -t wav - |')")


def _check_one_sample_rate(root: Path, recording: RecordingFeatures, first: RecordingFeatures) -> None:
    if recording.sample_rate != first.sample_rate:
        raise DataDirError(
            f"{root}/wav.scp: recording {recording.recording} is sampled at {recording.sample_rate} Hz but "
            f"{first.recording} at {first.sample_rate} Hz; the features of one data dir need one sample rate "
            f"(resample in wav.scp, e.g. 'sox FILE -r {first.sample_rate} -t wav - |')"
        )


def compute_features(
    data_dir: str | os.PathLike,
    *,
    num_mel_bins: int = 40,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    dither: float = 0.0,
    snip_edges: bool = True,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    jobs: int = 2,
    cmvn: bool = True,
    overwrite: bool = False,
) -> SkipLog:
    """Compute features (and per-speaker CMVN stats) for ``data_dir``; return the skip accounting.

    Utterances too short for one window, digitally silent (with ``dither == 0``) or giving
    non-finite features are counted skips (see :mod:`blspeech.features.extract`); if no
    utterance gives features at all, or recordings differ in sample rate, DataDirError.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    options = FbankOptions(num_mel_bins, frame_length_ms, frame_shift_ms, dither, snip_edges, low_freq, high_freq)
    root = Path(data_dir)
    data = DataDir.read(root)
    log = SkipLog("compute_features")
    for output in OUTPUT_FILES:
        remove_interrupted_writes(root / output)

    if (root / "feats.scp").is_file() and not overwrite:
        _check_same_options(root, options)
        logger.info("%s/feats.scp exists: keeping it (overwrite=True recomputes)", root)
        if cmvn and not (root / "cmvn.scp").is_file():
            compute_cmvn_stats(root)
        log.ok(len(data.feats_scp))
        return log
    if not data.wav_scp:
        raise DataDirError(f"{root}: no wav.scp to compute features from")
    # Without these a half-finished recomputation could pass for a complete one.
    for stale in ("feats.scp", "cmvn.scp"):
        (root / stale).unlink(missing_ok=True)

    accumulator = CmvnAccumulator()
    num_frames: dict[str, str] = {}
    rates: list[int] = []

    def good_utterances() -> Iterator[tuple[str, np.ndarray]]:
        first: RecordingFeatures | None = None
        for recording in _run_jobs(recording_jobs(data, options), jobs, f"fbank {root.name}"):
            first = recording if first is None else first
            _check_one_sample_rate(root, recording, first)
            rates[:] = [first.sample_rate]
            for result in recording.utterances:
                if result.feats is None:
                    log.skip(result.utt_id, result.skip_reason)
                    continue
                log.ok()
                num_frames[result.utt_id] = str(result.feats.shape[0])
                if cmvn:
                    accumulator.add(data.utt2spk[result.utt_id], result.feats)
                yield result.utt_id, result.feats

    entries = write_ark(root / "feats.ark", good_utterances())
    if not entries:
        raise DataDirError(f"{root}: no utterance gave features ({log.summary()})")
    write_table(root / "utt2num_frames", num_frames)
    if cmvn:
        write_cmvn_stats(root, accumulator.stats)
    write_text_atomic(root / OPTIONS_FILE, options.kaldi_config(rates[0]))
    write_table(root / "feats.scp", entries)
    log.summary()
    return log


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.features.compute",
        description="Log-mel filterbank features (Kaldi-compatible) and per-speaker CMVN stats for a Kaldi data dir.",
    )
    defaults = FbankOptions()
    parser.add_argument("data_dir", help="Kaldi data dir with wav.scp, utt2spk and optionally segments")
    parser.add_argument("--num-mel-bins", type=int, default=defaults.num_mel_bins)
    parser.add_argument("--frame-length-ms", type=float, default=defaults.frame_length_ms)
    parser.add_argument("--frame-shift-ms", type=float, default=defaults.frame_shift_ms)
    parser.add_argument("--dither", type=float, default=defaults.dither, help="Gaussian dither on the int16 scale (Kaldi default 1.0)")
    parser.add_argument("--snip-edges", action=argparse.BooleanOptionalAction, default=defaults.snip_edges)
    parser.add_argument("--low-freq", type=float, default=defaults.low_freq)
    parser.add_argument("--high-freq", type=float, default=defaults.high_freq, help="<= 0: offset from Nyquist")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (recordings are shared out)")
    parser.add_argument("--cmvn", action=argparse.BooleanOptionalAction, default=True, help="write per-speaker cmvn.scp")
    parser.add_argument("--overwrite", action="store_true", help="recompute even if feats.scp exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return report_errors(parser.prog, lambda: compute_features(
        args.data_dir,
        num_mel_bins=args.num_mel_bins,
        frame_length_ms=args.frame_length_ms,
        frame_shift_ms=args.frame_shift_ms,
        dither=args.dither,
        snip_edges=args.snip_edges,
        low_freq=args.low_freq,
        high_freq=args.high_freq,
        jobs=args.jobs,
        cmvn=args.cmvn,
        overwrite=args.overwrite,
    ))


if __name__ == "__main__":
    sys.exit(main())
