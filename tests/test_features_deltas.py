"""Deltas against Kaldi's add-deltas definition and torchaudio's order-1 deltas."""

import numpy as np
import pytest
import torch
import torchaudio.functional

from blspeech.features.deltas import add_deltas, delta_filters


def kaldi_add_deltas(feats: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Kaldi's DeltaFeatures written out loop by loop: (T, F) -> (T, (order + 1) * F)."""
    scales = [np.array([1.0])]
    for _ in range(order):
        prev = scales[-1]
        prev_offset = (prev.size - 1) // 2
        cur = np.zeros(prev.size + 2 * window)
        normalizer = 0.0
        for j in range(-window, window + 1):
            normalizer += j * j
            for k in range(-prev_offset, prev_offset + 1):
                cur[j + k + prev_offset + window] += j * prev[k + prev_offset]
        scales.append(cur / normalizer)
    frames = feats.shape[0]
    out = np.zeros((frames, (order + 1) * feats.shape[1]))
    for i, scale in enumerate(scales):
        offset = (scale.size - 1) // 2
        for t in range(frames):
            for j in range(-offset, offset + 1):
                source = min(max(t + j, 0), frames - 1)
                out[t, i * feats.shape[1] : (i + 1) * feats.shape[1]] += scale[j + offset] * feats[source]
    return out


@pytest.mark.parametrize("frames", [1, 3, 9, 25])
def test_add_deltas_matches_kaldi_definition(frames):
    feats = np.random.default_rng(frames).standard_normal((frames, 6))
    ours = add_deltas(torch.from_numpy(feats))
    reference = kaldi_add_deltas(feats).reshape(frames, 3, 6).transpose(1, 2, 0)
    assert ours.shape == (3, 6, frames)
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-12)


def test_first_order_equals_torchaudio_compute_deltas():
    feats = torch.randn(40, 8, dtype=torch.float64)
    ours = add_deltas(feats, order=1)
    np.testing.assert_allclose(ours[1].numpy(), torchaudio.functional.compute_deltas(feats.T, win_length=5).numpy(), atol=1e-12)
    torch.testing.assert_close(ours[0], feats.T)


def test_second_order_filter_is_kaldis_nine_tap_window():
    expected = torch.tensor([0.04, 0.04, 0.01, -0.04, -0.1, -0.04, 0.01, 0.04, 0.04], dtype=torch.float64)
    torch.testing.assert_close(delta_filters(2)[2], expected)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="order"):
        delta_filters(-1)
    with pytest.raises(ValueError, match=r"\(T, F\)"):
        add_deltas(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="0 frames"):
        add_deltas(torch.zeros(0, 3))
