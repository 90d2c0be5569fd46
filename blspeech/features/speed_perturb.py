"""Speed perturbation as a data-dir copy, following Kaldi's ``utils/perturb_data_dir_speed.sh``.

Usage: ``python -m blspeech.features.speed_perturb data/train data/train_sp [--factors 0.9 1.0 1.1]``

No audio is written: each wav.scp entry becomes a command that pipes the recording through
``sox ... speed FACTOR`` (tempo and pitch change together, the sample rate stays), so the
perturbed audio is made when features are computed. Utterance, speaker and recording ids get
the prefix ``sp<factor>-``; segment times and durations are divided by the factor (segments
shorter than 10 ms afterwards are dropped, as in Kaldi); text, utt2spk, reco2file_and_channel
(file id and channel unchanged) are carried over and ``utt2uniq`` maps each copy to its
original utterance. Features and CMVN stats are not carried: they must be recomputed.

Difference from Kaldi: a plain file path is handed to sox without ``-t wav``, so sox picks the
format from the extension (.wav, .flac, .sph); ``file.ark:offset`` entries need Kaldi's
``wav-copy`` and are rejected.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
from typing import Sequence

from blspeech.data.kaldi_dir import DataDir, DataDirError, Segment
from blspeech.features.combine import DataDirTables, combined, write_data_dir

logger = logging.getLogger("blspeech")

MIN_SEGMENT_SECONDS = 0.01


def speed_prefix(factor: float) -> str:
    """``0.9 -> 'sp0.9-'``, ``1.0 -> 'sp1.0-'`` (Kaldi's ids)."""
    return f"sp{float(factor)}-"


def sox_speed_command(wav_entry: str, factor: float, where: str) -> str:
    """The wav.scp value that plays ``wav_entry`` at ``factor`` times the speed."""
    entry = wav_entry.strip()
    if entry.endswith("|"):
        return f"{entry[:-1].rstrip()} | sox -t wav - -t wav - speed {float(factor)} |"
    if re.search(r":\d+$", entry):
        raise DataDirError(f"{where}: {entry!r} is an ark offset; speed perturbation needs a file path or a command")
    return f"sox {shlex.quote(entry)} -t wav - speed {float(factor)} |"


def speed_perturbed(source: DataDirTables, factor: float) -> DataDirTables:
    """A copy of ``source`` played at ``factor`` times the speed (pure: nothing is read or written)."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    data = source.data
    if not data.wav_scp:
        raise DataDirError("speed perturbation needs wav.scp")
    prefix = speed_prefix(factor)

    segments: dict[str, Segment] = {}
    for utt, segment in data.segments.items():
        start, end = segment.start / factor, segment.end / factor
        if end > start + MIN_SEGMENT_SECONDS:  # then rounded as Kaldi's perturb_data_dir_speed.sh prints them
            segments[prefix + utt] = Segment(prefix + segment.recording, round(start, 2), round(end, 2))
    kept = [utt for utt in data.utt2spk if not data.segments or prefix + utt in segments]
    if len(kept) < len(data.utt2spk):
        logger.warning("speed %s: dropped %d segments shorter than %s s", factor, len(data.utt2spk) - len(kept), MIN_SEGMENT_SECONDS)

    perturbed = DataDir(
        wav_scp={prefix + reco: sox_speed_command(value, factor, f"wav.scp: {reco}") for reco, value in data.wav_scp.items()},
        text={prefix + utt: data.text[utt] for utt in kept if utt in data.text},
        utt2spk={prefix + utt: prefix + data.utt2spk[utt] for utt in kept},
        segments=segments,
        reco2file_and_channel={prefix + reco: value for reco, value in data.reco2file_and_channel.items()},
    )
    uniq = source.extra.get("utt2uniq", {})
    extra = {"utt2uniq": {prefix + utt: uniq.get(utt, utt) for utt in kept}}
    if "utt2dur" in source.extra:
        durations = source.extra["utt2dur"]
        extra["utt2dur"] = {prefix + utt: f"{float(durations[utt]) / factor:g}" for utt in kept if utt in durations}
    if "reco2dur" in source.extra:
        extra["reco2dur"] = {prefix + reco: f"{float(value) / factor:g}" for reco, value in source.extra["reco2dur"].items()}
    if "spk2gender" in source.extra:
        extra["spk2gender"] = {prefix + spk: value for spk, value in source.extra["spk2gender"].items()}
    result = DataDirTables(perturbed, extra)
    result.data.validate(f"{prefix}copy")
    return result


def perturb_data_dir_speed(
    source: str | os.PathLike, destination: str | os.PathLike, factor: float, *, overwrite: bool = False
) -> DataDir:
    """Kaldi's ``perturb_data_dir_speed.sh FACTOR SRC DST``: write the ``sp<factor>-`` copy of ``source``."""
    result = speed_perturbed(DataDirTables.read(source), factor)
    write_data_dir(result, destination, overwrite=overwrite)
    return result.data


def speed_perturb_data_dir(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    factors: Sequence[float] = (0.9, 1.0, 1.1),
    *,
    overwrite: bool = False,
) -> DataDir:
    """Kaldi's ``perturb_data_dir_speed_3way.sh``: the copies for ``factors`` combined in ``destination``.

    Factor 1.0 contributes the original utterances with their original ids (Kaldi's default).
    """
    if not factors or len(set(factors)) != len(factors):
        raise ValueError(f"factors must be distinct and non-empty, got {list(factors)}")
    original = DataDirTables.read(source)
    parts = [
        (f"{source} at speed {factor}", original if float(factor) == 1.0 else speed_perturbed(original, factor))
        for factor in factors
    ]
    result = combined(parts)
    write_data_dir(result, destination, overwrite=overwrite)
    return result.data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.features.speed_perturb",
        description="Speed-perturbed copies of a Kaldi data dir (sox commands in wav.scp), combined into one dir.",
    )
    parser.add_argument("source", help="Kaldi data dir with wav.scp")
    parser.add_argument("destination", help="new data dir to write")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.9, 1.0, 1.1], help="speed factors; 1.0 keeps the original ids")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    data = speed_perturb_data_dir(args.source, args.destination, args.factors, overwrite=args.overwrite)
    logger.info("wrote %s: %d utterances", args.destination, len(data.utt2spk))


if __name__ == "__main__":
    main()
