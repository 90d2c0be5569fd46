"""Data parallelism with torch.distributed (launched by torchrun): each rank takes a slice of every global batch.

Slicing global batches, rather than giving each rank whole batches of its own, means N ranks
step through exactly the batches one process would, so the loss curve matches a single process
with the same global batch (gradients are averaged by DDP; the loss is normalised by the global
batch size, see ``Trainer``).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist

from blspeech.device import pick_device
from blspeech.loader import FrameBucketSampler


def init_from_environment(device_name: str = "auto") -> tuple[int, int]:
    """Join the process group torchrun describes in the environment; ``(rank, world)``, ``(0, 1)`` without torchrun.

    The backend follows the training device: NCCL for GPUs, gloo for the CPU (also on a machine
    that has GPUs but trains on its CPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        device = pick_device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def leave_process_group() -> None:
    """All ranks meet, then shut the backend down; without torchrun, nothing to do.

    A rank that exits with the group still up can be aborted while its communication threads
    run ("terminate called without an active exception" from gloo, seen once at the end of a
    two-rank run), failing a run whose training had finished.
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def global_sum(value: float, device: torch.device) -> float:
    """Sum of ``value`` over all ranks (the value itself in a single process)."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` in a single process)."""
    if not dist.is_initialized():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


class ShardedBatchSampler:
    """Wraps a :class:`FrameBucketSampler`; yields this rank's share ``batch[rank::world]`` of each batch.

    A batch smaller than the world gives the ranks past its end its last utterance, so that
    every rank takes part in every collective step.
    """

    def __init__(self, sampler: FrameBucketSampler, rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0..{world - 1}")
        self.sampler, self.rank, self.world = sampler, rank, world

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.sampler.load_state_dict(state)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.sampler:
            yield batch[self.rank::self.world] or batch[-1:]
