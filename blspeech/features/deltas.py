"""Delta and delta-delta features with Kaldi's ``add-deltas`` semantics, stacked as channels.

Kaldi computes the order-k coefficients with one filter (the order-1 regression filter
convolved with itself k times) over the *static* features, repeating the first and last
frames at the edges. Applying an order-1 delta twice differs at the edges, so the filters are
built here the way Kaldi builds them rather than by chaining ``torchaudio.functional.compute_deltas``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def delta_filters(order: int, window: int = 2) -> torch.Tensor:
    """Kaldi's delta filters for orders ``0..order``, centred and zero-padded to one length.

    Returns ``(order + 1, 2 * order * window + 1)`` float64; row k applied as a correlation over
    frames gives the order-k coefficients (row 0 is the identity).
    """
    if order < 0 or window < 1:
        raise ValueError(f"need order >= 0 and window >= 1, got order {order}, window {window}")
    taps = torch.arange(-window, window + 1, dtype=torch.float64)
    regression = taps / taps.pow(2).sum()
    filters = [torch.ones(1, dtype=torch.float64)]
    for _ in range(order):
        previous = filters[-1]
        # full convolution of the previous filter with the regression window
        current = torch.zeros(previous.numel() + 2 * window, dtype=torch.float64)
        for offset, weight in enumerate(regression):
            current[offset : offset + previous.numel()] += weight * previous
        filters.append(current)
    width = filters[-1].numel()
    return torch.stack([F.pad(f, ((width - f.numel()) // 2,) * 2) for f in filters])


def add_deltas(feats: torch.Tensor, order: int = 2, window: int = 2) -> torch.Tensor:
    """Static features ``(T, F)`` -> ``(order + 1, F, T)``: statics, deltas, delta-deltas as channels."""
    if feats.ndim != 2:
        raise ValueError(f"expected features of shape (T, F), got {tuple(feats.shape)}")
    if feats.shape[0] == 0:
        raise ValueError("cannot compute deltas of an utterance with 0 frames")
    filters = delta_filters(order, window).to(feats.dtype)
    reach = order * window
    by_bin = feats.transpose(0, 1).unsqueeze(1)  # (F, 1, T)
    padded = F.pad(by_bin, (reach, reach), mode="replicate")
    stacked = F.conv1d(padded, filters.unsqueeze(1))  # (F, order + 1, T)
    return stacked.transpose(0, 1).contiguous()
