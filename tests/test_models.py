"""Every registered acoustic model: shapes for odd sizes, padding, config round trip, export."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import onnxruntime
import pytest
import torch

from blspeech.models import (AcousticModel, build_model, count_parameters, list_models,
                             receptive_field_frames)
from blspeech.models.summary import main as summary_main
from blspeech.models.__main__ import main as list_main

MODELS = list_models()
SMALL_MODELS = [name for name in MODELS if name.endswith("-small")]
NUM_OUTPUTS = 7


@pytest.fixture(autouse=True)
def _one_thread_seeded(one_torch_thread):
    torch.manual_seed(0)


def eval_model(name: str, **settings) -> AcousticModel:
    return build_model(name, num_outputs=NUM_OUTPUTS, **settings).eval()


def test_presets_are_registered():
    for family in ("vgg", "resnet"):
        for size in ("", "-small"):
            assert f"{family}{size}" in MODELS and f"bl-{family}{size}" in MODELS


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("mel_bins, frames", [(16, 1), (17, 9), (23, 30)])
def test_output_shapes_for_odd_sizes(name, mel_bins, frames):
    model = eval_model(name, num_mel_bins=mel_bins)
    lengths = torch.tensor([frames, max(1, frames - 6)])
    with torch.no_grad():
        logits, out_lengths = model(torch.randn(2, 3, mel_bins, frames), lengths)
    expected = [-(-int(n) // 4) for n in lengths]
    assert logits.shape == (2, expected[0], NUM_OUTPUTS)
    assert out_lengths.tolist() == expected
    assert model.time_subsampling == 4 and model.output == "ctc" and model.num_outputs == NUM_OUTPUTS


@pytest.mark.parametrize("name", SMALL_MODELS)
@pytest.mark.parametrize("time_subsampling", [1, 2])
def test_time_subsampling(name, time_subsampling):
    model = eval_model(name, time_subsampling=time_subsampling, num_mel_bins=16)
    with torch.no_grad():
        logits, lengths = model(torch.randn(1, 3, 16, 11), torch.tensor([11]))
    assert logits.shape[1] == lengths.item() == -(-11 // time_subsampling)


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_hybrid_output_is_one_frame_per_input_frame(name):
    model = eval_model(name, output="hybrid", num_mel_bins=16)
    with torch.no_grad():
        logits, lengths = model(torch.randn(2, 3, 16, 13), torch.tensor([13, 5]))
    assert model.time_subsampling == 1 and model.output == "hybrid"
    assert logits.shape == (2, 13, NUM_OUTPUTS) and lengths.tolist() == [13, 5]


PADDING_CASES = [(name, {}) for name in MODELS] + [
    ("bl-vgg-small", {"branches": 3}),
    ("bl-resnet-small", {"branches": 3, "block": "bottleneck", "recurrent": True}),
]


@pytest.mark.parametrize("name, overrides", PADDING_CASES)
def test_padding_does_not_reach_real_frames(name, overrides):
    """An utterance alone and padded in a batch (padding full of NaN) give the same outputs
    on every frame whose receptive field ends before the padding, whatever the padding."""
    mel_bins = 16
    model = eval_model(name, num_mel_bins=mel_bins, **overrides)
    field = receptive_field_frames(model)
    length = field + 24
    utterance = torch.randn(1, 3, mel_bins, length)
    with torch.no_grad():
        alone, alone_lengths = model(utterance, torch.tensor([length]))
    step = model.time_subsampling
    safe = [t for t in range(alone.shape[1]) if (t + 1) * step + field <= length]
    assert len(safe) >= 3
    for padding in (1, 6):
        batch = torch.full((2, 3, mel_bins, length + padding), float("nan"))
        batch[0, :, :, :length] = utterance[0]
        batch[1] = torch.randn(3, mel_bins, length + padding)
        with torch.no_grad():
            padded, padded_lengths = model(batch, torch.tensor([length, length + padding]))
        assert padded_lengths[0] == alone_lengths[0] == alone.shape[1]
        assert torch.isfinite(padded[0, :alone.shape[1]]).all()
        torch.testing.assert_close(padded[0, safe], alone[0, safe], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_every_stage_output_is_zero_on_padded_frames(name):
    model = eval_model(name, num_mel_bins=16)
    stage_outputs = []
    for stage in model.stages:
        stage.register_forward_hook(lambda module, inputs, output: stage_outputs.append(output))
    with torch.no_grad():
        model(torch.randn(2, 3, 16, 37), torch.tensor([37, 13]))
    assert len(stage_outputs) == len(model.stages)
    for features, lengths in stage_outputs:
        assert lengths[1] < features.shape[3]
        assert features[1, :, :, lengths[1]:].abs().max() == 0
        assert features[1, :, :, :lengths[1]].abs().max() > 0


@pytest.mark.parametrize("name", MODELS)
def test_config_rebuilds_identical_architecture(name):
    model = build_model(name, num_outputs=NUM_OUTPUTS, num_mel_bins=24, time_subsampling=2)
    config = model.config
    assert json.loads(json.dumps(config)) == config  # plain values: safe in a weights_only checkpoint
    rebuilt = build_model(**config)
    assert rebuilt.config == config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert str(rebuilt) == str(model)
    buffer = io.BytesIO()
    torch.save({"config": config, "state": model.state_dict()}, buffer)
    buffer.seek(0)
    stored = torch.load(buffer, weights_only=True)
    build_model(**stored["config"]).load_state_dict(stored["state"])


@pytest.mark.parametrize("overrides", [
    {"alpha": 4, "beta": 2},
    {"branches": 3},
    {"plain_last_stage": False},
    {"recurrent": True},
    {"block": "bottleneck"},
    {"stages": [{"depth": 3, "channels": 8, "stride": [2, 2]}, {"depth": 2, "channels": 8, "stride": [2, 2]}]},
])
def test_overrides(overrides):
    from blspeech.models.blmodule import BigLittleModule
    from blspeech.models.blocks import BottleneckBlock

    model = eval_model("bl-resnet-small", num_mel_bins=16, **overrides)
    for key, value in overrides.items():
        assert model.config[key] == value
    with torch.no_grad():
        logits, _ = model(torch.randn(2, 3, 16, 21), torch.tensor([21, 10]))
    assert logits.shape == (2, 6, NUM_OUTPUTS)
    # The setting shapes the network, not only its record.
    first = model.stages[0].body
    spec = model.spec.stages[0]
    little = first.branches[0]
    levels = model.spec.branches - 1  # the full-resolution branch is this many steps thinner and shallower
    assert little.widen[0].in_channels == spec.channels // model.spec.alpha ** levels
    assert len(little.blocks) == max(1, spec.depth // model.spec.beta ** levels - 1)
    assert len(first.branches) == model.spec.branches
    assert isinstance(model.stages[-1].body, BigLittleModule) == (not model.spec.plain_last_stage)
    assert isinstance(model.head.recurrent, torch.nn.GRU) == model.spec.recurrent
    assert any(isinstance(m, BottleneckBlock) for m in model.modules()) == (model.spec.block == "bottleneck")
    assert len(model.stages) == len(model.spec.stages) and little.widen[0].out_channels == spec.channels


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "bl-nope"}, "unknown model 'bl-nope'; registered models: ['bl-resnet'"),
    ({"output": "ctcc"}, "output must be one of ('ctc', 'hybrid'), got 'ctcc'"),
    ({"time_subsampling": 3}, "time_subsampling must be one of (1, 2, 4), got 3"),
    ({"alpah": 2}, "unknown model setting(s) ['alpah']; valid settings: ['alpha', 'beta'"),
    ({"block": "dense"}, "block must be one of ('vgg', 'basic', 'bottleneck'), got 'dense'"),
    ({"branches": 1}, "branches must be an int >= 2, got 1"),
    ({"stages": [{"depth": 1, "channels": 8, "stride": [2, 2]}, {"depth": 1, "channels": 8, "stride": [1, 2]}]},
     "stage 0 is a bL-module and needs depth >= 2"),
    ({"stages": [{"depth": 3, "channels": 8, "stride": [2, 2]}]},
     "time strides multiply to 2, but time_subsampling is 4"),
    ({"stages": [{"depth": 3, "width": 8}]}, "unknown stage field(s) ['width']"),
    ({"num_outputs": 0}, "num_outputs must be an int >= 1, got 0"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    arguments = {"name": "bl-vgg-small", "num_outputs": NUM_OUTPUTS, **kwargs}
    with pytest.raises(ValueError) as error:
        build_model(**arguments)
    assert message in str(error.value)


def test_wrong_input_shape_is_named():
    model = eval_model("vgg-small")
    with pytest.raises(ValueError, match=r"expected input \(B, 3, 40, T\), got \[1, 3, 41, 5\]"):
        model(torch.randn(1, 3, 41, 5), torch.tensor([5]))


def _export_inputs(model: AcousticModel, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([frames, max(1, frames - 5)])
    return torch.randn(2, 3, model.num_mel_bins, frames), lengths


@pytest.mark.parametrize("name", MODELS)
def test_torchscript_matches_eager(name):
    model = eval_model(name, num_mel_bins=17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)
        traced = torch.jit.trace(model, _export_inputs(model, 19))
    for frames in (19, 7):  # the traced graph must not bake in the length
        x, lengths = _export_inputs(model, frames)
        with torch.no_grad():
            expected, expected_lengths = model(x, lengths)
            for exported in (scripted, traced):
                logits, out_lengths = exported(x, lengths)
                torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
                assert torch.equal(out_lengths, expected_lengths)


@pytest.mark.parametrize("name", MODELS + ["recurrent"])
def test_onnx_export_matches_eager_with_dynamic_time(name):
    if name == "recurrent":
        model = eval_model("bl-vgg-small", num_mel_bins=17, recurrent=True)
    else:
        model = eval_model(name, num_mel_bins=17)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, _export_inputs(model, 19), buffer, dynamo=False,
                          input_names=["features", "lengths"], output_names=["logits", "out_lengths"],
                          dynamic_axes={"features": {0: "batch", 3: "frames"}, "lengths": {0: "batch"},
                                        "logits": {0: "batch", 1: "out_frames"}, "out_lengths": {0: "batch"}})
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for frames in (19, 8, 1):
        x, lengths = _export_inputs(model, frames)
        logits, out_lengths = session.run(None, {"features": x.numpy(), "lengths": lengths.numpy()})
        with torch.no_grad():
            expected, expected_lengths = model(x, lengths)
        np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_array_equal(out_lengths, expected_lengths.numpy())


def test_small_presets_are_small():
    for name in SMALL_MODELS:
        assert count_parameters(build_model(name, num_outputs=NUM_OUTPUTS)) < 3_000_000, name


def test_cli_list_and_summary(capsys):
    assert list_main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == MODELS
    assert "bl-vgg-small\t(baseline: vgg-small)" in listed
    assert summary_main(["bl-vgg-small", "--num-mel-bins", "16", "--set", "alpha=4"]) == 0
    out = capsys.readouterr().out
    assert "receptive field" in out and "output frame rate   25 Hz" in out
    assert "FLOPs / baseline" in out and "baseline vgg-small" in out
    with pytest.raises(SystemExit):  # a setting with an option of its own: said, not a TypeError
        summary_main(["bl-resnet-small", "--set", "time_subsampling=2"])
    assert "--set time_subsampling: give it with --time-subsampling" in capsys.readouterr().err


def test_speed_cli_names_the_bl_models_and_refuses_counts_below_one(capsys):
    from blspeech.models.speed import main as speed_main

    with pytest.raises(SystemExit):
        speed_main(["--help"])
    listed = capsys.readouterr().out.split("beside it):")[1]
    assert "bl-vgg-small" in listed and "vgg-small," not in listed.replace("bl-vgg-small", "")
    for arguments in (["--threads", "0"], ["--repeats", "0"], ["--utterance-seconds", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            speed_main(["bl-vgg-small", *arguments])
        assert exit_info.value.code == 2 and "must be >= 1 and --utterance-seconds > 0" in capsys.readouterr().err
