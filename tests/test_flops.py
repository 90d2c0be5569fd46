"""FLOP accounting: exact counts on a hand-checked model, and the bL saving of every preset."""

from __future__ import annotations

import pytest
import torch

from blspeech.models import (baseline_name, baseline_twin_config, build_model, flops_per_second, list_models,
                             receptive_field_frames)
from blspeech.models.summary import summarize

BIG_LITTLE_PRESETS = [name for name in list_models() if baseline_name(name)]
MAX_FLOP_RATIO = 0.75


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def costs(model) -> float:
    return flops_per_second(model, in_channels=3, num_mel_bins=40)


def test_every_bl_preset_has_a_registered_baseline():
    assert len(BIG_LITTLE_PRESETS) >= 4
    for name in BIG_LITTLE_PRESETS:
        assert baseline_name(name) in list_models()


@pytest.mark.parametrize("name", BIG_LITTLE_PRESETS)
def test_bl_preset_saves_flops_against_its_baseline(name):
    model = build_model(name, num_outputs=32)
    baseline = build_model(baseline_name(name), num_outputs=32)
    twin = build_model(**baseline_twin_config(model.config))
    assert str(twin) == str(baseline)  # the registered baseline is exactly the bL model without bL
    ratio = costs(model) / costs(baseline)
    assert ratio <= MAX_FLOP_RATIO, f"{name}: {ratio:.3f} x the FLOPs of {baseline_name(name)}"


def test_flops_match_a_hand_count():
    """One 3x3 conv 3 -> 4 on 16 x 100, then Linear(4 * 16 -> 8) and Linear(8 -> 5) per frame."""
    model = build_model("vgg-small", num_outputs=5, num_mel_bins=16, time_subsampling=1, head_hidden=8,
                        stages=[{"depth": 1, "channels": 4, "stride": [1, 1]}])
    multiply_adds = 3 * 4 * 9 * 16 * 100 + 100 * (4 * 16 * 8 + 8 * 5)
    assert flops_per_second(model, in_channels=3, num_mel_bins=16) == 2 * multiply_adds


def test_flops_are_per_second_of_audio_and_leave_training_mode():
    model = build_model("bl-vgg-small", num_outputs=5)
    model.train()
    one = flops_per_second(model, in_channels=3, num_mel_bins=40, seconds=1.0)
    three = flops_per_second(model, in_channels=3, num_mel_bins=40, seconds=3.0)
    assert three == pytest.approx(one, rel=0.01)  # not exact: ceil at odd sizes
    assert model.training
    with pytest.raises(ValueError, match="seconds and frame_rate must be > 0"):
        flops_per_second(model, in_channels=3, num_mel_bins=40, seconds=0)


@pytest.mark.parametrize("stages, time_subsampling, block, expected", [
    ([{"depth": 2, "channels": 4, "stride": [1, 1]}], 1, "vgg", 5),  # two 3x3 convs
    ([{"depth": 2, "channels": 4, "stride": [1, 2]}, {"depth": 1, "channels": 4, "stride": [1, 1]}], 2, "vgg",
     3 + 1 + 4 + 4),  # conv, pool 2, then two convs at stride 2
    ([{"depth": 2, "channels": 4, "stride": [1, 1]}], 1, "basic", 11),  # stem + two basic blocks
])
def test_receptive_field_of_known_stacks(stages, time_subsampling, block, expected):
    stem = 4 if block == "basic" else 0
    model = build_model("vgg-small", num_outputs=3, num_mel_bins=16, time_subsampling=time_subsampling,
                        block=block, stem_channels=stem, stages=stages)
    assert receptive_field_frames(model) == expected


def test_receptive_field_is_the_widest_over_the_output_frames():
    """With three branches the width repeats every 4 output frames; the centre one may be narrow."""
    from blspeech.models.flops import _positive_copy

    model = build_model("bl-vgg-small", num_outputs=3, num_mel_bins=16, branches=3)
    probe, frames = _positive_copy(model), 1024
    widths = []
    for offset in range(-8, 8):  # measured here frame by frame, independently of the function
        x = torch.ones(1, 3, 16, frames, dtype=torch.float64, requires_grad=True)
        out, _ = probe(x, torch.tensor([frames]))
        out[0, out.shape[1] // 2 + offset].sum().backward()
        touched = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2))).flatten()
        widths.append(int(touched[-1] - touched[0]) + 1)
    assert len(set(widths)) > 1 and receptive_field_frames(model) == max(widths)


def test_summary_reports_ratio_for_bl_only():
    bl = summarize(build_model("bl-vgg-small", num_outputs=32))
    assert bl.baseline == "vgg-small" and bl.flop_ratio <= MAX_FLOP_RATIO
    assert bl.output_frame_rate == 25
    plain = summarize(build_model("vgg-small", num_outputs=32, output="hybrid"))
    assert plain.baseline is None and plain.flop_ratio is None and plain.output_frame_rate == 100
