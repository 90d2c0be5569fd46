"""The telephone channel between a synthetic talker and the recording: band limit, line noise, level.

Switchboard was recorded off the public telephone network: 8 kHz, a 300-3400 Hz pass band, some
line noise, 8-bit mu-law (the mu-law step lives in :mod:`blspeech.corpus.sphere`). Signals here
are float32 ``(T,)`` at 8 kHz with full scale 1.0.
"""

from __future__ import annotations

import numpy as np

RATE = 8000


def _fft_length(n: int) -> int:
    """A power of two >= ``n``: FFTs of arbitrary lengths can be many times slower."""
    return 1 << max(0, (n - 1).bit_length())


def _band_gain(freqs: np.ndarray, low: float, high: float, transition: float) -> np.ndarray:
    """1 inside [low, high], 0 outside [low - transition, high + transition], raised-cosine edges."""
    gain = np.ones_like(freqs)
    gain[freqs <= low - transition] = 0.0
    gain[freqs >= high + transition] = 0.0
    rising = (freqs > low - transition) & (freqs < low)
    gain[rising] = 0.5 - 0.5 * np.cos(np.pi * (freqs[rising] - (low - transition)) / transition)
    falling = (freqs > high) & (freqs < high + transition)
    gain[falling] = 0.5 + 0.5 * np.cos(np.pi * (freqs[falling] - high) / transition)
    return gain


def band_pass(signal: np.ndarray, low: float = 300.0, high: float = 3400.0, transition: float = 100.0) -> np.ndarray:
    """Zero-phase band-pass in the frequency domain, with raised-cosine edges ``transition`` Hz wide."""
    if not 0 < low < high < RATE / 2:
        raise ValueError(f"band edges must satisfy 0 < low < high < {RATE / 2}, got low={low}, high={high}")
    size = _fft_length(len(signal))
    gain = _band_gain(np.fft.rfftfreq(size, 1.0 / RATE), low, high, transition)
    return np.fft.irfft(np.fft.rfft(signal, n=size) * gain, n=size)[: len(signal)].astype(np.float32)


def line_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power in-band hiss of an analogue line: pink-ish (amplitude ~ 1/sqrt(f)), 300-3400 Hz.

    Drawn directly as a random spectrum, so it costs one inverse FFT.
    """
    size = _fft_length(n)
    freqs = np.fft.rfftfreq(size, 1.0 / RATE)
    shape = _band_gain(freqs, 300.0, 3400.0, 100.0) / np.sqrt(np.maximum(freqs, 50.0))
    spectrum = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * shape
    noise = np.fft.irfft(spectrum, n=size)[:n]
    return (noise / (np.sqrt(np.mean(noise**2)) or 1.0)).astype(np.float32)


def add_noise(signal: np.ndarray, speech_mask: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add :func:`line_noise` so that speech power (where ``speech_mask``) over noise power is ``snr_db``."""
    if speech_mask.shape != signal.shape:
        raise ValueError(f"speech_mask shape {speech_mask.shape} differs from signal shape {signal.shape}")
    speech_power = float(np.mean(signal[speech_mask] ** 2)) if speech_mask.any() else 1e-4
    noise = line_noise(len(signal), rng)
    return (signal + np.sqrt(speech_power / 10.0 ** (snr_db / 10.0)) * noise).astype(np.float32)


def trim_silence(signal: np.ndarray, threshold_db: float = -40.0, frame: int = 80) -> np.ndarray:
    """Cut the leading and trailing frames quieter than ``threshold_db`` below the loudest frame.

    TTS engines pad their output with silence of varying length; trimming it lets segment
    times sit where the speech is.
    """
    frames = len(signal) // frame
    if frames == 0:
        return signal
    energy = (signal[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10.0 ** (threshold_db / 10.0))
    if len(loud) == 0:
        return signal[:0]
    return signal[loud[0] * frame : (loud[-1] + 1) * frame]


def set_level(signal: np.ndarray, rms: float, where: np.ndarray | None = None) -> np.ndarray:
    """Scale ``signal`` so its RMS (over the samples ``where`` is True, default all) is ``rms``; silence stays silent."""
    part = signal if where is None else signal[where]
    current = float(np.sqrt(np.mean(part**2))) if len(part) else 0.0
    return signal if current == 0.0 else (signal * (rms / current)).astype(np.float32)
