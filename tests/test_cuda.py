"""The GPU paths: models, inference-ready copies, decoding's log-probabilities, training with
bf16 autocast and resumable checkpoints, and the benchmark on ``cuda``.

They run wherever PyTorch sees a CUDA device and are skipped elsewhere (CI has no GPU); the
GPU check script ``benchmarks/gpu_check.sh`` runs them on a lent GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from blspeech.bench.__main__ import main as bench_main
from blspeech.decode.recognize import compute_log_probs
from blspeech.device import pick_device
from blspeech.loader import FeatureDataset
from blspeech.models import build_model
from blspeech.models.inference import prepare_for_inference
from blspeech.training.checkpoint import latest_checkpoint, load_checkpoint
from test_inference_ready import trained_statistics
from test_training_loop import make_data_dir, make_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

PRESETS = ["vgg-small", "bl-vgg-small", "resnet-small", "bl-resnet-small"]


@pytest.fixture
def exact_float32():
    """TF32 convolutions and matmuls (cuDNN's default) round to 10 mantissa bits: compare in float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def outputs_and_gradients(model: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor, device: str,
                          dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(logits, output lengths, parameter gradients of a squared-logit loss), all back on the CPU."""
    model = model.to(device, dtype)
    logits, out_lengths = model(x.to(device, dtype), lengths.to(device))
    logits.square().mean().backward()
    return (logits.detach().cpu(), out_lengths.cpu(),
            {key: parameter.grad.cpu() for key, parameter in model.named_parameters()})


@pytest.mark.parametrize("name", PRESETS)
def test_gpu_outputs_and_gradients_match_the_cpu(name, exact_float32):
    """Training mode (batch statistics), without dropout, whose masks the devices draw differently.

    Gradients are compared in float64: in float32, the gradients of convolutions that feed a
    training-mode batch norm are ill-conditioned (most of each sum cancels): float32 against float64
    on one CPU differed by up to 3% there (worst tensor); in float64 the devices agree to ~1e-12.
    """
    torch.manual_seed(0)
    reference = build_model(name, num_outputs=30, dropout=0.0).train()
    x, lengths = torch.randn(3, 3, 40, 61), torch.tensor([61, 47, 20])

    def run(device: str, dtype: torch.dtype):
        model = build_model(name, num_outputs=30, dropout=0.0).train()
        model.load_state_dict(reference.state_dict())
        return outputs_and_gradients(model, x, lengths, device, dtype)

    cpu_logits, cpu_lengths, _ = run("cpu", torch.float32)
    gpu_logits, gpu_lengths, _ = run("cuda", torch.float32)
    torch.testing.assert_close(gpu_logits, cpu_logits, rtol=1e-4, atol=1e-4)
    assert torch.equal(gpu_lengths, cpu_lengths)
    cpu_logits, _, cpu_grads = run("cpu", torch.float64)
    gpu_logits, _, gpu_grads = run("cuda", torch.float64)
    torch.testing.assert_close(gpu_logits, cpu_logits, rtol=1e-9, atol=1e-9)
    for key, grad in cpu_grads.items():
        error = float((gpu_grads[key] - grad).norm() / grad.norm())
        assert error < 1e-9, f"{key}: relative gradient difference {error:.2e}"


@pytest.mark.parametrize("name", PRESETS)
def test_inference_ready_copy_on_the_gpu_computes_what_the_model_computes(name, exact_float32):
    torch.manual_seed(0)
    model = trained_statistics(build_model(name, num_outputs=20)).eval().cuda()
    ready = prepare_for_inference(model)
    assert next(ready.parameters()).is_cuda
    x = torch.randn(2, 3, 40, 57, device="cuda")
    lengths = torch.tensor([57, 30], device="cuda")
    with torch.no_grad():
        expected, _ = model(x, lengths)
        logits, _ = ready(x.contiguous(memory_format=torch.channels_last), lengths)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


def test_log_probs_of_a_gpu_model_equal_those_of_the_same_model_on_the_cpu(tmp_path, exact_float32):
    make_data_dir(tmp_path / "data")
    dataset = FeatureDataset(tmp_path / "data", cmvn="speaker", channels=1)
    model = trained_statistics(build_model("bl-vgg-small", num_outputs=6, in_channels=1, num_mel_bins=40)).eval()
    on_cpu = compute_log_probs(model, dataset, max_frames=200)
    sent_to_the_gpu = compute_log_probs(model, dataset, max_frames=200, device=pick_device("auto", "decode.device"))
    on_gpu = compute_log_probs(model.cuda(), dataset, max_frames=200)
    assert list(on_gpu.utterances) == list(on_cpu.utterances) == list(sent_to_the_gpu.utterances)
    for utt, expected in on_cpu.utterances.items():
        for computed in (on_gpu, sent_to_the_gpu):
            assert computed.utterances[utt].device.type == "cpu"
            torch.testing.assert_close(computed.utterances[utt], expected, rtol=1e-4, atol=1e-4)


def test_training_on_the_gpu_learns_and_resumes_from_its_checkpoints(tmp_path):
    first = make_trainer(tmp_path, "run", device="cuda", amp=True, epochs=2)
    assert first.device == torch.device("cuda", 0)
    first.fit()
    steps_after_two_epochs = first.step
    resumed = make_trainer(tmp_path, "run", device="cuda", amp=True, epochs=12)
    final = resumed.fit()
    assert resumed.step == 6 * steps_after_two_epochs  # 12 epochs, the first 2 restored, not retrained
    rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    losses = [float(row[3]) for row in rows if row[2] == "train"]
    assert losses[-1] < 0.5 * losses[0]
    weights = load_checkpoint(final)["model"]  # written on the GPU, read on a machine without one
    assert all(tensor.device.type == "cpu" for tensor in weights.values())


def test_a_resumed_gpu_run_continues_the_gpus_random_stream(tmp_path):
    """Dropout masks on a GPU come from the GPU's own generator: checkpoints keep its state."""
    make_trainer(tmp_path, "run", device="cuda", epochs=1).fit()
    saved = latest_checkpoint(tmp_path / "run" / "checkpoints")["cuda_rng"]
    resumed = make_trainer(tmp_path, "run", device="cuda", epochs=2)  # reseeds every generator
    assert not torch.equal(torch.cuda.get_rng_state(resumed.device), saved)
    assert resumed.restore()
    assert torch.equal(torch.cuda.get_rng_state(resumed.device), saved)


def test_auto_device_is_this_ranks_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert pick_device("auto") == torch.device("cuda", 0)
    assert pick_device("cuda:0") == torch.device("cuda", 0)
    assert pick_device("cpu") == torch.device("cpu")


def test_benchmark_runs_on_the_gpu(tmp_path):
    assert bench_main(["--quick", "--device", "cuda", "--no-data-path", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert torch.cuda.get_device_name(0) in text
    assert "## Data path" not in text


def test_benchmark_runs_compiled_with_cuda_graphs_and_bf16_training_on_the_gpu(tmp_path):
    """torch.compile's reduce-overhead mode (CUDA graphs) and bf16 autocast in the training step."""
    assert bench_main(["--quick", "--device", "cuda", "--no-data-path", "--compile", "--compile-mode",
                       "reduce-overhead", "--amp", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert "vgg-small (torch.compile reduce-overhead)" in text
    assert "training forward under bfloat16 autocast" in text
