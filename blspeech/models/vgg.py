"""VGG acoustic models (3x3 conv stacks with max-pooling, Sercu et al. 2016) and bL-VGG.

Each bL preset is its baseline with ``big_little=True``: the Big-Branch is the baseline
stage's blocks (minus the one the fusion block takes over), so FLOP and accuracy
differences are due to bL alone. Stages are written for time subsampling 4.
"""

from __future__ import annotations

from typing import Any

from blspeech.models.acoustic import AcousticModel
from blspeech.models.registry import build_preset, register_model
from blspeech.models.spec import StageSpec

SMALL: dict[str, Any] = {
    "block": "vgg",
    "stages": (StageSpec(depth=3, channels=24, stride=(2, 2)),
               StageSpec(depth=3, channels=48, stride=(2, 2)),
               StageSpec(depth=4, channels=96, stride=(2, 1)),
               StageSpec(depth=2, channels=128, stride=(1, 1))),
    "head_hidden": 256,
}

PAPER: dict[str, Any] = {
    "block": "vgg",
    "stages": (StageSpec(depth=3, channels=64, stride=(2, 2)),
               StageSpec(depth=4, channels=128, stride=(2, 2)),
               StageSpec(depth=6, channels=256, stride=(2, 1)),
               StageSpec(depth=2, channels=512, stride=(1, 1))),
    "head_hidden": 1024,
}


@register_model("vgg-small")
def vgg_small(**settings: Any) -> AcousticModel:
    """VGG for a 2-core CPU (four stages, 24-128 channels)."""
    return build_preset(SMALL, settings)


@register_model("bl-vgg-small", baseline="vgg-small")
def bl_vgg_small(**settings: Any) -> AcousticModel:
    """``vgg-small`` with bL-modules in all but the last stage."""
    return build_preset({**SMALL, "big_little": True}, settings)


@register_model("vgg")
def vgg(**settings: Any) -> AcousticModel:
    """Paper-sized VGG (64-512 channels)."""
    return build_preset(PAPER, settings)


@register_model("bl-vgg", baseline="vgg")
def bl_vgg(**settings: Any) -> AcousticModel:
    """``vgg`` with bL-modules in all but the last stage."""
    return build_preset({**PAPER, "big_little": True}, settings)
