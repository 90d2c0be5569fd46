"""Acoustic models: VGG / ResNet baselines and their Big-Little twins, built by name.

``build_model(name, num_outputs=...)`` builds a registered preset; ``list_models()``
lists them. Importing the family modules registers their presets.
"""

from blspeech.models import resnet, vgg  # noqa: F401  (registers the presets)
from blspeech.models.acoustic import AcousticModel
from blspeech.models.blmodule import BigLittleModule
from blspeech.models.flops import count_parameters, flops_per_second, receptive_field_frames
from blspeech.models.registry import (baseline_name, baseline_twin_config, build_model, list_models,
                                      register_model)
from blspeech.models.spec import ModelSpec, StageSpec

__all__ = ["AcousticModel", "BigLittleModule", "ModelSpec", "StageSpec", "baseline_name", "baseline_twin_config",
           "build_model", "count_parameters", "flops_per_second", "list_models", "receptive_field_frames",
           "register_model"]
