"""Non-speech sounds for the events transcripts mark: ``[laughter]``, ``[noise]``, ``[vocalized-noise]``.

TTS engines would read these words aloud, so the synthesizer inserts a sound instead: a laugh
(breathy "ha" syllables on a voiced source with an /a/-like spectrum), a noise burst (rustle,
thump or breath) and a vocalized noise (a hummed "mm" or a cough). Spectra are shaped in the
frequency domain, which needs nothing beyond numpy. All sounds are 8 kHz float32 ``(T,)`` at a
speech-like level, and deterministic in the generator they are given.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

RATE = 8000
LEVEL_RMS = 0.08


def _shape(signal: np.ndarray, formants: list[tuple[float, float]], floor: float = 0.02) -> np.ndarray:
    """Filter ``signal`` through a sum of resonances ``(centre Hz, bandwidth Hz)`` plus a flat floor."""
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1.0 / RATE)
    response = np.full_like(freqs, floor)
    for centre, bandwidth in formants:
        response += 1.0 / (1.0 + ((freqs - centre) / (bandwidth / 2.0)) ** 2)
    return np.fft.irfft(spectrum * response, n=len(signal))


def _voiced_source(duration: float, f0_start: float, f0_end: float, rng: np.random.Generator) -> np.ndarray:
    """A glottal pulse train gliding from ``f0_start`` to ``f0_end`` Hz with 2% jitter."""
    n = max(1, int(duration * RATE))
    f0 = np.linspace(f0_start, f0_end, n) * (1.0 + 0.02 * rng.standard_normal(n))
    phase = np.cumsum(f0 / RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    # A decaying pulse shape gives the -12 dB/octave tilt of real voicing.
    kernel = np.exp(-np.arange(40) / 6.0)
    return np.convolve(pulses, kernel)[:n]


def _envelope(n: int, attack: float, release: float) -> np.ndarray:
    attack_n, release_n = max(1, int(attack * RATE)), max(1, int(release * RATE))
    env = np.ones(n)
    env[: min(attack_n, n)] = np.linspace(0.0, 1.0, min(attack_n, n))
    env[-min(release_n, n):] *= np.linspace(1.0, 0.0, min(release_n, n))
    return env


def _at_level(signal: np.ndarray, level: float = LEVEL_RMS) -> np.ndarray:
    rms = float(np.sqrt(np.mean(signal**2))) or 1.0
    return (signal * (level / rms)).astype(np.float32)


def laughter(rng: np.random.Generator, f0: float) -> np.ndarray:
    """3-6 "ha" syllables: an aspirated onset, then a vowel an octave-ish above ``f0``, fading out."""
    parts = []
    syllables = int(rng.integers(3, 7))
    for k in range(syllables):
        breath = rng.standard_normal(int(rng.uniform(0.03, 0.06) * RATE)) * 0.3
        vowel_len = rng.uniform(0.06, 0.11)
        pitch = f0 * rng.uniform(1.2, 1.6)
        vowel = _voiced_source(vowel_len, pitch, pitch * 0.9, rng) + 0.15 * rng.standard_normal(int(vowel_len * RATE))
        syllable = np.concatenate([breath, vowel])
        syllable = _shape(syllable, [(750, 200), (1250, 250), (2600, 400)]) * _envelope(len(syllable), 0.01, 0.03)
        parts += [syllable * (1.0 - 0.12 * k), np.zeros(int(rng.uniform(0.05, 0.1) * RATE))]
    return _at_level(np.concatenate(parts))


def noise_burst(rng: np.random.Generator, f0: float) -> np.ndarray:
    """A rustle (amplitude-modulated noise), a thump (short low decay) or a breath; ``f0`` is unused."""
    del f0
    kind = rng.integers(3)
    if kind == 0:
        n = int(rng.uniform(0.2, 0.6) * RATE)
        modulation = 0.5 + 0.5 * np.abs(np.sin(np.linspace(0, rng.uniform(4, 12) * np.pi, n)))
        sound = _shape(rng.standard_normal(n), [(rng.uniform(1500, 3000), 2000)]) * modulation
    elif kind == 1:
        n = int(rng.uniform(0.04, 0.12) * RATE)
        sound = _shape(rng.standard_normal(n), [(rng.uniform(300, 600), 400)]) * np.exp(-np.arange(n) / (0.02 * RATE))
    else:
        n = int(rng.uniform(0.3, 0.5) * RATE)
        sound = _shape(rng.standard_normal(n), [(1800, 1500), (3000, 800)]) * _envelope(n, 0.1, 0.15)
    return _at_level(sound * _envelope(len(sound), 0.005, 0.02), LEVEL_RMS * rng.uniform(0.4, 1.0))


def vocalized_noise(rng: np.random.Generator, f0: float) -> np.ndarray:
    """A hummed "mm" at about ``f0`` with a nasal spectrum, or a cough (burst then short voicing)."""
    if rng.random() < 0.6:
        duration = rng.uniform(0.2, 0.5)
        hum = _voiced_source(duration, f0 * rng.uniform(0.95, 1.1), f0 * rng.uniform(0.8, 0.95), rng)
        sound = _shape(hum, [(250, 100), (1000, 300), (2200, 400)]) * _envelope(len(hum), 0.04, 0.08)
    else:
        burst = _shape(rng.standard_normal(int(0.08 * RATE)), [(1200, 1200)]) * np.exp(-np.arange(int(0.08 * RATE)) / 400.0)
        voiced = _shape(_voiced_source(0.12, f0 * 1.1, f0 * 0.8, rng), [(600, 200), (1700, 300)])
        sound = np.concatenate([burst * 3.0, voiced * _envelope(len(voiced), 0.005, 0.05)])
    return _at_level(sound)


NON_SPEECH_SOUNDS: dict[str, Callable[[np.random.Generator, float], np.ndarray]] = {
    "[laughter]": laughter,
    "[noise]": noise_burst,
    "[vocalized-noise]": vocalized_noise,
}
