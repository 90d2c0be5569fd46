"""Print what a model costs: ``python -m blspeech.models.summary NAME [--set key=value ...]``.

Parameters, FLOPs per second of audio (FlopCounterMode: 2 x multiply-adds), receptive
field and output frame rate; for a bL model also the FLOP ratio to its baseline twin.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import yaml

from blspeech.models.acoustic import AcousticModel
from blspeech.models.flops import count_parameters, flops_per_second, receptive_field_frames
from blspeech.models.registry import baseline_twin_config, build_model, list_models

FRAME_RATE = 100  # input frames per second (10 ms shift)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    parameters: int
    flops_per_second: float
    receptive_field_frames: int
    output_frame_rate: float
    baseline: str | None = None
    baseline_flops_per_second: float | None = None

    @property
    def flop_ratio(self) -> float | None:
        """FLOPs relative to the baseline twin (None for a baseline)."""
        if self.baseline_flops_per_second is None:
            return None
        return self.flops_per_second / self.baseline_flops_per_second

    def format(self) -> str:
        lines = [
            f"model               {self.name}",
            f"parameters          {self.parameters:,}",
            f"GFLOPs per second   {self.flops_per_second / 1e9:.4f}",
            f"receptive field     {self.receptive_field_frames} frames "
            f"({self.receptive_field_frames * 1000 // FRAME_RATE} ms)",
            f"output frame rate   {self.output_frame_rate:g} Hz",
        ]
        if self.flop_ratio is not None:
            lines.append(f"FLOPs / baseline    {self.flop_ratio:.3f} (baseline {self.baseline}: "
                         f"{self.baseline_flops_per_second / 1e9:.4f} GFLOPs per second)")
        return "\n".join(lines)


def summarize(model: AcousticModel) -> ModelSummary:
    """Cost figures of ``model``; a bL model is compared with its twin without bL-modules."""
    config = model.config
    costs = {"in_channels": model.in_channels, "num_mel_bins": model.num_mel_bins, "frame_rate": FRAME_RATE}
    baseline, baseline_flops = None, None
    if config["big_little"]:
        twin = baseline_twin_config(config)
        baseline, baseline_flops = twin["name"], flops_per_second(build_model(**twin), **costs)
    return ModelSummary(
        name=config["name"], parameters=count_parameters(model), flops_per_second=flops_per_second(model, **costs),
        receptive_field_frames=receptive_field_frames(model),
        output_frame_rate=FRAME_RATE / model.time_subsampling,
        baseline=baseline, baseline_flops_per_second=baseline_flops)


def parse_setting(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML value: ``alpha=4``, ``recurrent=true``, ``stages=[...]``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blspeech.models.summary", description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"registered model: {', '.join(list_models())}")
    parser.add_argument("--num-outputs", type=int, default=32, help="output units (default 32, characters)")
    parser.add_argument("--in-channels", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--num-mel-bins", type=int, default=40, help="mel bins F (default 40)")
    parser.add_argument("--output", default="ctc", help="ctc or hybrid (default ctc)")
    parser.add_argument("--time-subsampling", type=int, default=4, help="1, 2 or 4 for ctc (default 4)")
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[],
                        metavar="KEY=VALUE", help="override a model setting, e.g. --set alpha=4")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    options = {"name": args.name, "num_outputs": args.num_outputs, "in_channels": args.in_channels,
               "num_mel_bins": args.num_mel_bins, "output": args.output, "time_subsampling": args.time_subsampling}
    own_option = sorted(set(options) & set(dict(args.settings)))
    if own_option:
        parser.error(f"--set {', '.join(own_option)}: give {'these' if len(own_option) > 1 else 'it'} with "
                     f"{', '.join('the name' if key == 'name' else '--' + key.replace('_', '-') for key in own_option)}")
    try:
        model = build_model(**options, **dict(args.settings))
    except ValueError as error:
        parser.error(str(error))
    print(summarize(model).format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
