"""Model registry (timm style): ``@register_model(name)`` presets, ``build_model``, ``list_models``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from blspeech.models.acoustic import AcousticModel
from blspeech.models.spec import OUTPUT_KINDS, ModelSpec, distribute_time_strides

Builder = Callable[..., AcousticModel]

_BUILDERS: dict[str, Builder] = {}
_BASELINES: dict[str, str] = {}


def register_model(name: str, *, baseline: str | None = None) -> Callable[[Builder], Builder]:
    """Register a preset under ``name``; a bL preset names the ``baseline`` it is compared with."""

    def register(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        if baseline is not None:
            _BASELINES[name] = baseline
        return builder

    return register


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def build_model(name: str, *, num_outputs: int, in_channels: int = 3, num_mel_bins: int = 40,
                output: str = "ctc", time_subsampling: int = 4, **overrides: Any) -> AcousticModel:
    """Build a registered model.

    ``output="ctc"``: T' = ceil(T / time_subsampling) (1, 2 or 4). ``output="hybrid"``:
    one output per input frame (time subsampling forced to 1). ``overrides`` replace any
    preset setting (see ``ModelSpec``: alpha, beta, branches, plain_last_stage, recurrent,
    stages, ...). Unknown names or values raise ValueError listing the valid ones.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; registered models: {list_models()}")
    if output not in OUTPUT_KINDS:
        raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {output!r}")
    if output == "hybrid":
        time_subsampling = 1
    return _BUILDERS[name](name=name, num_outputs=num_outputs, in_channels=in_channels,
                           num_mel_bins=num_mel_bins, output=output, time_subsampling=time_subsampling,
                           **overrides)


def build_preset(defaults: Mapping[str, Any], settings: Mapping[str, Any]) -> AcousticModel:
    """A preset's ``defaults`` overridden by the caller's ``settings``.

    The preset's stages are written for time subsampling 4; unless the caller gives its own
    stages, their time strides are redistributed for the requested time subsampling.
    """
    merged = {**defaults, **settings}
    if "stages" not in settings:
        merged["stages"] = distribute_time_strides(defaults["stages"], merged.get("time_subsampling", 4))
    return AcousticModel(ModelSpec.from_settings(merged))


def baseline_name(name: str) -> str | None:
    """The baseline preset a bL preset is compared with, or None for a baseline."""
    return _BASELINES.get(name)


def baseline_twin_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings of the same model without bL-modules: the Big-Branch equals the baseline
    stage, so any difference between the two is due to bL alone."""
    return {**config, "name": _BASELINES.get(config["name"], config["name"]), "big_little": False}
