"""What an acoustic model is made of: its stages and every setting needed to rebuild it.

``ModelSpec.to_dict()`` holds only plain Python values (str, int, float, bool, lists,
dicts), so a checkpoint that stores it loads with ``torch.load(weights_only=True)`` and
``build_model(**config)`` rebuilds the same architecture even if a preset changes later.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OUTPUT_KINDS = ("ctc", "hybrid")
TIME_SUBSAMPLINGS = (1, 2, 4)
BLOCK_KINDS = ("vgg", "basic", "bottleneck")


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``depth`` blocks of width ``channels``; the stage ends by downsampling
    by ``stride`` = (frequency, time), so its blocks compute at the stage's input resolution."""

    depth: int
    channels: int
    stride: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        stride = tuple(self.stride) if isinstance(self.stride, (list, tuple)) else ()
        if len(stride) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in stride):
            raise ValueError(f"stage stride must be a (frequency, time) pair of ints >= 1, got {self.stride!r}")
        object.__setattr__(self, "stride", stride)
        for name in ("depth", "channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"stage {name} must be an int >= 1, got {value!r}")

    @classmethod
    def coerce(cls, value: StageSpec | Mapping[str, Any]) -> StageSpec:
        """Accept a StageSpec or a dict such as ``{"depth": 3, "channels": 32, "stride": [2, 2]}``."""
        if isinstance(value, StageSpec):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a stage must be a StageSpec or a dict, got {value!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown stage field(s) {unknown}; valid fields: {sorted(known)}")
        return cls(**value)

    def to_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "channels": self.channels, "stride": list(self.stride)}


def distribute_time_strides(stages: Sequence[StageSpec], time_subsampling: int) -> tuple[StageSpec, ...]:
    """Give the first log2(``time_subsampling``) stages time stride 2 and the rest 1.

    Early time strides are the cheapest place to subsample; frequency strides are kept.
    """
    if time_subsampling not in TIME_SUBSAMPLINGS:
        raise ValueError(f"time_subsampling must be one of {TIME_SUBSAMPLINGS}, got {time_subsampling!r}")
    halvings = int(math.log2(time_subsampling))
    if halvings > len(stages):
        raise ValueError(f"time_subsampling {time_subsampling} needs at least {halvings} stages, got {len(stages)}")
    return tuple(
        dataclasses.replace(stage, stride=(stage.stride[0], 2 if index < halvings else 1))
        for index, stage in enumerate(stages)
    )


@dataclass(frozen=True)
class ModelSpec:
    """Every setting of an acoustic model; the registry's presets fill it in.

    ``block``: "vgg" (3x3 conv + BN + ReLU, max-pool strides), "basic" or "bottleneck"
    (ResNet). ``stem_channels``: width of a 3x3 conv before the stages (0 = none).
    ``big_little``: replace every stage (but the last when ``plain_last_stage``) by a
    bL-module with ``branches`` resolutions, Little width / ``alpha``, depth / ``beta``.
    Head: frequency collapsed, ``head_hidden`` units, optional causal GRU (``recurrent``).
    """

    name: str
    num_outputs: int
    stages: tuple[StageSpec, ...]
    in_channels: int = 3
    num_mel_bins: int = 40
    output: str = "ctc"
    time_subsampling: int = 4
    block: str = "vgg"
    stem_channels: int = 0
    big_little: bool = False
    alpha: int = 2
    beta: int = 4
    branches: int = 2
    plain_last_stage: bool = True
    head_hidden: int = 256
    recurrent: bool = False
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.stages, (list, tuple)):
            raise ValueError(f"stages must be a list of stages, got {self.stages!r}")
        object.__setattr__(self, "stages", tuple(StageSpec.coerce(s) for s in self.stages))
        self._check_choices()
        self._check_numbers()
        self._check_stages()

    def _check_choices(self) -> None:
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {self.output!r}")
        if self.time_subsampling not in TIME_SUBSAMPLINGS:
            raise ValueError(f"time_subsampling must be one of {TIME_SUBSAMPLINGS}, got {self.time_subsampling!r}")
        if self.output == "hybrid" and self.time_subsampling != 1:
            raise ValueError(f"output 'hybrid' needs time_subsampling 1, got {self.time_subsampling}")
        if self.block not in BLOCK_KINDS:
            raise ValueError(f"block must be one of {BLOCK_KINDS}, got {self.block!r}")
        for name in ("big_little", "plain_last_stage", "recurrent"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def _check_numbers(self) -> None:
        minimums = {"num_outputs": 1, "in_channels": 1, "num_mel_bins": 1, "stem_channels": 0,
                    "alpha": 1, "beta": 1, "branches": 2, "head_hidden": 1}
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")

    def _check_stages(self) -> None:
        if not self.stages:
            raise ValueError("a model needs at least one stage, got stages=[]")
        time_product = math.prod(stage.stride[1] for stage in self.stages)
        if time_product != self.time_subsampling:
            raise ValueError(
                f"the stages' time strides multiply to {time_product}, but time_subsampling is "
                f"{self.time_subsampling}; strides: {[list(s.stride) for s in self.stages]}")
        for index, stage in enumerate(self.stages):
            if not self.is_big_little_stage(index):
                continue
            if stage.depth < 2:
                raise ValueError(f"stage {index} is a bL-module and needs depth >= 2 "
                                 f"(Big-Branch = depth - 1 blocks), got depth {stage.depth}")

    def is_big_little_stage(self, index: int) -> bool:
        """Whether stage ``index`` is a bL-module rather than a plain stack of blocks."""
        is_last = index == len(self.stages) - 1
        return self.big_little and not (is_last and self.plain_last_stage)

    @property
    def output_frequency_bins(self) -> int:
        """F' after all stages: each stride s maps a size n to ceil(n / s), for any n >= 1."""
        bins = self.num_mel_bins
        for stage in self.stages:
            bins = -(-bins // stage.stride[0])
        return bins

    def to_dict(self) -> dict[str, Any]:
        """Plain values only; ``build_model(**spec.to_dict())`` rebuilds this model."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["stages"] = [stage.to_dict() for stage in self.stages]
        return values

    @classmethod
    def setting_names(cls) -> list[str]:
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ModelSpec:
        """Build from keyword settings; an unknown key is a ValueError that lists the valid ones."""
        valid = cls.setting_names()
        unknown = sorted(set(settings) - set(valid))
        if unknown:
            raise ValueError(f"unknown model setting(s) {unknown}; valid settings: {valid}")
        return cls(**settings)
