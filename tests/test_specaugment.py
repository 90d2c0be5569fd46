"""SpecAugment masks: bounds, shared across channels, seeded, module train/eval behaviour."""

import pytest
import torch

from blspeech.features.specaugment import SpecAugment, SpecAugmentConfig, spec_augment


def masked_positions(original: torch.Tensor, augmented: torch.Tensor) -> torch.Tensor:
    return (augmented == 0) & (original != 0)


def test_masks_are_bands_within_the_configured_widths():
    feats = torch.rand(3, 40, 100) + 1.0
    config = SpecAugmentConfig(freq_masks=1, freq_width=8, time_masks=1, time_width=20)
    for seed in range(20):
        out = spec_augment(feats, config, torch.Generator().manual_seed(seed))
        masked = masked_positions(feats, out)
        assert torch.equal(masked[0], masked[1]) and torch.equal(masked[0], masked[2])
        full_rows = masked[0].all(dim=1)  # frequency bins masked at every frame
        full_cols = masked[0].all(dim=0)  # frames masked at every bin
        assert full_rows.sum() <= 8 and full_cols.sum() <= 20
        assert torch.equal(masked[0], full_rows[:, None] | full_cols[None, :])
        for band in (full_rows, full_cols):  # one mask per axis: a single contiguous run
            where = torch.nonzero(band).flatten()
            assert len(where) == 0 or int(where[-1] - where[0]) + 1 == len(where)
        unmasked = ~masked
        assert torch.equal(out[unmasked], feats[unmasked])


def test_same_seed_same_masks_and_input_untouched():
    feats = torch.rand(1, 40, 60) + 1.0
    copy = feats.clone()
    config = SpecAugmentConfig()
    first = spec_augment(feats, config, torch.Generator().manual_seed(5))
    again = spec_augment(feats, config, torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    assert torch.equal(feats, copy)
    different = [spec_augment(feats, config, torch.Generator().manual_seed(s)) for s in range(6, 10)]
    assert any(not torch.equal(first, other) for other in different)


def test_masks_wider_than_the_utterance_are_clipped():
    feats = torch.ones(1, 4, 3)
    config = SpecAugmentConfig(freq_masks=3, freq_width=100, time_masks=3, time_width=100)
    outs = [spec_augment(feats, config, torch.Generator().manual_seed(seed)) for seed in range(20)]
    assert all(out.shape == feats.shape for out in outs)
    assert any((out == 0).all() for out in outs)  # clipped to the utterance, masks still cover it


def test_module_masks_only_in_training_mode():
    module = SpecAugment(SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=10))
    feats = torch.rand(2, 1, 20, 30) + 1.0
    module.eval()
    assert module(feats) is feats
    module.train()
    assert (module(feats, torch.Generator().manual_seed(1)) == 0).any()


def test_negative_settings_are_value_errors():
    with pytest.raises(ValueError, match="time_width"):
        SpecAugmentConfig(time_width=-1)
