"""The device a recipe's ``train.device`` or ``decode.device`` names."""

from __future__ import annotations

import os

import torch


def pick_device(name: str, setting: str = "train.device") -> torch.device:
    """The device ``name`` means; "auto" is a GPU when there is one, else the CPU.

    A GPU named without an index is this process's own: ``LOCAL_RANK`` under torchrun, so that N
    ranks on one machine use N GPUs (GPU 0 otherwise); a GPU the machine does not have is an
    error naming ``setting``, not ranks sharing a card.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"{setting} {name!r} is not a device this package runs on: give auto, cpu, cuda or cuda:N")
    if device.type == "cpu":
        return device
    local_rank = os.environ.get("LOCAL_RANK", "0")
    if device.index is None and not local_rank.isdigit():
        raise ValueError(f"{setting} {name!r}: LOCAL_RANK={local_rank!r} (set by torchrun) is not a GPU index")
    index = device.index if device.index is not None else int(local_rank)
    if index >= torch.cuda.device_count():
        fewer_ranks = "start fewer torchrun ranks per machine or " if "LOCAL_RANK" in os.environ else ""
        raise ValueError(f"{setting} {name!r} needs GPU {index}, but this machine has "
                         f"{torch.cuda.device_count()} usable GPU(s) (torch {torch.__version__}); "
                         f"{fewer_ranks}set {setting} to cpu")
    return torch.device("cuda", index)
