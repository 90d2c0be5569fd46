"""SpecAugment frequency and time masking (Park et al., 2019) with an explicit random generator.

torchaudio's masking functions draw from the global generator, which makes the masks depend on
the worker process and on everything drawn before; here every call takes its own
``torch.Generator`` so an utterance's masks are a function of (seed, epoch, utterance) only.
Masks are filled with 0, which after CMVN is the mean. Time warping is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Mask counts and maximum widths (bins for frequency, frames for time).

    Field names match ``blspeech.config.SpecAugmentSettings``. A mask's width is drawn
    uniformly from ``[0, max width]`` and clipped to the utterance, its start uniformly from
    the positions where it fits.
    """

    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 20

    def __post_init__(self) -> None:
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"SpecAugment {name} must be >= 0, got {getattr(self, name)}")


def _mask_along(feats: torch.Tensor, dim: int, count: int, max_width: int, generator: torch.Generator | None) -> None:
    """Zero ``count`` random bands of width <= max_width along ``dim`` of ``feats``, in place."""
    size = feats.shape[dim]
    for _ in range(count):
        width = int(torch.randint(0, min(max_width, size) + 1, (1,), generator=generator))
        start = int(torch.randint(0, size - width + 1, (1,), generator=generator))
        feats.narrow(dim, start, width).zero_()


def spec_augment(feats: torch.Tensor, config: SpecAugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masked copy of ``(..., F, T)`` features; the same bands are masked in every leading channel."""
    if feats.ndim < 2:
        raise ValueError(f"expected features of shape (..., F, T), got {tuple(feats.shape)}")
    masked = feats.clone()
    _mask_along(masked, -2, config.freq_masks, config.freq_width, generator)
    _mask_along(masked, -1, config.time_masks, config.time_width, generator)
    return masked


class SpecAugment(nn.Module):
    """Module form of :func:`spec_augment`: masks in training mode, identity in eval mode."""

    def __init__(self, config: SpecAugmentConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, feats: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(..., F, T)`` -> same shape."""
        if not self.training:
            return feats
        return spec_augment(feats, self.config, generator)
