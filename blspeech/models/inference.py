"""Inference-ready copies of acoustic models, as decoding and the benchmarks run them.

In eval mode a batch norm is a fixed per-channel affine map, so it folds exactly into the
convolution before it; on a CPU every remaining pass over a full-resolution tensor costs memory
traffic, and a bL-module's thin Little-Branch has more such passes per FLOP than its baseline.
Convolutions also always go to oneDNN: PyTorch sends batch-1 inputs below 20,480 values and
single-threaded 1x1 convolutions to its generic im2col path, 1.7-2.4x slower per FLOP here, and
a bL-module's half-resolution Big-Branch and 1x1 widening at batch 1 are such inputs. There
they run with their weights reordered once into oneDNN's blocked layout (not on every call) and
with the ReLU that follows them fused in: 10-30 us less per convolution, which at batch 1 is
5-30% of a small convolution's time, and a bL model has more, smaller convolutions.
oneDNN's weight layout depends on the input's shape (its output-channel block, e.g. 32 or 48,
follows the spatial size), so the reordered weight is kept for one input shape: a weight
reordered for another shape would be converted block to block on every call (2.4 ms for one
96x96 3x3 convolution, 100 times the convolution). The classifier's linear layers go to oneDNN
too: PyTorch's matmul (MKL) runs at half oneDNN's speed on this AMD CPU, 108 vs 218 GFLOP/s.
(No postponed annotations here: TorchScript reads ``InferenceConv2d.forward``'s annotations.)
"""

import copy
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from blspeech.models.acoustic import AcousticModel


def runs_onednn(x: Tensor, weight: Tensor) -> bool:
    """True when a layer with ``weight`` should compute ``x`` with oneDNN: float32 on a CPU, no
    gradient needed, and neither TorchScript, tracing nor torch.compile looking (those take the
    ordinary path)."""
    # Compiling first: torch.compile sees a constant here and never reaches the calls it
    # cannot trace (each would break the graph at every layer).
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    needs_gradient = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return (x.device.type == "cpu" and x.dtype == torch.float32 and not needs_gradient
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)


def activate(x: Tensor, activation: str) -> Tensor:
    """The ordinary path's version of a fused activation ("relu" or "none")."""
    return torch.relu(x) if activation == "relu" else x


class InferenceConv2d(nn.Conv2d):
    """A Conv2d, optionally followed by a fused ReLU, that computes with oneDNN on a CPU whenever
    no gradient is needed (``runs_onednn``).

    Same weights, same values as ``F.conv2d`` (+ ``relu``) up to float rounding: only the kernel
    choice differs. On the oneDNN path the weight is reordered into oneDNN's blocked layout for
    the input's shape and reused while the shape and the weight stay the same.
    """

    __jit_ignored_attributes__ = ["_packed"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activation = "none"  # "relu" once fuse_relus has moved the following ReLU in here
        # (weight data_ptr, weight version, input shape, reordered weight)
        self._packed: Optional[Tuple[int, int, Tuple[int, ...], Tensor]] = None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "InferenceConv2d":
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                  dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
                  padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_state_dict(conv.state_dict())
        return new

    def __getstate__(self) -> dict:
        """Copies and pickles leave the oneDNN weight out (an opaque tensor; rebuilt on first use)."""
        return {**super().__getstate__(), "_packed": None}

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or not self._cpu_inference(x):
            return activate(self._conv_forward(x, self.weight, self.bias), self.activation)
        return self._onednn(x)

    @torch.jit.unused
    def _onednn(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self._reordered_weight(x), self.bias, self.padding,
                                                       self.stride, self.dilation, self.groups,
                                                       self.activation, [], "")

    @torch.jit.unused
    def _reordered_weight(self, x: Tensor) -> Tensor:
        """The weight in oneDNN's layout for inputs shaped like ``x``; reordered from the plain
        weight again when the shape or the weight changed."""
        key = (self.weight.data_ptr(), self.weight._version, tuple(x.shape))
        if self._packed is None or self._packed[:3] != key:
            reordered = torch._C._nn.mkldnn_reorder_conv2d_weight(
                self.weight.detach().to_mkldnn(), list(self.padding), list(self.stride), list(self.dilation),
                self.groups, list(x.shape))
            self._packed = (*key, reordered)
        return self._packed[3]

    @torch.jit.unused
    def _cpu_inference(self, x: Tensor) -> bool:
        return (runs_onednn(x, self.weight) and self.padding_mode == "zeros"
                and isinstance(self.padding, tuple))


class InferenceLinear(nn.Linear):
    """A Linear, optionally followed by a fused ReLU, that computes with oneDNN on a CPU whenever
    no gradient is needed (``runs_onednn``); same values as ``F.linear`` up to float rounding.

    The weight stays plain: oneDNN's reorder of it costs a few microseconds per call, and a
    cached one would depend on the number of frames, which changes with every batch.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activation = "none"  # "relu" once fuse_relus has moved the following ReLU in here

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "InferenceLinear":
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                  device=linear.weight.device, dtype=linear.weight.dtype)
        new.load_state_dict(linear.state_dict())
        return new

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or not self._cpu_inference(x):
            return activate(F.linear(x, self.weight, self.bias), self.activation)
        return self._onednn(x)

    @torch.jit.unused
    def _onednn(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, self.activation, [], "")

    @torch.jit.unused
    def _cpu_inference(self, x: Tensor) -> bool:
        return runs_onednn(x, self.weight)


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


def use_inference_layers(module: nn.Module) -> None:
    """Replace every plain Conv2d and Linear inside ``module`` by an ``InferenceConv2d`` or
    ``InferenceLinear`` with the same weights."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.Conv2d:
                setattr(parent, name, InferenceConv2d.from_conv(child))
            elif type(child) is nn.Linear:
                setattr(parent, name, InferenceLinear.from_linear(child))


def fuse_relus(module: nn.Module) -> int:
    """Move every ReLU that directly follows an ``InferenceConv2d`` or ``InferenceLinear`` in an
    ``nn.Sequential`` (past identities left by folded batch norms) into that layer (in place; the
    ReLU becomes an identity). Returns how many were fused."""
    fused = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        for index, layer in enumerate(child):
            if not isinstance(layer, (InferenceConv2d, InferenceLinear)) or layer.activation != "none":
                continue
            following = index + 1
            while following < len(child) and isinstance(child[following], nn.Identity):
                following += 1
            if following < len(child) and type(child[following]) is nn.ReLU:
                layer.activation = "relu"
                child[following] = nn.Identity()
                fused += 1
    return fused


def prepare_for_inference(model: AcousticModel, *, channels_last: bool = True) -> AcousticModel:
    """An eval-mode copy of ``model`` for decoding: batch norms folded into the convolutions,
    oneDNN convolutions and linears with their ReLUs fused on a CPU, channels-last memory (the faster layout
    on a CPU for every preset here). The caller's model is left untouched; the copy is not for
    training."""
    ready = copy.deepcopy(model).eval()
    fold_batch_norms(ready)
    use_inference_layers(ready)
    fuse_relus(ready)
    for parameter in ready.parameters():
        parameter.requires_grad_(False)
    return ready.to(memory_format=torch.channels_last) if channels_last else ready
