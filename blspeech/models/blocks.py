"""Building blocks over (B, C, F, T) feature maps, all with one constructor signature.

``block(in_channels, out_channels, stride=(1, 1), final_activation=True)`` maps
(B, in_channels, F, T) to (B, out_channels, ceil(F / stride[0]), ceil(T / stride[1])),
so plain stages and every branch of a bL-module are built by the same code whatever the
block. A strided block computes at its *output* resolution (pool first, or strided conv);
that is where the bL-module's fusion block saves its FLOPs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Stride = tuple[int, int]


class BlockFactory(Protocol):
    def __call__(self, in_channels: int, out_channels: int, stride: Stride = (1, 1),
                 final_activation: bool = True) -> nn.Module: ...


def conv3x3(in_channels: int, out_channels: int, stride: Stride = (1, 1)) -> nn.Conv2d:
    """3x3 conv, padding 1: size n -> ceil(n / stride)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1_bn(in_channels: int, out_channels: int, stride: Stride = (1, 1)) -> nn.Sequential:
    """1x1 conv + BN (projection shortcut or branch widening): size n -> ceil(n / stride)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class WindowMaxPool2d(nn.MaxPool2d):
    """Max-pooling over non-overlapping windows the size of ``stride``, ceil mode: n -> ceil(n / s).

    Where no gradient is needed (inference, or a network's input), eager mode computes it one
    dimension at a time as the element-wise maximum of shifted strided slices: the same values
    as ``F.max_pool2d``, several times faster on a CPU, where PyTorch's kernel is slow for NCHW
    tensors and for channels-last ones with few channels (6 ms instead of 0.2 ms for a batch of
    16 4-second 3-channel inputs). With gradients, ``F.max_pool2d`` is used: its backward
    scatters through saved indices, which is cheaper than the slices' backward. TorchScript,
    tracing and ONNX export use ``F.max_pool2d`` too.
    """

    def __init__(self, stride: Stride) -> None:
        window = (int(stride[0]), int(stride[1]))
        if min(window) < 1 or window == (1, 1):
            raise ValueError(f"a window max-pool needs strides >= 1, not both 1, got {tuple(stride)}")
        super().__init__(kernel_size=window, stride=window, ceil_mode=True)
        self.window = window

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or torch.jit.is_tracing() or (x.requires_grad and torch.is_grad_enabled()):
            return F.max_pool2d(x, self.window, self.window, ceil_mode=True)
        return self._max_of_shifted_slices(x)

    @torch.jit.unused
    def _max_of_shifted_slices(self, x: Tensor) -> Tensor:
        return _max_along(_max_along(x, 2, self.window[0]), 3, self.window[1])


def _max_along(x: Tensor, dim: int, window: int) -> Tensor:
    """Maximum over consecutive windows of ``window`` elements along ``dim``, the last one
    possibly shorter: size n -> ceil(n / window)."""
    if window == 1:
        return x
    index = [slice(None)] * x.dim()
    index[dim] = slice(0, None, window)
    pooled = x[tuple(index)]  # the first element of every window
    for offset in range(1, window):
        index[dim] = slice(offset, None, window)
        shifted = x[tuple(index)]  # one entry fewer when the last window is too short to have it
        count = shifted.shape[dim]
        head = torch.maximum(pooled.narrow(dim, 0, count), shifted)
        pooled = head if count == pooled.shape[dim] else torch.cat(
            [head, pooled.narrow(dim, count, pooled.shape[dim] - count)], dim)
    return pooled


class VGGBlock(nn.Sequential):
    """[max-pool by ``stride``] -> 3x3 conv -> BN -> [ReLU] (Sercu et al. 2016 style stacks).

    Pooling comes first so that a strided block's conv runs at the output resolution;
    ``ceil_mode`` keeps odd sizes: n -> ceil(n / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: Stride = (1, 1),
                 final_activation: bool = True) -> None:
        layers: list[nn.Module] = []
        if tuple(stride) != (1, 1):
            layers.append(WindowMaxPool2d(stride))
        layers += [conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels)]
        if final_activation:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _ResidualBlock(nn.Module):
    """Shared residual wiring: ``relu(body(x) + shortcut(x))``; the shortcut projects
    (strided 1x1 conv + BN) only when the stride or the width changes."""

    def __init__(self, body: nn.Module, in_channels: int, out_channels: int, stride: Stride,
                 final_activation: bool) -> None:
        super().__init__()
        self.body = body
        needs_projection = in_channels != out_channels or tuple(stride) != (1, 1)
        self.shortcut = conv1x1_bn(in_channels, out_channels, stride) if needs_projection else nn.Identity()
        self.final_activation = final_activation

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x) + self.shortcut(x)
        if self.final_activation:
            out = torch.relu(out)
        return out


class BasicBlock(_ResidualBlock):
    """ResNet basic block: 3x3 conv (strided) -> BN -> ReLU -> 3x3 conv -> BN, plus shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: Stride = (1, 1),
                 final_activation: bool = True) -> None:
        body = nn.Sequential(
            conv3x3(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels), nn.BatchNorm2d(out_channels))
        super().__init__(body, in_channels, out_channels, stride, final_activation)


class BottleneckBlock(_ResidualBlock):
    """ResNet bottleneck: 1x1 to out/4 -> 3x3 (strided) -> 1x1 back to out, plus shortcut.

    As in the bL-Net authors' code, ``out_channels`` is the block's output width (the
    expansion of 4 is inside the block).
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: Stride = (1, 1),
                 final_activation: bool = True) -> None:
        if out_channels < self.expansion:
            raise ValueError(f"bottleneck out_channels must be >= {self.expansion}, got {out_channels}")
        mid = out_channels // self.expansion
        body = nn.Sequential(
            nn.Conv2d(in_channels, mid, kernel_size=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            conv3x3(mid, mid, stride), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=1, bias=False), nn.BatchNorm2d(out_channels))
        super().__init__(body, in_channels, out_channels, stride, final_activation)


BLOCKS: dict[str, BlockFactory] = {"vgg": VGGBlock, "basic": BasicBlock, "bottleneck": BottleneckBlock}


def block_factory(kind: str) -> BlockFactory:
    """The block class registered as ``kind`` ("vgg", "basic", "bottleneck")."""
    if kind not in BLOCKS:
        raise ValueError(f"unknown block {kind!r}; valid blocks: {sorted(BLOCKS)}")
    return BLOCKS[kind]


def stack_blocks(block: BlockFactory, in_channels: int, out_channels: int, strides: Sequence[Stride],
                 final_activation: bool = True) -> nn.Sequential:
    """``len(strides)`` blocks, block i with ``strides[i]``; the first one changes the width.

    ``final_activation=False`` leaves the last block's output before its ReLU (the
    bL Big-Branch ends that way so the merge's ReLU acts on the sum).
    """
    if not strides:
        raise ValueError("stack_blocks needs at least one stride (one block), got []")
    widths = [in_channels] + [out_channels] * len(strides)
    last = len(strides) - 1
    return nn.Sequential(*(
        block(widths[i], out_channels, tuple(stride), final_activation or i != last)
        for i, stride in enumerate(strides)))


def plain_stage(block: BlockFactory, in_channels: int, out_channels: int, depth: int,
                stride: Stride) -> nn.Sequential:
    """A baseline stage: ``depth`` blocks at the input resolution, the last one strided."""
    return stack_blocks(block, in_channels, out_channels, [(1, 1)] * (depth - 1) + [tuple(stride)])
