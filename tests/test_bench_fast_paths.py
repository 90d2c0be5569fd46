"""The speed fixes the benchmark led to compute exactly what they replace.

- bL pooled merge: ``forward`` pools the Little output before adding the upsampled branches
  when the fusion block begins with a max-pool; it must equal pooling the full merge.
- In inference the upsampled branches are added in place, cell by cell, without building the
  upsampled tensor; it must equal adding the upsampled tensor.
- ``zero_padding`` keeps channels-last tensors channels-last.
- ``WindowMaxPool2d`` (VGG blocks' pooling) equals ``F.max_pool2d``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from blspeech.models.acoustic import zero_padding
from blspeech.models.blmodule import BigLittleModule, add_upsampled_, take_leading_pool, upsample_nearest
from blspeech.models.blocks import BLOCKS, VGGBlock, WindowMaxPool2d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def merge_by_definition(module: BigLittleModule, x: torch.Tensor) -> torch.Tensor:
    """relu(Little + every lower resolution upsampled to it), with upsampled copies."""
    merged = module.branches[0](x)
    for resolution, branch in enumerate(module.branches):
        if resolution > 0:
            merged = merged + upsample_nearest(branch(x), 1 << resolution, merged.shape[2], merged.shape[3])
    return torch.relu(merged)


def reference(module: BigLittleModule, x: torch.Tensor) -> torch.Tensor:
    """The bL module by its definition: merge at full resolution, then the whole fusion block."""
    fusion = nn.Sequential(module.merge_pool, module.fusion) if module.merge_pool is not None else module.fusion
    return fusion(merge_by_definition(module, x))


@pytest.mark.parametrize("branches", [2, 3])
@pytest.mark.parametrize("stride", [(2, 2), (2, 1), (1, 2)])
@pytest.mark.parametrize("size", [(16, 16), (13, 21), (5, 1), (1, 1)])
def test_pooled_merge_equals_pooling_the_full_merge(branches, stride, size):
    module = BigLittleModule(BLOCKS["vgg"], 6, 16, 4, stride, alpha=2, beta=2, branches=branches).eval()
    assert module.merge_pool is not None
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        torch.testing.assert_close(module(x), reference(module, x), rtol=0, atol=0)  # bit for bit


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_pooled_merge_trains_like_the_full_merge(memory_format):
    module = BigLittleModule(BLOCKS["vgg"], 6, 16, 4, (2, 2), alpha=2, beta=2, branches=3)
    module = module.train().to(memory_format=memory_format)
    x = torch.randn(2, 6, 13, 21).contiguous(memory_format=memory_format)
    gradients = []
    for forward in (module, lambda x: reference(module, x)):
        module.zero_grad()
        forward(x).square().sum().backward()
        gradients.append([p.grad.clone() for p in module.parameters()])
    for fast, slow in zip(*gradients):
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, stride", [("vgg", (1, 1)), ("basic", (2, 2)), ("bottleneck", (2, 2))])
def test_fusion_blocks_that_do_not_pool_first_keep_the_full_merge(kind, stride):
    module = BigLittleModule(BLOCKS[kind], 6, 16, 4, stride, alpha=2, beta=2)
    assert module.merge_pool is None
    x = torch.randn(1, 6, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(x), module.fusion(merge_by_definition(module, x)), rtol=0, atol=0)
        torch.testing.assert_close(module.merge_branches(x), merge_by_definition(module, x), rtol=0, atol=0)


@pytest.mark.parametrize("factor", [(1, 1), (1, 2), (2, 1), (2, 2), (4, 4), (4, 2)])
@pytest.mark.parametrize("size", [(8, 8), (9, 13), (1, 3), (5, 1)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_adding_in_place_equals_adding_the_upsampled_tensor(factor, size, memory_format):
    target = torch.randn(2, 3, *size).contiguous(memory_format=memory_format)
    low = torch.randn(2, 3, -(-size[0] // factor[0]) + 1, -(-size[1] // factor[1]))  # may be larger than needed
    expected = target + upsample_nearest(low, factor, *size)
    result = add_upsampled_(target, low, factor)
    assert result is target
    torch.testing.assert_close(result, expected, rtol=0, atol=0)  # the same additions: bit for bit


def test_merge_with_gradients_keeps_the_out_of_place_add():
    """Training records the ordinary upsample-and-add, whose backward is plain; the result is the same."""
    module = BigLittleModule(BLOCKS["basic"], 4, 8, 3, (2, 2), alpha=2, beta=2, branches=3).train()
    x = torch.randn(2, 4, 11, 13)
    merged = module.merge_branches(x)
    assert merged.requires_grad
    torch.testing.assert_close(merged, merge_by_definition(module, x), rtol=0, atol=0)


def test_taking_the_pool_keeps_parameter_names():
    """Checkpoints written before the pooled merge still load: the fusion block's keys are unchanged."""
    block = VGGBlock(16, 16, (2, 2))
    names = set(block.state_dict())
    pool = take_leading_pool(block)
    assert isinstance(pool, nn.MaxPool2d) and isinstance(block[0], nn.Identity)
    assert set(block.state_dict()) == names
    assert take_leading_pool(VGGBlock(16, 16)) is None  # unstrided: nothing to take
    overlapping = nn.Sequential(nn.MaxPool2d(3, stride=2), nn.Conv2d(4, 4, 1))
    assert take_leading_pool(overlapping) is None  # windows overlap upsampling cells: no exact identity


def test_zero_padding_returns_an_unpadded_batch_as_it_is():
    x = torch.randn(2, 3, 4, 6)
    assert zero_padding(x, torch.tensor([6, 6])) is x
    assert zero_padding(x, torch.tensor([6, 5])) is not x


def test_zero_padding_keeps_channels_last():
    x = torch.randn(3, 4, 5, 9).contiguous(memory_format=torch.channels_last)
    x[0, :, :, 7:] = float("nan")  # padding may hold anything; it is replaced, not multiplied
    lengths = torch.tensor([7, 9, 1])
    out = zero_padding(x, lengths)
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = x.clone()
    for row, length in enumerate(lengths.tolist()):
        expected[row, :, :, length:] = 0.0
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("stride", [(2, 2), (2, 1), (1, 2)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_window_max_pool_equals_max_pool2d(stride, memory_format):
    pool = WindowMaxPool2d(stride)
    for shape in [(2, 3, 5, 7), (1, 4, 1, 1), (2, 5, 40, 41), (3, 2, 6, 8)]:
        x = torch.randn(shape).contiguous(memory_format=memory_format)
        expected = F.max_pool2d(x, stride, stride, ceil_mode=True)
        with torch.no_grad():
            torch.testing.assert_close(pool(x), expected, rtol=0, atol=0)
        trained = x.clone().requires_grad_()
        pool(trained).sum().backward()  # with gradients it is F.max_pool2d itself
        reference = x.clone().requires_grad_()
        F.max_pool2d(reference, stride, stride, ceil_mode=True).sum().backward()
        torch.testing.assert_close(trained.grad, reference.grad, rtol=0, atol=0)


def test_window_max_pool_needs_a_stride():
    with pytest.raises(ValueError, match=r"not both 1, got \(1, 1\)"):
        WindowMaxPool2d((1, 1))
