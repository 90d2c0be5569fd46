"""Cost figures of an acoustic model: FLOPs per second of audio, parameters, receptive field."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from blspeech.models.acoustic import AcousticModel


def _onednn_convolution_flops(x_shape: list[int], w_shape: list[int], *_settings: object,
                              out_shape: list[int]) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape)


def _onednn_linear_flops(x_shape: list[int], w_shape: list[int], *_settings: object, out_shape: list[int]) -> int:
    rows = math.prod(x_shape[:-1])
    return 2 * rows * w_shape[1] * w_shape[0]


def flop_counter() -> FlopCounterMode:
    """A ``FlopCounterMode`` that also counts the fused oneDNN convolutions and linears
    inference-ready models call directly (``prepare_for_inference``), which PyTorch's own table
    does not know."""
    return FlopCounterMode(display=False,
                           custom_mapping={torch.ops.mkldnn._convolution_pointwise: _onednn_convolution_flops,
                                           torch.ops.mkldnn._linear_pointwise: _onednn_linear_flops})


def flops_per_second(model: nn.Module, *, in_channels: int, num_mel_bins: int, seconds: float = 1.0,
                     frame_rate: int = 100) -> float:
    """FLOPs of one inference pass per second of audio, as ``FlopCounterMode`` counts them
    (2 x multiply-adds of convs and matmuls; pooling, BN and element-wise ops are free).

    Input: one utterance of ``seconds`` x ``frame_rate`` frames, (1, C, F, T).
    """
    if seconds <= 0 or frame_rate <= 0:
        raise ValueError(f"seconds and frame_rate must be > 0, got seconds={seconds}, frame_rate={frame_rate}")
    frames = max(1, round(seconds * frame_rate))
    x = torch.zeros(1, in_channels, num_mel_bins, frames)
    lengths = torch.tensor([frames])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), flop_counter() as counter:
            model(x, lengths)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / seconds


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def receptive_field_frames(model: AcousticModel, *, max_frames: int = 1 << 14) -> int:
    """Input frames that can influence one output frame of the CNN (stem + stages; the
    position-wise head adds none, a recurrent head sees the whole past).

    Measured exactly, not estimated: on a copy whose weights are all positive and whose
    max-pools are average pools over the same windows, every path from an input frame to an
    output frame has a positive gradient, so the frames with non-zero gradient are exactly
    that frame's receptive field. The widest over the output frames around the centre is
    returned: with K branches, upsampling by up to 2^(K-1) makes the width repeat with that
    period, so one frame alone can be a narrow one.
    """
    probe = _positive_copy(model)
    period = 1 << (model.spec.branches - 1) if model.spec.big_little else 1
    frames = 64
    while frames <= max_frames:
        widths = [_frames_reaching(probe, frames, offset) for offset in range(period)]
        if all(width is not None for width in widths):
            return max(widths)
        frames *= 2
    raise ValueError(f"receptive field wider than max_frames={max_frames}")


def _frames_reaching(probe: AcousticModel, frames: int, offset: int) -> int | None:
    """Input frames with a gradient from output frame ``centre + offset`` of a ``frames``-long
    input, or None when they reach an edge (the input is too short to measure it)."""
    x = torch.ones(1, probe.in_channels, probe.num_mel_bins, frames, dtype=torch.float64, requires_grad=True)
    features, lengths = probe.stem(x), torch.tensor([frames])
    for stage in probe.stages:
        features, lengths = stage(features, lengths)
    features[..., features.shape[-1] // 2 + offset].sum().backward()
    touched = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2))).flatten()
    first, last = int(touched[0]), int(touched[-1])
    return last - first + 1 if first > 0 and last < frames - 1 else None


def _positive_copy(model: AcousticModel) -> AcousticModel:
    probe = copy.deepcopy(model).double().eval()
    _average_instead_of_max(probe)
    with torch.no_grad():
        for parameter in probe.parameters():
            parameter.abs_()
        for module in probe.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
    return probe


def _average_instead_of_max(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                               ceil_mode=child.ceil_mode))
        else:
            _average_instead_of_max(child)
