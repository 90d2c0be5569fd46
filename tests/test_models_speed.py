"""The speed harness runs every measurement for every model and reports in the right units."""

from __future__ import annotations

import functools

import pytest
import torch
import torch._dynamo

from blspeech.models import build_model
from blspeech.models.speed import ModelRunner, SpeedOptions, format_reports, measure_speed

TINY_STAGES = [{"depth": 3, "channels": 8, "stride": [2, 2]}, {"depth": 2, "channels": 8, "stride": [2, 2]}]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("output", ["ctc", "hybrid"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_measure_speed_reports_every_model(output, channels_last):
    stages = TINY_STAGES if output == "ctc" else [{**s, "stride": [2, 1]} for s in TINY_STAGES]
    models = {name: build_model(name, num_outputs=5, num_mel_bins=16, output=output, stages=stages)
              for name in ("vgg-small", "bl-vgg-small")}
    before = {name: {k: v.clone() for k, v in m.state_dict().items()} for name, m in models.items()}
    reports = measure_speed(models, utterance_seconds=0.3, batch_sizes=(1, 2), train_batch_size=2, repeats=1,
                            options=SpeedOptions(channels_last=channels_last))
    assert list(reports) == ["vgg-small", "bl-vgg-small"]
    for name, report in reports.items():
        assert set(report.inference_audio_per_second) == {1, 2}
        assert all(value > 0 for value in report.inference_audio_per_second.values())
        assert report.train_audio_per_second == pytest.approx(2 * 0.3 / report.train_step_seconds)
        for key, value in models[name].state_dict().items():  # the caller's model is not trained
            assert torch.equal(value, before[name][key]), key
    table = format_reports(reports, baseline="vgg-small").splitlines()
    assert table[0].split()[:3] == ["model", "infer", "b=1"]
    assert table[1].startswith("vgg-small") and table[1].endswith("1.00 / 1.00 / 1.00")
    assert table[2].startswith("bl-vgg-small")


def test_measure_speed_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats=0"):
        measure_speed({}, repeats=0)


def test_every_model_of_a_compiled_group_is_compiled(monkeypatch):
    """Five models x (two batch sizes + training) are 15 graphs of one ``forward``, past dynamo's
    default limit of 8: none may quietly fall back to running uncompiled."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))  # no C++ compiler
    def tiny(width: int) -> list[dict]:  # models of different widths: graphs of their own
        return [{"depth": 2, "channels": width, "stride": [2, 2]}, {"depth": 2, "channels": 8, "stride": [2, 2]}]

    models = {f"width{w}": build_model("vgg-small", num_outputs=8, num_mel_bins=16, stages=tiny(w))
              for w in (4, 6, 8, 10, 12)}
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        reports = measure_speed(models, utterance_seconds=0.3, batch_sizes=(1, 2), train_batch_size=2, repeats=1,
                                options=SpeedOptions(compile=True))
    assert set(reports) == set(models)


@pytest.mark.parametrize("mode, passed", [("default", None), ("reduce-overhead", "reduce-overhead")])
def test_compile_mode_reaches_torch_compile(monkeypatch, mode, passed):
    modes = []
    monkeypatch.setattr(torch, "compile", lambda module, **settings: modes.append(settings["mode"]) or module)
    ModelRunner(build_model("vgg-small", num_outputs=8), 20, (1,), 2, SpeedOptions(compile=True, compile_mode=mode))
    assert modes == [passed, passed]  # the training and the inference model


@pytest.mark.parametrize("settings, message", [
    ({"amp": True}, "amp .* is for CUDA devices"),
    ({"compile_mode": "reduce-overhead"}, "without compile"),
    ({"compile": True, "compile_mode": "fastest"}, "unknown compile_mode"),
])
def test_speed_options_refuse_what_they_cannot_do(settings, message):
    with pytest.raises(ValueError, match=message):
        SpeedOptions(**settings)
