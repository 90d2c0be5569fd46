"""The bL-module equals its definition, for every block type and K = 2, 3 branches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from blspeech.models.blmodule import BigLittleModule, branch_depth, branch_width, upsample_nearest
from blspeech.models.blocks import BLOCKS, plain_stage, stack_blocks

BLOCK_KINDS = sorted(BLOCKS)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_module(kind: str, branches: int, *, depth: int = 5, stride=(2, 2)) -> BigLittleModule:
    return BigLittleModule(BLOCKS[kind], 6, 16, depth, stride, alpha=2, beta=2, branches=branches).eval()


def zero_little_branches(module: BigLittleModule) -> None:
    """Silence every Little-Branch by zeroing its 1x1 widening conv + BN."""
    with torch.no_grad():
        for branch in module.branches[:-1]:
            for parameter in branch.widen.parameters():
                parameter.zero_()


@pytest.mark.parametrize("kind", BLOCK_KINDS)
@pytest.mark.parametrize("branches", [2, 3])
@pytest.mark.parametrize("size", [(16, 16), (13, 21), (5, 1)])
def test_merge_with_little_zeroed_is_upsampled_big(kind, branches, size):
    module = make_module(kind, branches)
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        merged_before = module.merge_branches(x)
        zero_little_branches(module)
        merged = module.merge_branches(x)
        big = module.branches[-1](x)
    expected = torch.relu(F.interpolate(big, scale_factor=float(2 ** (branches - 1)), mode="nearest"))
    expected = expected[:, :, :size[0], :size[1]]
    assert merged.shape == (2, 16, *size)
    torch.testing.assert_close(merged, expected, rtol=0, atol=0)
    assert not torch.equal(merged_before, merged)  # the Little-Branches did contribute before


@pytest.mark.parametrize("kind", BLOCK_KINDS)
@pytest.mark.parametrize("branches", [2, 3])
@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (2, 2)])
def test_branch_resolutions_and_output_size(kind, branches, stride):
    module = make_module(kind, branches, stride=stride)
    x = torch.randn(1, 6, 13, 19)
    with torch.no_grad():
        for k, branch in enumerate(module.branches):
            factor = 2 ** k
            assert branch.blocks(branch.downsample(x)).shape[2:] == (-(-13 // factor), -(-19 // factor))
            assert branch(x).shape[1] == 16  # widened back to the stage width
        out = module(x)
    assert out.shape == (1, 16, -(-13 // stride[0]), -(-19 // stride[1]))


@pytest.mark.parametrize("branches", [2, 3])
@pytest.mark.parametrize("stride", [(2, 4), (4, 1), (3, 1)])
def test_strides_beyond_two_keep_the_plain_merge(branches, stride):
    """A pooling window wider than an upsampling cell cannot be moved into the merge."""
    module = make_module("vgg", branches, stride=stride)
    assert module.merge_pool is None
    x = torch.randn(2, 6, 13, 19)
    with torch.no_grad():
        out = module(x)
        expected = module.fusion(module.merge_branches(x))
    assert out.shape == (2, 16, -(-13 // stride[0]), -(-19 // stride[1]))
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    module.train()(x.requires_grad_()).sum().backward()  # and trains


@pytest.mark.parametrize("branches", [2, 3])
def test_branch_widths_and_depths_follow_alpha_and_beta(branches):
    module = BigLittleModule(BLOCKS["vgg"], 8, 32, 9, alpha=2, beta=2, branches=branches)
    convs = [[m for m in branch.blocks.modules() if isinstance(m, nn.Conv2d)] for branch in module.branches]
    for k, branch_convs in enumerate(convs):
        level = branches - 1 - k
        assert len(branch_convs) == branch_depth(9, 2, level)
        assert {c.out_channels for c in branch_convs} == {branch_width(32, 2, level)}
    assert len(convs[-1]) == 8  # Big-Branch: the stage's 9 blocks minus the one the fusion takes
    assert branch_depth(9, 2, 1) == 3 and branch_width(32, 2, 1) == 16  # paper: depth // beta - 1, width / alpha
    assert branch_depth(3, 4, 1) == 1  # never empty


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_big_branch_plus_fusion_has_the_baseline_stage_convolutions(kind):
    """Same 3x3 convolutions as the baseline stage: bL changes resolutions, not the Big-Branch."""
    depth, stride = 4, (2, 1)
    module = BigLittleModule(BLOCKS[kind], 8, 32, depth, stride)
    baseline = plain_stage(BLOCKS[kind], 8, 32, depth, stride)

    def conv3x3_shapes(*modules: nn.Module) -> list[tuple[int, ...]]:
        return [tuple(m.weight.shape) for part in modules for m in part.modules()
                if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]

    assert conv3x3_shapes(module.branches[-1], module.fusion) == conv3x3_shapes(baseline)


def test_upsample_reads_position_divided_by_factor():
    low = torch.arange(3.0).reshape(1, 1, 1, 3)
    assert upsample_nearest(low, 4, 1, 10).flatten().tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("arguments, message", [
    ({"branches": 1}, "branches >= 2, got 1"),
    ({"depth": 1}, "depth >= 2 (Big-Branch = depth - 1 blocks), got 1"),
    ({"alpha": 0}, "alpha and beta must be >= 1, got alpha=0"),
    ({"channels": 3, "alpha": 2, "branches": 3}, "channels 3 too few for alpha 2 with 3 branches"),
])
def test_bad_module_arguments(arguments, message):
    settings = {"in_channels": 4, "channels": 16, "depth": 3, **arguments}
    with pytest.raises(ValueError) as error:
        BigLittleModule(BLOCKS["basic"], settings.pop("in_channels"), settings.pop("channels"),
                        settings.pop("depth"), **settings)
    assert message in str(error.value)


def test_stack_blocks_needs_a_block():
    with pytest.raises(ValueError, match="at least one stride"):
        stack_blocks(BLOCKS["vgg"], 3, 8, [])
