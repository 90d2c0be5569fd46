"""Kaldi-compatible log-mel filterbank features (``compute-fbank-feats``) through torchaudio.

Options carry Kaldi's names and units so a ``conf/fbank.conf`` translates one to one. Samples
come in as floats in [-1, 1] (what soundfile returns) and are scaled to the int16 range before
the filterbank, because Kaldi reads integer PCM and its energy floor and dither are defined on
that scale; without the scaling every log-mel value would be off by log(32768^2).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi_compliance

INT16_SCALE = 32768.0


@dataclass(frozen=True)
class FbankOptions:
    """Filterbank options, named and measured as Kaldi's ``compute-fbank-feats`` options.

    ``high_freq`` <= 0 is an offset from the Nyquist frequency, as in Kaldi.
    """

    num_mel_bins: int = 40
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0

    def __post_init__(self) -> None:
        if self.num_mel_bins < 1:
            raise ValueError(f"num_mel_bins must be positive, got {self.num_mel_bins}")
        if not 0 < self.frame_shift_ms <= self.frame_length_ms:
            raise ValueError(
                f"need 0 < frame_shift_ms <= frame_length_ms, got shift {self.frame_shift_ms}, length {self.frame_length_ms}"
            )
        if self.dither < 0:
            raise ValueError(f"dither must be >= 0, got {self.dither}")

    def window_samples(self, sample_rate: int) -> int:
        """Samples in one analysis window (Kaldi truncates ms * rate / 1000)."""
        return int(sample_rate * self.frame_length_ms / 1000.0)

    def kaldi_config(self, sample_rate: int | None = None) -> str:
        """The options as a Kaldi config file (``compute-fbank-feats --config=...`` reads it), with
        the audio's ``--sample-frequency`` when given (Kaldi refuses audio at another rate)."""
        lines = [
            f"--num-mel-bins={self.num_mel_bins}",
            f"--frame-length={self.frame_length_ms:g}",
            f"--frame-shift={self.frame_shift_ms:g}",
            f"--dither={self.dither:g}",
            f"--snip-edges={'true' if self.snip_edges else 'false'}",
            f"--low-freq={self.low_freq:g}",
            f"--high-freq={self.high_freq:g}",
        ]
        if sample_rate is not None:
            lines.append(f"--sample-frequency={sample_rate}")
        return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=16)
def check_fits_sample_rate(options: FbankOptions, sample_rate: int) -> None:
    """Raise ValueError, as Kaldi does, when ``options`` cannot make features of audio at
    ``sample_rate``: frequency limits outside 0 .. Nyquist, or mel bins so many and narrow that
    some hold no FFT bin (they would be constant at the log floor, a column of nothing)."""
    nyquist = sample_rate / 2
    high = options.high_freq if options.high_freq > 0 else nyquist + options.high_freq
    if not 0 <= options.low_freq < high <= nyquist:
        raise ValueError(f"--low-freq {options.low_freq:g} and --high-freq {options.high_freq:g} do not fit audio at "
                         f"{sample_rate} Hz: need 0 <= low < high <= {nyquist:g} (Nyquist; high <= 0 is an offset from it)")
    window = options.window_samples(sample_rate)
    padded = 1 << max(window - 1, 1).bit_length()  # Kaldi rounds the FFT size up to a power of two
    banks, _ = kaldi_compliance.get_mel_banks(options.num_mel_bins, padded, float(sample_rate), options.low_freq,
                                              options.high_freq, 100.0, -500.0, 1.0)  # VTLN off: Kaldi's defaults
    empty = int((banks.sum(dim=1) == 0).sum())
    if empty:
        raise ValueError(f"{empty} of {options.num_mel_bins} mel bins hold no FFT bin at {sample_rate} Hz with a "
                         f"{window}-sample window: --num-mel-bins is too large for this audio")


def fbank(samples: np.ndarray, sample_rate: int, options: FbankOptions, *, dither_seed: int = 0) -> np.ndarray:
    """Log-mel filterbank of one utterance: ``(N,)`` float samples in [-1, 1] -> ``(T, F)`` float32.

    torchaudio draws dither noise from the global torch generator; it is reseeded with
    ``dither_seed`` inside a forked RNG state, so the features of an utterance do not depend on
    which worker process computed it or on what ran before.
    Raises ValueError when the audio is shorter than one window (no frame can be formed).
    """
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples of shape (N,), got shape {samples.shape}")
    check_fits_sample_rate(options, sample_rate)
    window = options.window_samples(sample_rate)
    if samples.shape[0] < window:
        raise ValueError(f"{samples.shape[0]} samples are shorter than one {window}-sample window")
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32) * np.float32(INT16_SCALE)).unsqueeze(0)
    with torch.random.fork_rng(devices=[], enabled=options.dither > 0):
        if options.dither > 0:
            torch.manual_seed(dither_seed)
        feats = kaldi_compliance.fbank(
            waveform,
            num_mel_bins=options.num_mel_bins,
            frame_length=options.frame_length_ms,
            frame_shift=options.frame_shift_ms,
            dither=options.dither,
            snip_edges=options.snip_edges,
            low_freq=options.low_freq,
            high_freq=options.high_freq,
            sample_frequency=float(sample_rate),
        )
    return feats.numpy()


@dataclass(frozen=True)
class FeatureSpeed:
    """Result of :func:`measure_feature_speed`: seconds of audio featurized per second of compute."""

    audio_seconds: float
    compute_seconds: float

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.compute_seconds


def measure_feature_speed(
    *,
    audio_seconds: float = 120.0,
    utterance_seconds: float = 5.0,
    sample_rate: int = 8000,
    options: FbankOptions | None = None,
    repeats: int = 3,
) -> FeatureSpeed:
    """Time :func:`fbank` on one core over synthetic utterances; the best of ``repeats`` runs counts.

    Synthetic noise is enough: the filterbank's cost depends on the number of samples, not on
    what they contain. Torch's intra-op thread count is pinned to 1 for the measurement and
    restored afterwards, so the figure is per core.
    """
    if audio_seconds <= 0 or utterance_seconds <= 0 or repeats < 1:
        raise ValueError(
            f"need positive audio_seconds, utterance_seconds and repeats, got {audio_seconds}, {utterance_seconds}, {repeats}"
        )
    options = options or FbankOptions()
    rng = np.random.default_rng(0)
    utterance_samples = int(utterance_seconds * sample_rate)
    count = max(1, round(audio_seconds / utterance_seconds))
    utterances = [(0.1 * rng.standard_normal(utterance_samples)).astype(np.float32) for _ in range(count)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for samples in utterances:
                fbank(samples, sample_rate, options)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return FeatureSpeed(audio_seconds=count * utterance_seconds, compute_seconds=best)
