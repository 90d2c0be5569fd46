"""Inference-ready copies of acoustic models, as decoding and the benchmarks run them.

In eval mode a batch norm is a fixed per-channel affine map, so it folds exactly into the
convolution before it; on a CPU every remaining pass over a full-resolution tensor costs memory
traffic, and a bL-module's thin Little-Branch has more such passes per FLOP than its baseline.
Convolutions also always go to oneDNN: PyTorch sends batch-1 inputs below 20,480 values and
single-threaded 1x1 convolutions to its generic im2col path, 1.7-2.4x slower per FLOP here, and
a bL-module's half-resolution Big-Branch and 1x1 widening at batch 1 are such inputs.
(No postponed annotations here: TorchScript reads ``InferenceConv2d.forward``'s annotations.)
"""

import copy

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from blspeech.models.acoustic import AcousticModel


class InferenceConv2d(nn.Conv2d):
    """A Conv2d that computes with oneDNN on a CPU whenever no gradient is needed.

    Same weights, same values as ``F.conv2d`` (up to float rounding): only the kernel choice
    differs. GPU tensors, gradients, TorchScript, tracing and torch.compile (which picks its own
    kernels) take the ordinary path.
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "InferenceConv2d":
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                  dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
                  padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_state_dict(conv.state_dict())
        return new

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or torch.jit.is_tracing() or not self._cpu_inference(x):
            return self._conv_forward(x, self.weight, self.bias)
        return self._onednn(x)

    @torch.jit.unused
    def _onednn(self, x: Tensor) -> Tensor:
        return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, self.padding, self.stride,
                                                 self.dilation, self.groups)

    @torch.jit.unused
    def _cpu_inference(self, x: Tensor) -> bool:
        needs_gradient = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        return (x.device.type == "cpu" and x.dtype == torch.float32 and not needs_gradient
                and self.padding_mode == "zeros" and isinstance(self.padding, tuple)
                and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
                and not torch.compiler.is_compiling())


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d in an ``nn.Sequential`` into that
    conv (in place; the BN becomes an identity, so indices stay). Returns how many were folded.
    Only for eval mode: the folded conv uses the running statistics."""
    folded = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        for index in range(len(child) - 1):
            conv, norm = child[index], child[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                child[index] = fuse_conv_bn_eval(conv, norm)
                child[index + 1] = nn.Identity()
                folded += 1
    return folded


def use_inference_convolutions(module: nn.Module) -> None:
    """Replace every plain Conv2d inside ``module`` by an ``InferenceConv2d`` with the same weights."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.Conv2d:
                setattr(parent, name, InferenceConv2d.from_conv(child))


def prepare_for_inference(model: AcousticModel, *, channels_last: bool = True) -> AcousticModel:
    """An eval-mode copy of ``model`` for decoding: batch norms folded into the convolutions,
    oneDNN convolutions on a CPU, channels-last memory (the faster layout on a CPU for every
    preset here). The caller's model is left untouched; the copy is not for training."""
    ready = copy.deepcopy(model).eval()
    fold_batch_norms(ready)
    use_inference_convolutions(ready)
    for parameter in ready.parameters():
        parameter.requires_grad_(False)
    return ready.to(memory_format=torch.channels_last) if channels_last else ready
