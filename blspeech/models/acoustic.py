"""The acoustic model: [stem] -> stages (plain or bL) with length masking -> frame classifier."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from blspeech.models.blmodule import BigLittleModule
from blspeech.models.blocks import VGGBlock, block_factory, plain_stage
from blspeech.models.heads import FrameClassifier
from blspeech.models.spec import ModelSpec


def subsampled_lengths(lengths: Tensor, stride: int) -> Tensor:
    """Frames left after a time stride: ceil(length / stride), as every strided block computes it."""
    return torch.div(lengths + (stride - 1), stride, rounding_mode="floor")


def zero_padding(x: Tensor, lengths: Tensor) -> Tensor:
    """Zero the time steps of (B, C, F, T) at or after each utterance's length (even NaN or
    inf padding: the values are replaced, not multiplied).

    ``torch.where`` keeps x's memory layout (``masked_fill`` with a broadcast mask returns
    NCHW, which turns every channels-last stage output back to NCHW for the next stage).
    A batch without padding is returned as it is: one pass over the tensor less per stage (a
    trace records one branch only and a compiled graph would break on the test, so traced,
    compiled and scripted models always mask).
    """
    if not torch.jit.is_scripting():
        if _nothing_padded(x, lengths):
            return x
    frames = torch.arange(x.shape[3], device=x.device)
    padded = frames.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
    return torch.where(padded.unsqueeze(1).unsqueeze(1), 0.0, x)


def _nothing_padded(x: Tensor, lengths: Tensor) -> bool:
    """True when every utterance fills the batch's time axis (never while tracing or compiling)."""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling()) and bool((lengths >= x.shape[3]).all())


class MaskedStage(nn.Module):
    """A stage followed by masking of padded frames, so that padding cannot leak into real
    frames beyond one stage's receptive field. (B, C, F, T), (B,) -> (B, C', F', T'), (B,)."""

    def __init__(self, body: nn.Module, time_stride: int) -> None:
        super().__init__()
        self.body = body
        self.time_stride = time_stride

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        lengths = subsampled_lengths(lengths, self.time_stride)
        return zero_padding(self.body(x), lengths), lengths


class AcousticModel(nn.Module):
    """CNN acoustic model over log-mel "images".

    ``forward(x (B, C, F, T), lengths (B,))`` returns logits (B, T', num_outputs) and the
    output lengths (B,), T' = ceil(T / time_subsampling) (per stage: ceil(n / stride)).
    ``config`` is a dict of plain values: ``build_model(**model.config)`` rebuilds it.
    """

    __jit_unused_properties__ = ["config"]

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.num_outputs = spec.num_outputs
        self.time_subsampling = spec.time_subsampling
        self.output = spec.output
        self.in_channels = spec.in_channels
        self.num_mel_bins = spec.num_mel_bins
        self.stem = VGGBlock(spec.in_channels, spec.stem_channels) if spec.stem_channels else nn.Identity()
        self.stages = nn.ModuleList(_build_stages(spec))
        self.head = FrameClassifier(spec.stages[-1].channels, spec.output_frequency_bins, spec.head_hidden,
                                    spec.num_outputs, recurrent=spec.recurrent, dropout=spec.dropout)
        _initialize(self)

    @property
    def config(self) -> dict[str, Any]:
        return self.spec.to_dict()

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.num_mel_bins:
            raise ValueError("expected input (B, {}, {}, T), got {}".format(
                self.in_channels, self.num_mel_bins, list(x.shape)))
        x = self.stem(zero_padding(x, lengths))
        for stage in self.stages:
            x, lengths = stage(x, lengths)
        return self.head(x), lengths


def _build_stages(spec: ModelSpec) -> list[MaskedStage]:
    """Plain stages, or bL-modules where ``spec`` asks for them, each followed by masking."""
    block = block_factory(spec.block)
    width = spec.stem_channels or spec.in_channels
    stages = []
    for index, stage in enumerate(spec.stages):
        if spec.is_big_little_stage(index):
            body: nn.Module = BigLittleModule(block, width, stage.channels, stage.depth, stage.stride,
                                              alpha=spec.alpha, beta=spec.beta, branches=spec.branches)
        else:
            body = plain_stage(block, width, stage.channels, stage.depth, stage.stride)
        stages.append(MaskedStage(body, stage.stride[1]))
        width = stage.channels
    return stages


def _initialize(model: nn.Module) -> None:
    """He init for convs (as the bL-Net authors), unit BN."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
