"""ResNet acoustic models (basic blocks after a 3x3 stem) and bL-ResNet.

Each bL preset is its baseline with ``big_little=True`` (see ``vgg.py``). Stages are
written for time subsampling 4; ``block="bottleneck"`` switches the block type.
"""

from __future__ import annotations

from typing import Any

from blspeech.models.acoustic import AcousticModel
from blspeech.models.registry import build_preset, register_model
from blspeech.models.spec import StageSpec

# The first stage is 32 wide so that bl-resnet-small's full-resolution Little-Branch (32 / alpha)
# is 16: oneDNN computes output channels in blocks of 16 on an AVX-512 CPU, so an 8-wide branch
# would cost what a 16-wide one does (measured with a 16-wide stage: bL 1.18x faster than its
# baseline at batch 1 for 0.61x the FLOPs; 32-wide: 1.41x for 0.56x).
SMALL: dict[str, Any] = {
    "block": "basic",
    "stem_channels": 16,
    "stages": (StageSpec(depth=3, channels=32, stride=(2, 2)),
               StageSpec(depth=3, channels=32, stride=(2, 2)),
               StageSpec(depth=4, channels=64, stride=(2, 1)),
               StageSpec(depth=2, channels=96, stride=(1, 1))),
    "head_hidden": 256,
}

PAPER: dict[str, Any] = {
    "block": "basic",
    "stem_channels": 32,
    "stages": (StageSpec(depth=3, channels=64, stride=(2, 2)),
               StageSpec(depth=4, channels=128, stride=(2, 2)),
               StageSpec(depth=6, channels=256, stride=(2, 1)),
               StageSpec(depth=3, channels=512, stride=(1, 1))),
    "head_hidden": 1024,
}


@register_model("resnet-small")
def resnet_small(**settings: Any) -> AcousticModel:
    """ResNet for a 2-core CPU (a 16-channel stem, then basic blocks of 32-96 channels)."""
    return build_preset(SMALL, settings)


@register_model("bl-resnet-small", baseline="resnet-small")
def bl_resnet_small(**settings: Any) -> AcousticModel:
    """``resnet-small`` with bL-modules in all but the last stage."""
    return build_preset({**SMALL, "big_little": True}, settings)


@register_model("resnet")
def resnet(**settings: Any) -> AcousticModel:
    """Paper-sized ResNet (ResNet-34-like depths 3-4-6-3, 64-512 channels)."""
    return build_preset(PAPER, settings)


@register_model("bl-resnet", baseline="resnet")
def bl_resnet(**settings: Any) -> AcousticModel:
    """``resnet`` with bL-modules in all but the last stage."""
    return build_preset({**PAPER, "big_little": True}, settings)
