"""The Big-Little module (Chen et al., ICLR 2019), written once for any block and K >= 2 branches.

Branch k (k = 0 .. K-1) sees the stage input at 1/2^k resolution. The last branch is
the Big-Branch: the baseline stage's blocks minus one, the first with stride 2 in
frequency and time. Lower k are Little-Branches, ``alpha`` times thinner and ``beta``
times shallower per step: width = channels / alpha^(K-1-k), depth = max(1,
depth // beta^(K-1-k) - 1) (for K = 2 this is the paper's width / alpha, depth
max(1, blocks // beta - 1), and the Big-Branch's depth - 1 follows from the same rule).

Merge: every Little output is widened back by a 1x1 conv + BN, every lower-resolution
output is upsampled with nearest neighbour and cropped to branch 0's exact size, all are
added, ReLU.
A fusion block at full resolution then applies the stage's own stride, so it computes at
the output resolution and the module outputs what the baseline stage would:
(B, C_in, F, T) -> (B, channels, ceil(F / stride[0]), ceil(T / stride[1])).

Pooled merge: when the fusion block begins with a max-pool whose window equals its stride
(a strided VGG block, strides of 1 or 2), ``forward`` pools the Little output *before* adding the upsampled
branches. Each pooling window lies inside one nearest-upsampling cell, where the upsampled
value is a constant c, and max(a + c) = max(a) + c, max(relu(a)) = relu(max(a)); floating-point
addition is monotonic, so the result is bit-for-bit ``fusion(merge_branches(x))``. It saves
the full-resolution upsample, add and ReLU that would otherwise dominate a CPU's time (the
Big-Branch of a 2-branch module needs no upsampling at all).
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blspeech.models.blocks import BlockFactory, Stride, conv1x1_bn, stack_blocks


class Branch(nn.Module):
    """One resolution of a bL-module: ``downsample`` (pre-pooling, for k >= 2), ``blocks``
    (the first strided by 2 for k >= 1), then ``widen`` (1x1 conv + BN for Little-Branches,
    identity for the Big-Branch). (B, C_in, F, T) -> (B, channels, ~F / 2^k, ~T / 2^k)."""

    def __init__(self, downsample: nn.Module, blocks: nn.Module, widen: nn.Module) -> None:
        super().__init__()
        self.downsample = downsample
        self.blocks = blocks
        self.widen = widen

    def forward(self, x: Tensor) -> Tensor:
        return self.widen(self.blocks(self.downsample(x)))


def branch_width(channels: int, alpha: int, level: int) -> int:
    """Width of a branch ``level`` steps thinner than the Big-Branch."""
    return channels // alpha ** level


def branch_depth(depth: int, beta: int, level: int) -> int:
    """Depth of a branch ``level`` steps shallower than the Big-Branch (level 0: depth - 1)."""
    return max(1, depth // beta ** level - 1)


def _make_branch(block: BlockFactory, in_channels: int, channels: int, depth: int, *, resolution: int,
                 branches: int, alpha: int, beta: int) -> Branch:
    level = branches - 1 - resolution  # 0 for the Big-Branch
    width = branch_width(channels, alpha, level)
    strides: list[Stride] = [(2, 2) if resolution > 0 else (1, 1)] + [(1, 1)] * (branch_depth(depth, beta, level) - 1)
    pre_pool = 2 ** (resolution - 1) if resolution >= 2 else 1
    downsample = (nn.AvgPool2d(kernel_size=pre_pool, stride=pre_pool, ceil_mode=True)
                  if pre_pool > 1 else nn.Identity())
    is_big = level == 0
    # The Big-Branch ends before its ReLU (the merge applies it to the sum); Little-Branches
    # end with theirs, then are widened by conv + BN, as in the authors' code.
    blocks = stack_blocks(block, in_channels, width, strides, final_activation=not is_big)
    widen = nn.Identity() if is_big else conv1x1_bn(width, channels)
    return Branch(downsample, blocks, widen)


def upsample_nearest(x: Tensor, factor: Union[int, Tuple[int, int]], height: int, width: int) -> Tensor:
    """Nearest-neighbour upsampling by an integer ``factor`` (or a (frequency, time) pair),
    cropped to (height, width).

    Full-resolution position i reads low-resolution position i // factor whatever the
    input length, so padding an utterance cannot shift which value a real frame reads
    (``interpolate(size=...)`` rescales by in/out and, for factor 4 and up, would).
    """
    if isinstance(factor, int):
        factors = (factor, factor)
    else:
        factors = factor
    if factors[0] != 1 or factors[1] != 1:
        x = F.interpolate(x, scale_factor=(float(factors[0]), float(factors[1])), mode="nearest")
    return x[:, :, :height, :width]


def _repeat_spans(size: int, factor: int) -> list[tuple[int, int, int, int, int]]:
    """How nearest upsampling by ``factor`` cropped to ``size`` covers one dimension: spans of
    (start, stop, low_start, low_stop, repeat), each low-resolution entry repeated ``repeat`` times."""
    whole = size // factor
    spans = [(0, whole * factor, 0, whole, factor)] if whole else []
    if size > whole * factor:
        spans.append((whole * factor, size, whole, whole + 1, size - whole * factor))
    return spans


def add_upsampled_(target: Tensor, low: Tensor, factor: Tuple[int, int]) -> Tensor:
    """``target += upsample_nearest(low, factor, *target.shape[2:])``, in place and without
    building the upsampled tensor: each upsampling cell of ``target`` is viewed as a block and
    gets its low-resolution value broadcast, so a full-resolution tensor is neither written nor
    read once more. The same float additions, so the same values."""
    for row, row_stop, low_row, low_row_stop, row_repeat in _repeat_spans(target.shape[2], factor[0]):
        for col, col_stop, low_col, low_col_stop, col_repeat in _repeat_spans(target.shape[3], factor[1]):
            cells = target[:, :, row:row_stop, col:col_stop]
            cells = cells.unflatten(3, (low_col_stop - low_col, col_repeat)).unflatten(2, (low_row_stop - low_row, row_repeat))
            cells.add_(low[:, :, low_row:low_row_stop, low_col:low_col_stop].unsqueeze(3).unsqueeze(5))
    return target


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def take_leading_pool(block: nn.Module) -> Optional[nn.MaxPool2d]:
    """Remove and return the max-pool a block begins with, if its window equals its stride.

    The pool is replaced by an identity at the same index, so the block's parameter names
    (and saved checkpoints) stay the same. Returns None, leaving ``block`` as it is, for
    blocks that do not begin that way (unstrided or residual blocks).
    """
    if not isinstance(block, nn.Sequential) or len(block) == 0 or not isinstance(block[0], nn.MaxPool2d):
        return None
    pool = block[0]
    if _pair(pool.kernel_size) != _pair(pool.stride) or _pair(pool.padding) != (0, 0) or _pair(pool.dilation) != (1, 1):
        return None
    block[0] = nn.Identity()
    return pool


class BigLittleModule(nn.Module):
    """bL-module replacing one baseline stage of ``depth`` blocks of ``block``.

    ``branches[0]`` is the full-resolution Little-Branch, ``branches[-1]`` the Big-Branch.
    """

    def __init__(self, block: BlockFactory, in_channels: int, channels: int, depth: int,
                 stride: Stride = (1, 1), *, alpha: int = 2, beta: int = 4, branches: int = 2) -> None:
        super().__init__()
        if branches < 2:
            raise ValueError(f"a bL-module needs branches >= 2, got {branches}")
        if depth < 2:
            raise ValueError(f"a bL-module needs depth >= 2 (Big-Branch = depth - 1 blocks), got {depth}")
        if alpha < 1 or beta < 1:
            raise ValueError(f"alpha and beta must be >= 1, got alpha={alpha}, beta={beta}")
        if branch_width(channels, alpha, branches - 1) < 1:
            raise ValueError(f"channels {channels} too few for alpha {alpha} with {branches} branches")
        self.branches = nn.ModuleList(
            _make_branch(block, in_channels, channels, depth, resolution=k, branches=branches, alpha=alpha, beta=beta)
            for k in range(branches))
        fusion = block(channels, channels, tuple(stride), True)
        # ``merge_pool`` is the fusion block's own max-pool, applied inside the merge (see the
        # module docstring); the fusion block keeps the rest. Exact only while each pooling
        # window lies inside one upsampling cell (2 x 2 for the branch nearest in resolution), so
        # for strides of 1 or 2; a stride of 3 or 4 keeps the plain merge.
        self.merge_pool = take_leading_pool(fusion) if all(s in (1, 2) for s in stride) else None
        self.fusion = fusion
        pool_stride = tuple(stride) if self.merge_pool is not None else (1, 1)
        # Upsampling factor of branch k >= 1 relative to the (pooled) resolution of the merge.
        self.merge_factors: list[Tuple[int, int]] = [
            ((1 << k) // pool_stride[0], (1 << k) // pool_stride[1]) for k in range(1, branches)]

    def merge_branches(self, x: Tensor) -> Tensor:
        """(B, C_in, F, T) -> (B, channels, F, T): relu(sum of branches at full resolution).

        The bL merge as defined; ``forward`` computes ``fusion(merge_branches(x))`` (with
        ``merge_pool`` in front of ``fusion`` when there is one), pooled first when it can.
        """
        merged = self.branches[0](x)
        for resolution, branch in enumerate(self.branches):
            if resolution > 0:
                merged = self._add_branch(merged, branch(x), (1 << resolution, 1 << resolution))
        return torch.relu_(merged)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, F, T) -> (B, channels, ceil(F / stride[0]), ceil(T / stride[1]))."""
        if self.merge_pool is None:
            return self.fusion(self.merge_branches(x))
        merged = self.merge_pool(self.branches[0](x))
        for resolution, branch in enumerate(self.branches):
            if resolution > 0:
                merged = self._add_branch(merged, branch(x), self.merge_factors[resolution - 1])
        return self.fusion(torch.relu_(merged))

    def _add_branch(self, merged: Tensor, low: Tensor, factor: Tuple[int, int]) -> Tensor:
        """``merged`` plus ``low`` upsampled by ``factor``: in place where no gradient is
        recorded (inference), else out of place through an upsampled copy (simpler backward)."""
        if torch.jit.is_scripting() or torch.jit.is_tracing() or (torch.is_grad_enabled() and merged.requires_grad):
            return merged + upsample_nearest(low, factor, merged.shape[2], merged.shape[3])
        return self._add_upsampled(merged, low, factor)

    @torch.jit.unused
    def _add_upsampled(self, merged: Tensor, low: Tensor, factor: Tuple[int, int]) -> Tensor:
        return add_upsampled_(merged, low, factor)
