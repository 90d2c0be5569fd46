"""Inference-ready models (batch norms folded, oneDNN convolutions, channels-last) compute what
the trained model computes, and leave the trained model as it was."""

from __future__ import annotations

import copy

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

from blspeech.decode.recognize import compute_log_probs
from blspeech.loader import Utterance
from blspeech.models import build_model, flops_per_second
from blspeech.models.inference import (InferenceConv2d, InferenceLinear, fold_batch_norms, fuse_relus,
                                      prepare_for_inference)


def trained_statistics(model: nn.Module) -> nn.Module:
    """Give the batch norms running statistics and affine parameters that are not the identity."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            with torch.no_grad():
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model


@pytest.mark.parametrize("name", ["bl-vgg-small", "vgg-small", "bl-resnet-small", "resnet-small"])
@pytest.mark.parametrize("output", ["ctc", "hybrid"])
def test_prepared_model_computes_what_the_model_computes(name, output):
    torch.manual_seed(0)
    model = trained_statistics(build_model(name, num_outputs=20, output=output)).eval()
    ready = prepare_for_inference(model)
    x = torch.randn(3, 3, 40, 57)
    lengths = torch.tensor([57, 41, 9])  # padded rows and odd lengths
    with torch.no_grad():
        expected, expected_lengths = model(x, lengths)
        for batch in (slice(0, 3), slice(0, 1)):  # a padded batch, and a batch of one without padding
            logits, out_lengths = ready(x[batch].contiguous(memory_format=torch.channels_last), lengths[batch])
            torch.testing.assert_close(logits, expected[batch], rtol=1e-4, atol=1e-4)
            assert torch.equal(out_lengths, expected_lengths[batch])


def test_preparing_leaves_the_model_untouched():
    model = build_model("bl-resnet-small", num_outputs=10).train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    ready = prepare_for_inference(model)
    assert model.training and not ready.training
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in ready.modules())
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


def test_every_batch_norm_follows_a_conv_and_is_folded():
    model = build_model("bl-resnet-small", num_outputs=10).eval()
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batch_norms(model) == norms
    assert fold_batch_norms(model) == 0  # nothing left to fold


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((1, 48, 5, 50), 3, 1, 1),     # batch 1, 12,000 values: PyTorch's own choice would be im2col
    ((1, 8, 40, 400), 1, 1, 0),    # a Little-Branch widening at batch 1
    ((2, 16, 9, 13), 1, 2, 0),     # a strided projection shortcut
    ((1, 3, 7, 5), 3, 2, 1),
])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_inference_conv_equals_conv2d(shape, kernel, stride, padding, memory_format):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 16, kernel, stride=stride, padding=padding, bias=True)
    fast = InferenceConv2d.from_conv(conv).to(memory_format=memory_format)
    x = torch.randn(shape).contiguous(memory_format=memory_format)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), F.conv2d(x, conv.weight, conv.bias, stride, padding),
                                   rtol=1e-5, atol=1e-5)


def test_inference_linear_equals_linear():
    torch.manual_seed(0)
    linear = nn.Linear(40, 24)
    fast = InferenceLinear.from_linear(linear)
    x = torch.randn(2, 13, 40)  # (B, T, features), as the classifier sees them
    with torch.no_grad():
        torch.testing.assert_close(fast(x), F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-5)


def test_every_relu_after_a_conv_or_linear_is_fused_into_it():
    model = build_model("bl-resnet-small", num_outputs=10).eval()
    fold_batch_norms(model)
    ready = prepare_for_inference(model)
    fused_convs = sum(isinstance(m, InferenceConv2d) and m.activation == "relu" for m in ready.modules())
    fused_linears = sum(isinstance(m, InferenceLinear) and m.activation == "relu" for m in ready.modules())
    relus_before = sum(type(m) is nn.ReLU for m in model.modules())
    relus_after = sum(type(m) is nn.ReLU for m in ready.modules())
    assert fused_convs > 0 and fused_linears == 1  # the classifier's hidden layer
    assert relus_before - relus_after == fused_convs + fused_linears
    assert not any(type(m) in (nn.Conv2d, nn.Linear) for m in ready.modules())
    assert fuse_relus(ready) == 0  # nothing left to fuse


def _conv_or_linear(kind: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """An inference layer with a fused ReLU, an input, and what it must compute."""
    if kind == "conv":
        plain = nn.Conv2d(4, 16, 3, padding=1)
        layer, x = InferenceConv2d.from_conv(plain), torch.randn(1, 4, 6, 9)
        expected = F.relu(F.conv2d(x, plain.weight, plain.bias, padding=1))
    else:
        plain = nn.Linear(12, 16)
        layer, x = InferenceLinear.from_linear(plain), torch.randn(1, 5, 12)
        expected = F.relu(F.linear(x, plain.weight, plain.bias))
    layer.activation = "relu"
    return layer, x, expected.detach()


@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("scripted", [False, True])
def test_fused_relu_applies_on_every_path(kind, scripted):
    """oneDNN (no gradient), the ordinary path (gradient) and TorchScript all apply the fused ReLU."""
    torch.manual_seed(0)
    layer, x, expected = _conv_or_linear(kind)
    module = torch.jit.script(layer) if scripted else layer
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)


def test_reordered_weight_follows_the_weight():
    """The oneDNN-layout weight is built once, rebuilt when the weights change, and not copied."""
    torch.manual_seed(0)
    conv = InferenceConv2d.from_conv(nn.Conv2d(8, 16, 3, padding=1)).requires_grad_(False)
    x = torch.randn(1, 8, 10, 20)
    with torch.no_grad():
        conv(x)
        first = conv._packed
        conv(x)
        assert conv._packed is first
        conv.load_state_dict({"weight": torch.randn(16, 8, 3, 3), "bias": torch.randn(16)})
        torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1), rtol=1e-5, atol=1e-5)
        assert conv._packed is not first
        twin = copy.deepcopy(conv)
        assert twin._packed is None
        torch.testing.assert_close(twin(x), conv(x))


def test_reordered_weight_follows_the_input_shape():
    """oneDNN blocks this weight's output channels by 48 for 5x400 inputs and by 32 for 5x8 ones; a
    weight kept from another shape would be converted block to block on every call."""
    torch.manual_seed(0)
    conv = InferenceConv2d.from_conv(nn.Conv2d(96, 96, 3, padding=1)).requires_grad_(False)
    with torch.no_grad():
        for frames in (400, 8, 400):
            x = torch.randn(1, 96, 5, frames).contiguous(memory_format=torch.channels_last)
            torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1),
                                       rtol=1e-4, atol=1e-4)
            assert conv._packed[2] == (1, 96, 5, frames)


def test_inference_conv_still_trains_through_the_ordinary_path():
    conv = nn.Conv2d(4, 6, 3, padding=1)
    fast = InferenceConv2d.from_conv(conv)
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    fast(x).sum().backward()
    reference = x.detach().clone().requires_grad_()
    conv(reference).sum().backward()
    torch.testing.assert_close(x.grad, reference.grad)
    torch.testing.assert_close(fast.weight.grad, conv.weight.grad)


def test_prepared_model_scripts_and_agrees():
    torch.manual_seed(0)
    ready = prepare_for_inference(build_model("bl-vgg-small", num_outputs=12))
    x = torch.randn(2, 3, 40, 30).contiguous(memory_format=torch.channels_last)
    lengths = torch.tensor([30, 22])
    with torch.no_grad():
        ready(x, lengths)  # the oneDNN weights now exist; scripting leaves them out
    scripted = torch.jit.script(ready)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x, lengths)[0], ready(x, lengths)[0], rtol=1e-4, atol=1e-4)


class _Dataset:
    """What compute_log_probs reads of a FeatureDataset, and items that collate into a batch."""

    def __init__(self, lengths: list[int]) -> None:
        generator = torch.Generator().manual_seed(0)
        self.num_frames = lengths
        self.items = [torch.randn(3, 40, n, generator=generator) for n in lengths]

    def __getitem__(self, index: int) -> Utterance:
        return Utterance(f"utt{index}", self.items[index], None)

    def check_num_mel_bins(self, num_mel_bins: int) -> None:
        assert num_mel_bins == self.items[0].shape[1]


def test_log_probs_leave_a_training_model_in_training_mode():
    model = trained_statistics(build_model("bl-vgg-small", num_outputs=9)).train()
    dataset = _Dataset([37, 52, 52])
    log_probs = compute_log_probs(model, dataset)
    assert model.training
    model.eval()
    with torch.no_grad():
        logits, lengths = model(dataset.items[1].unsqueeze(0), torch.tensor([52]))
    torch.testing.assert_close(log_probs.utterances["utt1"], logits[0].log_softmax(-1), rtol=1e-4, atol=1e-4)
    assert log_probs.utterances["utt0"].shape[0] == -(-37 // 4)


def test_prepared_model_counts_the_same_flops():
    """FLOP counts see the oneDNN convolutions the prepared model calls directly."""
    model = build_model("bl-resnet-small", num_outputs=10)
    assert flops_per_second(prepare_for_inference(model), in_channels=3, num_mel_bins=40) == \
        flops_per_second(model, in_channels=3, num_mel_bins=40)


def test_prepared_model_compiles_and_agrees():
    """torch.compile traces the prepared model (its oneDNN call and the no-padding test step aside);
    the eager backend checks the tracing without needing a C++ compiler."""
    torch.manual_seed(0)
    ready = prepare_for_inference(build_model("bl-resnet-small", num_outputs=12))
    compiled = torch.compile(ready, backend="eager", dynamic=False)
    x = torch.randn(1, 3, 40, 30).contiguous(memory_format=torch.channels_last)
    lengths = torch.tensor([30])
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x, lengths)[0], ready(x, lengths)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["bl-resnet-small", "vgg-small"])
def test_prepared_model_compiles_to_one_graph(name):
    """No graph break anywhere (one at each convolution once left torch.compile running the
    convolutions eagerly between dozens of small graphs, recompiling until it gave up)."""
    ready = prepare_for_inference(build_model(name, num_outputs=12))
    x = torch.randn(1, 3, 40, 30).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        explanation = torch._dynamo.explain(ready)(x, torch.tensor([30]))
    assert explanation.graph_break_count == 0, [str(reason.reason)[:200] for reason in explanation.break_reasons]
    assert explanation.graph_count == 1
