"""The benchmark: runs end to end (--quick), computes ratios right, plots with and without WERs."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest
import torch

from blspeech.bench.__main__ import build_parser, main, plan_from_args
from blspeech.bench.breakdown import TimeBreakdown, categorize, count_convolution_layers, profile_interleaved
from blspeech.bench.datapath import peaky_emissions
from blspeech.bench.machine import (MachineLimits, arithmetic_mode, check_device, convolution_call_seconds, cpu_model,
                                   measure_limits, model_arithmetic)
from blspeech.bench.memory import MemoryJob, measure_memory
from blspeech.bench.pairs import ModelCase, ModelFigures, PairGroup, TimingSettings, grid_cases, pair_ratios
from blspeech.bench.plot import FlopsPoint, choose_wer_key, plot_flops_vs_wer, wer_points
from blspeech.bench.report import (claim_failures, explain_step, format_efficiency, format_summary, twin_spreads,
                                  variants_below_target)
from blspeech.bench.run import BenchPlan, group_specs, machine_limits, plot_note, profiled_pairs
from blspeech.bench.trained import DecodeTiming, format_decode_timings, time_trained_models
from blspeech.models import build_model
from blspeech.results import read_results_file
from blspeech.models.speed import SpeedOptions

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def figures(label: str, *, flops: float, params: int, infer: dict[int, float], train_step: float,
            memory: dict[str, int], best: float = 1.0, big_little: bool = True, preset: bool = True) -> ModelFigures:
    """Known figures; the fastest repeat is ``best`` times faster than the median everywhere."""
    name = "bl-vgg-small" if big_little else "vgg-small"
    return ModelFigures(label=label, config={"name": name, "big_little": big_little, "alpha": 2, "beta": 4},
                        parameters=params, flops_per_second=flops, inference_audio_per_second=infer,
                        train_step_seconds=train_step, train_audio_per_second=64.0 / train_step,
                        best_inference_audio_per_second={b: v * best for b, v in infer.items()},
                        best_train_step_seconds=train_step / best, preset=preset, memory_bytes=memory)


def known_group() -> PairGroup:
    baseline = figures("vgg-small", flops=1e9, params=1000, infer={1: 100.0, 16: 200.0}, train_step=2.0,
                       memory={"inference": 400, "train": 1000}, big_little=False)
    fast = figures("bl-vgg-small a=2 b=4", flops=0.6e9, params=1100, infer={1: 110.0, 16: 300.0}, train_step=1.0,
                   memory={"inference": 300, "train": 800}, best=1.25)
    costly = figures("bl-vgg-small a=1 b=1", flops=1.2e9, params=1500, infer={1: 50.0, 16: 100.0}, train_step=4.0,
                     memory={"inference": 500, "train": 1500}, preset=False)
    return PairGroup("vgg-small", TimingSettings(4.0, (1, 16), 16, 5), SpeedOptions(), [baseline, fast, costly])


def test_ratios_from_known_inputs():
    group = known_group()
    ratios = pair_ratios(group.figures[1], group.baseline)
    assert ratios.flops == pytest.approx(0.6)
    assert ratios.parameters == pytest.approx(1.1)
    assert ratios.inference_speedup == pytest.approx({1: 1.1, 16: 1.5})  # bL throughput / baseline throughput
    assert ratios.train_speedup == pytest.approx(2.0)  # baseline step time / bL step time
    assert ratios.best_inference_speedup == pytest.approx({1: 1.375, 16: 1.875})
    assert ratios.best_train_speedup == pytest.approx(2.5)
    assert ratios.memory == pytest.approx({"inference": 0.75, "train": 0.8})
    # Only the model at <= 0.7 of the FLOPs is held to the 1.3x target, and only its short measurement fails.
    assert claim_failures([group]) == ["vgg-small: bl-vgg-small a=2 b=4 (FLOPs 0.600): inference b=1 1.100x / 1.375x"]
    summary = format_summary([group]).splitlines()
    assert summary[2].split(" | ")[1:6] == ["0.600", "1.100", "1.10x / 1.38x", "1.50x / 1.88x", "2.00x / 2.50x"]
    assert summary[3] == ""  # the preset only, then the legend


def test_identical_networks_measure_the_noise():
    group = known_group()
    twin = figures("bl-vgg-small a=2 b=2", flops=0.6e9, params=1100, infer={1: 121.0, 16: 300.0}, train_step=1.0,
                   memory={})
    twin = replace(twin, config={**twin.config, "beta": 2})
    lines = twin_spreads(replace(group, figures=group.figures + [twin]))
    assert lines == ["bl-vgg-small a=2 b=4 and bl-vgg-small a=2 b=2 are the same network (equal parameters and "
                     "FLOPs); their medians differ by up to 10%: the measurement noise of this run."]
    assert twin_spreads(group) == []  # a=1 b=1 differs in alpha too


def test_grid_pairs_each_baseline_with_its_bl_preset():
    cases = grid_cases("resnet-small", (1, 2), (4,))
    assert [(c.name, c.alpha, c.beta) for c in cases] == [
        ("resnet-small", None, None), ("bl-resnet-small", 1, 4), ("bl-resnet-small", 2, 4)]
    assert [c.is_preset() for c in cases] == [True, False, True]
    with pytest.raises(ValueError, match="bl-vgg-small"):
        grid_cases("bl-vgg-small", (2,), (4,))  # a bL model is no baseline


def test_operator_categories_and_explanation():
    assert categorize("aten::mkldnn_convolution") == "convolution"
    assert categorize("aten::convolution_backward") == "convolution"
    assert categorize("aten::max_pool2d_with_indices") == "pooling"
    assert categorize("aten::upsample_nearest2d_backward") == "upsampling"
    assert categorize("aten::native_batch_norm") == "batch norm"
    assert categorize("aten::addmm") == "matmul (head)"
    assert categorize("aten::clamp_min_") == "element-wise"
    assert categorize("aten::empty") == "other"
    baseline = TimeBreakdown({"convolution": 10.0, "batch norm": 2.0}, convolution_flops=1e9)
    big_little = TimeBreakdown({"convolution": 6.0, "batch norm": 2.0, "pooling": 3.0}, convolution_flops=0.5e9)
    line = explain_step("infer16", baseline, big_little)
    assert line.startswith("inference b=16: bL takes 0.92x the baseline's profiled time (its convolution FLOPs: 0.50x)")
    assert "Convolutions: 10.0 -> 6.0 ms, running at 100 -> 83 GFLOP/s" in line
    assert "all other operators: 2.0 -> 5.0 ms (grew most: pooling +3.0 ms)" in line


def test_explanation_counts_the_extra_convolution_calls_at_inference():
    baseline = TimeBreakdown({"convolution": 5.0}, convolution_flops=1e9, convolution_layers=12)
    big_little = TimeBreakdown({"convolution": 4.0}, convolution_flops=0.6e9, convolution_layers=18)
    line = explain_step("infer1", baseline, big_little, call_seconds=25e-6)
    assert ("Convolutions: 5.0 -> 4.0 ms in 12 -> 18 layers (the 6 extra calls cost at least 0.15 ms of fixed "
            "cost, 25 us each), running at") in line
    # A training step calls each layer forward and backward: the layers are named, no fixed cost is claimed.
    line = explain_step("train", baseline, big_little, call_seconds=25e-6)
    assert "5.0 -> 4.0 ms in 12 -> 18 layers, running at" in line


def test_convolution_layers_and_the_fixed_cost_of_a_call():
    assert count_convolution_layers(build_model("vgg-small", num_outputs=10)) == 12  # 3 + 3 + 4 + 2
    # Per bL stage of depth d (alpha 2, beta 4): Little 1 conv + its widening 1x1, Big d - 1, fusion 1.
    assert count_convolution_layers(build_model("bl-vgg-small", num_outputs=10)) == 5 + 5 + 6 + 2
    seconds = convolution_call_seconds(torch.device("cpu"), calls=20, repeats=2)
    assert 0 < seconds < 0.01
    with pytest.raises(ValueError, match="calls >= 1"):
        convolution_call_seconds(torch.device("cpu"), calls=0)


def test_the_yardsticks_use_the_arithmetic_each_step_runs_in():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert model_arithmetic(cpu) == "float32"
    assert model_arithmetic(cuda, autocast=True) == "bfloat16"
    saved = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        assert model_arithmetic(cuda) == "tf32"  # cuDNN's default: float32 convolutions on TF32 tensor cores
        torch.backends.cudnn.allow_tf32 = False
        assert model_arithmetic(cuda) == "float32"
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def test_arithmetic_mode_sets_the_dtype_and_restores_the_tf32_flags():
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with arithmetic_mode(torch.device("cpu"), "bfloat16") as dtype:
        assert dtype == torch.bfloat16
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags
    with pytest.raises(ValueError, match="TF32 is a CUDA arithmetic"):
        with arithmetic_mode(torch.device("cpu"), "tf32"):
            pass
    with pytest.raises(ValueError, match="arithmetic must be one of"):
        with arithmetic_mode(torch.device("cpu"), "float16"):
            pass


def test_limits_are_measured_once_per_arithmetic_and_the_best_of_two_runs_counts():
    plan = BenchPlan.quick()
    limits = machine_limits(torch.device("cpu"), plan)
    assert limits["inference"] is limits["training"]  # no autocast on a CPU: one arithmetic, measured once
    assert limits["inference"].arithmetic == "float32"
    assert limits["inference"].matmul_size == plan.matmul_size and limits["inference"].conv_batch == plan.conv_batch
    assert limits["inference"].matmul_flops > 0 and limits["inference"].conv_flops > 0
    bf16 = measure_limits(torch.device("cpu"), "bfloat16", matmul_size=64, conv_batch=1, conv_size=8, conv_channels=16)
    assert bf16.arithmetic == "bfloat16" and bf16.matmul_flops > 0 and bf16.conv_flops > 0
    assert "16 channels in and out, batch 1, 8 x 8 maps" in bf16.describe()
    low, high = replace(bf16, matmul_flops=1.0, conv_flops=9.0), replace(bf16, matmul_flops=5.0, conv_flops=2.0)
    assert (low.best(high).matmul_flops, low.best(high).conv_flops) == (5.0, 9.0)


def test_training_efficiency_is_measured_against_the_training_arithmetic():
    group = known_group()  # the preset bL model: 0.6 GFLOP/s audio, 300 s audio/s at batch 16 (x1.25 best)
    inference = MachineLimits("tf32", matmul_flops=1e12, conv_flops=2e12, matmul_size=8192, conv_batch=64, conv_size=64,
                              conv_channels=128)
    training = replace(inference, arithmetic="bfloat16", matmul_flops=4e12, conv_flops=8e12)
    text = format_efficiency([group], {"inference": inference, "training": training})
    assert "inference (tf32" in text and "training (bfloat16" in text and "8192 x 8192 tf32" in text
    row = next(line for line in text.splitlines() if "| bl-vgg-small a=2 b=4 |" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    inference_flops = 0.6e9 * 300 * 1.25  # FLOPs per second of audio x fastest repeat's throughput
    training_flops = 3 * 0.6e9 * 64 / (1.0 / 1.25)  # ~3 forward passes over 64 s of audio per fastest step
    assert cells[2:] == [f"{inference_flops / 1e9:.1f}", f"{100 * inference_flops / 1e12:.0f}",
                         f"{100 * inference_flops / 2e12:.0f}", f"{training_flops / 1e9:.1f}",
                         f"{100 * training_flops / 4e12:.0f}", f"{100 * training_flops / 8e12:.0f}"]


def test_every_shortfall_but_the_profiled_presets_gets_its_own_profile():
    group = known_group()  # its bL preset misses the target at batch 1
    variant = replace(group.figures[1], label="bl-vgg-small a=4 b=1", preset=False,
                      config={**group.figures[1].config, "alpha": 4, "beta": 1})
    group = replace(group, figures=group.figures + [variant])
    compiled = replace(group, title="vgg-small (torch.compile)", options=SpeedOptions(compile=True))
    assert [(g.title, f.label) for g, f in variants_below_target([group, compiled])] == [
        ("vgg-small", "bl-vgg-small a=2 b=4"), ("vgg-small", "bl-vgg-small a=4 b=1"),
        ("vgg-small (torch.compile)", "bl-vgg-small a=2 b=4"), ("vgg-small (torch.compile)", "bl-vgg-small a=4 b=1")]
    pairs = profiled_pairs(BenchPlan(), [group, compiled])
    assert [(title, cases) for title, _, cases in pairs] == [
        ("vgg-small", [ModelCase("vgg-small"), ModelCase("bl-vgg-small")]),
        ("resnet-small", [ModelCase("resnet-small"), ModelCase("bl-resnet-small")]),
        ("vgg-small: bl-vgg-small a=4 b=1", [ModelCase("vgg-small"), ModelCase("bl-vgg-small", 4, 1)])]
    assert pairs[2][1] == group.timing


def test_profile_counts_convolution_flops_and_times_each_model():
    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 10, 12)
    steps = {"conv": lambda: conv(x), "relu": lambda: torch.relu(x)}
    with torch.no_grad():
        breakdowns = profile_interleaved(steps, torch.device("cpu"), calls=2)
    assert breakdowns["conv"].convolution_flops == 2 * 2 * 8 * 10 * 12 * 4 * 9
    assert breakdowns["conv"].milliseconds["convolution"] > 0
    assert breakdowns["relu"].convolution_flops == 0 and "convolution" not in breakdowns["relu"].milliseconds
    with pytest.raises(ValueError, match="calls must be >= 1"):
        profile_interleaved(steps, torch.device("cpu"), calls=0)


def write_results_json(path, entries):
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries))
    return path


SCORED = [
    {"name": "bl-vgg-small", "params": 876000, "gflops": 0.20,
     "wer": {"dev/greedy": {"Overall": 40.0}, "eval2000/greedy": {"Overall": 50.0, "SWB": 45.0, "CallHome": 55.0},
             "eval2000/lm": {"Overall": 35.0, "SWB": 30.0, "CallHome": 40.0}}},
    {"name": "vgg-small", "params": 843000, "gflops": 0.33,
     "wer": {"dev/greedy": {"Overall": 41.0}, "eval2000/greedy": {"Overall": 51.0, "SWB": 46.0, "CallHome": 56.0},
             "eval2000/lm": {"Overall": 36.0, "SWB": 31.0, "CallHome": 41.0}}},
]


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(path).shape[0] > 100


def test_plot_with_wer_results(tmp_path):
    source = write_results_json(tmp_path / "exp" / "swbd_mini" / "results.json", SCORED)
    assert choose_wer_key(read_results_file(source)) == "eval2000/lm"  # a test set, LM decoding
    points, key = wer_points([source])
    assert key == "eval2000/lm"
    assert {(p.recipe, p.name, p.gflops, p.wer) for p in points} == {
        ("swbd_mini", "bl-vgg-small", 0.20, 35.0), ("swbd_mini", "vgg-small", 0.33, 36.0)}
    assert wer_points([source], "dev/greedy")[0][0].wer == 40.0
    plot_flops_vs_wer(tmp_path / "plot.png", points, key, [])
    assert_png(tmp_path / "plot.png")
    assert "eval2000/lm" in plot_note(True, key, [source])


def test_plot_prefers_the_test_set_when_dev_speakers_are_labelled_swb(tmp_path):
    """A dev stm written from the data dir labels its speakers SWB; only a set with both subsets is a test set."""
    ctc = [{**entry, "wer": {**entry["wer"], "dev/lm": {"Overall": 30.0, "SWB": 30.0}}} for entry in SCORED]
    hybrid = [{"name": "bl-vgg-small", "params": 900000, "gflops": 0.7,
               "wer": {"dev/graph": {"Overall": 7.5, "SWB": 7.5},
                       "eval2000/graph": {"Overall": 3.7, "SWB": 3.2, "CallHome": 4.1}}}]
    sources = [write_results_json(tmp_path / "exp" / "ctc" / "results.json", ctc),
               write_results_json(tmp_path / "exp" / "hybrid" / "results.json", hybrid)]
    points, key = wer_points(sources)
    assert key == "eval2000/graph, eval2000/lm"
    assert {(p.recipe, p.name, p.wer) for p in points} == {
        ("ctc", "bl-vgg-small", 35.0), ("ctc", "vgg-small", 36.0), ("hybrid", "bl-vgg-small", 3.7)}


def test_plot_without_wer_results(tmp_path):
    points, key = wer_points([])
    assert points == [] and key is None
    flops = [FlopsPoint("vgg-small", "vgg-small", 0.33), FlopsPoint("bl-vgg-small", "a=2 b=4", 0.20),
             FlopsPoint("resnet-small", "resnet-small", 0.37), FlopsPoint("bl-resnet-small", "a=2 b=4", 0.23)]
    plot_flops_vs_wer(tmp_path / "plot.png", points, key, flops)
    assert_png(tmp_path / "plot.png")
    assert "FLOPs only" in plot_note(False, None, [])


def test_malformed_results_name_the_file(tmp_path):
    path = write_results_json(tmp_path / "exp" / "x" / "results.json", {"name": "vgg"})
    with pytest.raises(ValueError, match=str(path)):
        read_results_file(path)


def test_cuda_is_refused_clearly_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_device("cuda")
    with pytest.raises(SystemExit):
        main(["--quick", "--device", "cuda"])
    assert "CUDA is not available" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cpu or cuda"):
        check_device("meta")
    assert cpu_model()


def test_no_data_path_leaves_only_the_data_path_out():
    default = plan_from_args(build_parser().parse_args([]))
    without = plan_from_args(build_parser().parse_args(["--no-data-path"]))
    assert default.data_path is not None and without.data_path is None
    assert replace(without, data_path=default.data_path) == default


def test_batch_options_apply_to_every_group():
    plan = plan_from_args(build_parser().parse_args(["--batch-sizes", "1,64", "--train-batch-size", "32",
                                                     "--repeats", "3"]))
    for timing in (plan.small, plan.paper):
        assert timing.batch_sizes == (1, 64) and timing.train_batch_size == 32
    assert plan.small.repeats == 3 and plan.paper.repeats == BenchPlan().paper.repeats
    with pytest.raises(ValueError, match="--train-batch-size must be >= 1"):
        plan_from_args(build_parser().parse_args(["--train-batch-size", "0"]))


def test_compile_mode_and_amp_reach_the_groups():
    plan = plan_from_args(build_parser().parse_args(["--device", "cuda", "--compile", "--compile-mode",
                                                     "reduce-overhead", "--amp", "--no-data-path"]))
    specs = group_specs(plan)
    compiled = [spec for spec in specs if spec.options.compile]
    assert compiled and all(spec.options.compile_mode == "reduce-overhead" for spec in compiled)
    assert all("(torch.compile reduce-overhead)" in spec.title for spec in compiled)
    assert all(spec.options.amp and spec.options.device == "cuda" for spec in specs)
    default = group_specs(plan_from_args(build_parser().parse_args(["--compile"])))
    assert [spec.title for spec in default if spec.options.compile] == ["vgg-small (torch.compile)",
                                                                        "resnet-small (torch.compile)"]
    assert not any(spec.options.amp for spec in default)


@pytest.mark.parametrize("arguments, message", [
    (["--compile-mode", "reduce-overhead"], "--compile-mode needs --compile"),
    (["--amp"], "--amp is for CUDA devices"),
])
def test_compile_mode_and_amp_are_refused_where_they_mean_nothing(arguments, message):
    with pytest.raises(ValueError, match=message):
        plan_from_args(build_parser().parse_args(arguments))


def test_decode_timing_rows_give_speed_up_and_real_time_factor():
    timing = DecodeTiming("exp/swbd_mini", "eval2000", 950.0, "bl-vgg-small",
                          {"bl-vgg-small": 1.9, "vgg-small": 2.85, "vgg-small-b": 1.9})
    assert timing.speed_up("vgg-small") == pytest.approx(1.5)
    assert timing.real_time_factor("bl-vgg-small") == pytest.approx(0.002)
    rows = format_decode_timings([timing]).splitlines()[2:]
    assert rows == ["| exp/swbd_mini | eval2000 | 950 | bl-vgg-small | vgg-small | 1.90 | 2.85 | 1.50x | 0.0020 |",
                    "| exp/swbd_mini | eval2000 | 950 | bl-vgg-small | vgg-small-b | 1.90 | 1.90 | 1.00x | 0.0020 |"]


def test_an_experiment_without_its_runs_is_left_out_of_the_decode_timing(tmp_path, caplog):
    results = tmp_path / "exp" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps([{"name": "bl-vgg-small", "params": 1, "gflops": 0.2, "wer": {}}]))
    assert time_trained_models([results], torch.device("cpu"), rounds=1) == []
    assert "final.pt not found" in caplog.text and str(results) in caplog.text
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        time_trained_models([results], torch.device("cpu"), rounds=0)


def test_peaky_emissions_decode_greedily_to_their_units():
    units = [[5, 5, 9], [3]]
    log_probs, lengths = peaky_emissions(units, vocab_size=12, seed=3)
    assert log_probs.shape == (2, int(lengths.max()), 12)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, int(lengths.max())))
    for row, expected in enumerate(units):
        best = log_probs[row, : lengths[row]].argmax(-1).tolist()
        collapsed = [u for i, u in enumerate(best) if u != 0 and (i == 0 or best[i - 1] != u)]
        assert collapsed == expected


def test_memory_is_measured_per_step_in_fresh_processes():
    config = build_model("vgg-small", num_outputs=8, num_mel_bins=16,
                         stages=[{"depth": 2, "channels": 8, "stride": [2, 2]},
                                 {"depth": 2, "channels": 8, "stride": [2, 2]}]).config
    jobs = [MemoryJob(config, step, 2, 1.0, SpeedOptions(channels_last=True)) for step in ("inference", "train")]
    inference, train = measure_memory(jobs)
    assert 0 < inference < train  # training keeps activations for backward and creates AdamW state
    with pytest.raises(ValueError, match="step must be one of"):
        MemoryJob(config, "backward", 2, 1.0, SpeedOptions())


def test_inference_memory_leaves_out_the_once_reordered_weights():
    """Wide convolutions on a short input: ~9 MB of weights, well under 1 MB of activations. The
    inference-ready model reorders its weights for oneDNN on its first pass; a decoding loop pays
    that once, so the measured pass (the second) must not count it."""
    config = build_model("vgg-small", num_outputs=8, num_mel_bins=16,
                         stages=[{"depth": 2, "channels": 256, "stride": [2, 2]},
                                 {"depth": 2, "channels": 256, "stride": [2, 2]}]).config
    weight_bytes = 4 * sum(p.numel() for p in build_model(**config).parameters())
    (inference,) = measure_memory([MemoryJob(config, "inference", 1, 0.1, SpeedOptions(channels_last=True))])
    assert inference < weight_bytes / 4


def test_quick_run_writes_its_files_to_a_temporary_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no exp/*/results.json here: the plot shows FLOPs only
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # let tempfile read TMPDIR again
    try:
        assert main(["--quick"]) == 0
    finally:
        tempfile.tempdir = None
    written = [Path(line) for line in capsys.readouterr().out.split()]
    assert sorted(p.name for p in written) == ["flops_vs_wer.png", "results.json", "results.md"]
    out = written[0].parent
    assert out.parent == tmp_path / "tmp" and not (tmp_path / "benchmarks").exists()
    assert_png(out / "flops_vs_wer.png")
    report = (out / "results.md").read_text()
    for heading in ("## Machine", "## bL / baseline at the registered presets", "## Models",
                    "## Efficiency against the machine's limit", "## Where the time goes", "## Data path",
                    "## FLOPs vs WER"):
        assert heading in report
    assert "No WER results yet" in report
    document = json.loads((out / "results.json").read_text())
    assert [group["title"] for group in document["groups"]] == ["vgg-small", "resnet-small"]
    for group in document["groups"]:
        baseline, big_little = group["models"]
        assert big_little["ratios"]["flops"] == pytest.approx(
            big_little["flops_per_second"] / baseline["flops_per_second"])
        assert set(big_little["memory_bytes"]) == {"inference", "train"}
    assert document["data_path"]["beam_rtf"] > 0
    assert document["convolution_call_seconds"] > 0
    limits = document["machine_limits"]
    assert set(limits) == {"inference", "training"} and limits["training"]["arithmetic"] == "float32"
    assert limits["inference"]["matmul_flops"] > 0 and limits["inference"]["conv_flops"] > 0
    assert document["convolution_layers"]["vgg-small"] == {"vgg-small": 12, "bl-vgg-small a=2 b=4": 18}
    assert "One convolution call costs" in report


def test_results_files_and_wer_key_are_checked_before_the_benchmark_runs(tmp_path, capsys, monkeypatch):
    import blspeech.bench.__main__ as bench_main

    monkeypatch.setattr(bench_main, "run_benchmark", lambda *args, **kwargs: pytest.fail("the benchmark ran"))
    (tmp_path / "broken.json").write_text("{not json")
    scored = tmp_path / "scored"
    scored.mkdir()
    (scored / "results.json").write_text(json.dumps([{"name": "bl-vgg-small", "params": 1, "gflops": 0.2,
                                                      "wer": {"eval2000/lm": {"Overall": 50.0}}}]))
    refused = [(["--results", str(tmp_path / "missing.json")], "missing.json: no results"),
               (["--results", str(tmp_path / "broken.json")], "broken.json: not JSON"),
               (["--results", str(scored / "results.json"), "--wer-key", "eval/lm"],
                "--wer-key 'eval/lm' is in none of the results files; they have eval2000/lm")]
    for arguments, message in refused:
        with pytest.raises(SystemExit) as exit_info:
            main(["--quick", "--out", str(tmp_path / "out"), *arguments])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
