"""Features of one recording: read it once, cut its segments, featurize each (a worker's job).

This is Kaldi's ``extract-segments | compute-fbank-feats`` for one wav.scp entry. Kept apart
from the orchestration in :mod:`blspeech.features.compute` so worker processes import only
this and its dependencies.

Utterances that cannot give usable features are skipped with a reason, not errors, because
they are properties of single utterances in otherwise good data (Kaldi binaries warn and
count them the same way):

- shorter than one analysis window: no frame can be formed;
- digital silence (every sample exactly 0) with ``dither == 0``: the filterbank would sit on
  its floor (log of machine epsilon) in every bin and frame, a constant matrix that carries no
  speech and whose variance is 0. With ``dither > 0`` such segments are kept, as in Kaldi,
  whose default dither exists for this case;
- non-finite features (the audio itself holds NaN or inf samples).

An unreadable recording or a segment outside its recording raises: those are data-dir errors.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from blspeech.data.audio import AudioError, cut_segment, load_recording
from blspeech.features.fbank import FbankOptions, fbank

TOO_SHORT = "shorter than one analysis window"
DIGITAL_SILENCE = "digital silence (all samples 0; use dither > 0 to keep such segments)"
NON_FINITE = "non-finite features (NaN or inf samples in the audio)"


@dataclass(frozen=True)
class RecordingJob:
    """One wav.scp entry and the utterances cut from it.

    ``segments`` holds ``(utt_id, start_s, end_s)``; ``None`` means the recording is itself the
    utterance (a data dir without a segments file), keyed by the recording id.
    """

    recording: str
    wav_entry: str
    segments: tuple[tuple[str, float, float], ...] | None
    options: FbankOptions


@dataclass(frozen=True)
class UtteranceFeatures:
    """Features ``(T, F)`` float32 of one utterance, or ``None`` with the reason it was skipped."""

    utt_id: str
    feats: np.ndarray | None
    skip_reason: str | None = None


@dataclass(frozen=True)
class RecordingFeatures:
    """What one :class:`RecordingJob` gave: the recording's sample rate and its utterances' features."""

    recording: str
    sample_rate: int
    utterances: list[UtteranceFeatures]


def utterance_features(utt_id: str, samples: np.ndarray, sample_rate: int, options: FbankOptions) -> UtteranceFeatures:
    """Features of one utterance's samples, or a skip with one of the reasons above."""
    if samples.shape[0] < options.window_samples(sample_rate):
        return UtteranceFeatures(utt_id, None, TOO_SHORT)
    if options.dither == 0 and not np.any(samples):
        return UtteranceFeatures(utt_id, None, DIGITAL_SILENCE)
    # The dither seed depends on the utterance only, so results do not depend on job layout.
    feats = fbank(samples, sample_rate, options, dither_seed=zlib.crc32(utt_id.encode("utf-8")))
    if not np.isfinite(feats).all():
        return UtteranceFeatures(utt_id, None, NON_FINITE)
    return UtteranceFeatures(utt_id, feats)


def recording_features(job: RecordingJob) -> RecordingFeatures:
    """Read ``job``'s recording once and featurize each of its utterances, in segment order."""
    try:
        samples, sample_rate = load_recording(job.wav_entry)
    except AudioError as error:
        raise AudioError(f"wav.scp: recording {job.recording}: {error}") from None
    if samples.ndim != 1:
        raise ValueError(
            f"recording {job.recording}: expected one channel, got samples of shape {samples.shape}; "
            "select the channel in wav.scp (e.g. sph2pipe -c 1)"
        )
    if job.segments is None:
        utterances = [utterance_features(job.recording, samples, sample_rate, job.options)]
    else:
        utterances = [
            utterance_features(utt_id, cut_segment(samples, sample_rate, start, end, utt_id), sample_rate, job.options)
            for utt_id, start, end in job.segments
        ]
    return RecordingFeatures(job.recording, sample_rate, utterances)
