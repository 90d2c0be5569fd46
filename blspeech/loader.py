"""Training data over a data dir's feats.scp: dataset, length-bucketed batches, padding, workers.

- :class:`FeatureDataset` reads one utterance's static features lazily (kaldiio: plain or
  compressed Kaldi matrices), applies CMVN, stacks deltas as channels and, when configured,
  SpecAugment: an item's ``feats`` are ``(C, F, T)``.
- :class:`FrameBucketSampler` groups utterances of similar length so a batch's padded size
  ``B * T_max`` stays under a frame cap; its order is a function of (seed, epoch) and it can
  resume in the middle of an epoch.
- :func:`collate` pads to a :class:`Batch`; :func:`make_loader` wires them into a DataLoader
  whose results do not depend on the number of workers.

Randomness (SpecAugment) is drawn from a generator seeded by (seed, epoch, utterance index),
never from a process-global one, which is what makes worker processes harmless.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import kaldi_native_io
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from blspeech.data.kaldi_dir import DataDir, DataDirError, read_table
from blspeech.features.ark import read_utterance_matrix
from blspeech.features.cmvn import apply_cmvn, cmvn_stats, read_cmvn_stats, sum_stats
from blspeech.features.deltas import add_deltas
from blspeech.features.specaugment import SpecAugmentConfig, spec_augment
from blspeech.skips import SkipLog

logger = logging.getLogger("blspeech")

CMVN_MODES = ("speaker", "global", "utterance", "none")
PAD_TARGET = -1


@dataclass
class Utterance:
    """One dataset item: ``feats`` ``(C, F, T)`` float32, ``target`` ``(L,)`` long or None."""

    utt_id: str
    feats: torch.Tensor
    target: torch.Tensor | None


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, max_length)`` bool, True at padded positions (PyTorch's key_padding_mask sense)."""
    return torch.arange(max_length, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


@dataclass
class Batch:
    """Padded utterances.

    ``feats`` ``(B, C, F, T)`` zero-padded in time; ``lengths`` ``(B,)`` frames; ``targets``
    ``(B, L)`` padded with -1 and ``target_lengths`` ``(B,)`` (both None without targets): one
    form for CTC label sequences and for frame-level hybrid targets alike.
    """

    utt_ids: list[str]
    feats: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None
    target_lengths: torch.Tensor | None

    @property
    def padding_mask(self) -> torch.Tensor:
        """``(B, T)`` bool, True at padded frames."""
        return padding_mask(self.lengths, self.feats.shape[-1])

    def _map(self, fn) -> "Batch":
        return replace(
            self,
            feats=fn(self.feats),
            lengths=fn(self.lengths),
            targets=None if self.targets is None else fn(self.targets),
            target_lengths=None if self.target_lengths is None else fn(self.target_lengths),
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        return self._map(lambda tensor: tensor.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "Batch":
        """Called by DataLoader(pin_memory=True) for custom batch types."""
        return self._map(torch.Tensor.pin_memory)


def collate(items: Sequence[Utterance]) -> Batch:
    """Pad a list of :class:`Utterance` into a :class:`Batch` (features with 0, targets with -1)."""
    if not items:
        raise ValueError("cannot collate an empty list of utterances")
    has_target = [item.target is not None for item in items]
    if any(has_target) and not all(has_target):
        raise ValueError("cannot collate utterances with and without targets together")
    lengths = torch.tensor([item.feats.shape[-1] for item in items], dtype=torch.long)
    channels, bins = items[0].feats.shape[:2]
    feats = torch.zeros(len(items), channels, bins, int(lengths.max()), dtype=items[0].feats.dtype)
    for row, item in enumerate(items):
        feats[row, ..., : item.feats.shape[-1]] = item.feats
    targets = target_lengths = None
    if all(has_target):
        target_lengths = torch.tensor([item.target.numel() for item in items], dtype=torch.long)
        targets = torch.full((len(items), int(target_lengths.max())), PAD_TARGET, dtype=torch.long)
        for row, item in enumerate(items):
            targets[row, : item.target.numel()] = item.target
    return Batch([item.utt_id for item in items], feats, lengths, targets, target_lengths)


def _item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    entropy = np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(entropy))


def _read_num_frames(root: Path, feats_scp: Mapping[str, str], utterances: Sequence[str]) -> list[int]:
    """Frames per utterance: from utt2num_frames when it covers them, else from the matrix headers."""
    path = root / "utt2num_frames"
    if path.is_file():
        table = read_table(path)
        if all(utt in table for utt in utterances):
            return [int(table[utt]) for utt in utterances]
    reader = kaldi_native_io.RandomAccessMatrixShapeReader(f"scp:{root / 'feats.scp'}")
    frames = []
    for utt in utterances:
        if utt not in reader:  # Kaldi loads the entry to answer this, so an unreadable matrix is caught here
            raise DataDirError(f"{root / 'feats.scp'}: utterance {utt}: cannot read the matrix at {feats_scp[utt]}")
        frames.append(reader[utt].num_rows)
    return frames


class FeatureDataset(Dataset):
    """Utterances of a data dir with features; an item is an :class:`Utterance` with ``(C, F, T)`` feats.

    ``cmvn``: "speaker" (cmvn.scp + utt2spk), "global" (every speaker's stats of cmvn.scp summed),
    "utterance" (stats of the utterance itself) or "none"; ``norm_vars`` also scales to unit
    variance. ``channels``: 1 (static log-mel) or 3 (plus deltas and delta-deltas, Kaldi's
    ``add-deltas``). ``targets``: label sequence per utterance (CTC units or frame-level pdf-ids).

    Utterances of utt2spk missing from feats.scp, from ``targets`` or (speaker mode) whose
    speaker has no stats are counted skips, see :attr:`skips`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        targets: Mapping[str, Sequence[int]] | None = None,
        cmvn: str = "speaker",
        norm_vars: bool = False,
        channels: int = 3,
        specaugment: SpecAugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        if cmvn not in CMVN_MODES:
            raise ValueError(f"cmvn must be one of {CMVN_MODES}, got {cmvn!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (static) or 3 (with deltas), got {channels}")
        root = Path(data_dir)
        data = DataDir.read(root)
        if not data.feats_scp:
            raise DataDirError(f"{root}: no feats.scp (run python -m blspeech.features.compute {root})")
        self.cmvn = cmvn
        self.norm_vars = norm_vars
        self.channels = channels
        self.specaugment = specaugment
        self.seed = seed
        self.epoch = 0

        speaker_stats: dict[str, np.ndarray] = {}
        if cmvn in ("speaker", "global"):
            if not data.cmvn_scp:
                raise DataDirError(f"{root}: cmvn={cmvn!r} needs cmvn.scp (python -m blspeech.features.compute writes it)")
            speaker_stats = read_cmvn_stats(data.cmvn_scp, root / "cmvn.scp")
        self._global_stats = sum_stats(speaker_stats.values()) if cmvn == "global" else None

        self.skips = SkipLog(f"FeatureDataset({root})")
        candidates: list[str] = []
        for utt in data.utterances:
            if utt not in data.feats_scp:
                self.skips.skip(utt, "missing from feats.scp")
            elif targets is not None and utt not in targets:
                self.skips.skip(utt, "no target")
            elif cmvn == "speaker" and data.utt2spk[utt] not in speaker_stats:
                self.skips.skip(utt, "speaker has no CMVN stats in cmvn.scp")
            else:
                candidates.append(utt)
        frames = dict(zip(candidates, _read_num_frames(root, data.feats_scp, candidates))) if candidates else {}
        kept: list[str] = []
        for utt in candidates:
            if frames[utt] < 1:  # a feats.scp made elsewhere may hold an empty matrix
                self.skips.skip(utt, "its feature matrix has no frames")
            else:
                self.skips.ok()
                kept.append(utt)
        self.skips.summary()
        if not kept:
            raise DataDirError(f"{root}: no usable utterance ({self.skips.summary()})")

        self.utt_ids = kept
        self._rxspecifiers = [data.feats_scp[utt] for utt in kept]
        self._stats = [speaker_stats[data.utt2spk[utt]] for utt in kept] if cmvn == "speaker" else None
        self._targets = None if targets is None else [targets[utt] for utt in kept]
        self.num_frames = [frames[utt] for utt in kept]
        self._feats_scp = root / "feats.scp"

    @property
    def num_skipped(self) -> int:
        return self.skips.skipped

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose SpecAugment masks items get (masks differ per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utt_ids)

    def _static_features(self, index: int) -> torch.Tensor:
        """``(T, F)`` float32 as stored (compressed matrices are decompressed by kaldiio)."""
        matrix = read_utterance_matrix(self._feats_scp, self.utt_ids[index], self._rxspecifiers[index])
        return torch.from_numpy(np.array(matrix, dtype=np.float32))  # a copy: kaldiio may hand out read-only buffers

    def _normalized(self, feats: torch.Tensor, index: int) -> torch.Tensor:
        if self.cmvn == "none":
            return feats
        if self.cmvn == "speaker":
            stats = self._stats[index]
        elif self.cmvn == "global":
            stats = self._global_stats
        else:
            stats = cmvn_stats(feats.numpy())
        try:
            return apply_cmvn(feats, stats, self.norm_vars)
        except ValueError as error:
            raise ValueError(f"utterance {self.utt_ids[index]}: {error}") from error

    def check_num_mel_bins(self, num_mel_bins: int) -> None:
        """Raise naming feats.scp unless its features (read from the first utterance) have
        ``num_mel_bins`` dimensions: features made for another model would otherwise fail deep
        inside the network, or with matching CMVN stats be computed on."""
        if self.utt_ids:
            dimension = self._static_features(0).shape[1]
            if dimension != num_mel_bins:
                raise DataDirError(f"{self._feats_scp} holds {dimension}-dimensional features (utterance "
                                   f"{self.utt_ids[0]}) but the model takes {num_mel_bins} mel bins")

    def __getitem__(self, index: int) -> Utterance:
        feats = self._normalized(self._static_features(index), index)
        stacked = add_deltas(feats, order=2) if self.channels == 3 else feats.transpose(0, 1).unsqueeze(0).contiguous()
        if self.specaugment is not None:
            stacked = spec_augment(stacked, self.specaugment, _item_generator(self.seed, self.epoch, index))
        target = None
        if self._targets is not None:
            target = torch.as_tensor(np.asarray(self._targets[index], dtype=np.int64))
        return Utterance(self.utt_ids[index], stacked, target)


class FrameBucketSampler(Sampler[list[int]]):
    """Batches of dataset indices, grouped by length, with padded size ``B * T_max <= max_frames``.

    Utterances are sorted by length (ties broken at random when ``shuffle``) and packed
    greedily, so each batch holds utterances of similar length; with ``shuffle`` the batch
    order is permuted. Everything is a function of (seed, epoch). An utterance longer than
    ``max_frames`` on its own becomes a batch of one (logged). ``drop_last`` drops the final
    (longest) batch when it is not full, i.e. when one more utterance of its length would fit.

    Finishing an epoch's iteration moves to the next epoch; ``set_epoch`` picks one explicitly.
    ``state_dict()`` records how many batches of the epoch were handed out; loading it makes the
    next iteration start at exactly the following batch.
    """

    def __init__(self, num_frames: Sequence[int], *, max_frames: int, shuffle: bool, seed: int, drop_last: bool = False) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        lengths = np.asarray(num_frames, dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError(f"num_frames must be a non-empty list of lengths, got {len(num_frames)} entries")
        if (lengths < 1).any():
            raise ValueError(f"utterance index {int(np.argmax(lengths < 1))} has {int(lengths[lengths < 1][0])} frames")
        self.num_frames = lengths
        self.max_frames = max_frames
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.position = 0
        self._cached: tuple[int, list[list[int]]] | None = None
        for index in np.flatnonzero(lengths > max_frames):
            logger.warning("utterance index %d has %d frames > max_frames %d: it forms a batch alone", index, lengths[index], max_frames)

    def _batches(self, epoch: int) -> list[list[int]]:
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, self._pack(epoch))
        return self._cached[1]

    def _pack(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        candidates = rng.permutation(self.num_frames.size) if self.shuffle else np.arange(self.num_frames.size)
        order = candidates[np.argsort(self.num_frames[candidates], kind="stable")]
        batches: list[list[int]] = []
        batch: list[int] = []
        for index in order.tolist():
            longest = self.num_frames[index]  # ascending order: the newcomer is the longest
            if batch and longest * (len(batch) + 1) > self.max_frames:
                batches.append(batch)
                batch = []
            batch.append(index)
        last_full = self.num_frames[batch[-1]] * (len(batch) + 1) > self.max_frames
        if last_full or not self.drop_last:
            batches.append(batch)
        if self.shuffle:
            batches = [batches[k] for k in rng.permutation(len(batches))]
        return batches

    def __len__(self) -> int:
        # The sorted lengths, hence the packing, are the same in every epoch; only ties differ.
        return len(self._batches(self.epoch))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.position = 0

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches(self.epoch)
        while self.position < len(batches):
            self.position += 1
            yield batches[self.position - 1]
        self.set_epoch(self.epoch + 1)

    def packing(self) -> int:
        """A fingerprint of what decides the batches besides (seed, epoch): the lengths, the frame
        cap and drop_last. A position means nothing in another packing."""
        settings = np.array([self.max_frames, int(self.drop_last)], dtype=np.int64)
        return zlib.crc32(self.num_frames.tobytes() + settings.tobytes())

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                "num_utterances": int(self.num_frames.size), "packing": self.packing()}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if state["seed"] != self.seed or state["num_utterances"] != self.num_frames.size:
            raise ValueError(
                f"sampler state is for seed {state['seed']} over {state['num_utterances']} utterances, "
                f"this sampler has seed {self.seed} over {self.num_frames.size}"
            )
        if state.get("packing", self.packing()) != self.packing():  # (checkpoints before it was recorded: trusted)
            raise ValueError(
                "sampler state is for other batches: the utterance lengths, max_frames or drop_last changed "
                f"since it was saved (max_frames now {self.max_frames}); resuming there would repeat some "
                "utterances of the epoch and skip others")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])


def _single_threaded_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)


class BucketLoader(DataLoader):
    """DataLoader over a :class:`FrameBucketSampler` whose state counts batches *delivered*.

    Worker processes prefetch, so the sampler alone runs ahead of the training loop; this
    loader's ``state_dict()`` records what the loop actually received, so a checkpoint resumes
    at the exact next batch. Before each iteration it also tells the dataset the epoch.
    """

    def __init__(self, dataset: FeatureDataset, sampler: FrameBucketSampler, num_workers: int = 0, pin_memory: bool = False) -> None:
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        super().__init__(
            dataset,
            batch_sampler=sampler,
            num_workers=num_workers,
            collate_fn=collate,
            pin_memory=pin_memory,
            worker_init_fn=_single_threaded_worker if num_workers else None,
            # Its own generator: creating an iterator must not draw from the global RNG, or a run
            # resumed mid-epoch would see different dropout than an uninterrupted one.
            generator=torch.Generator().manual_seed(0),
        )
        self._delivered: dict[str, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)
        self._delivered = None

    def state_dict(self) -> dict[str, int]:
        return dict(self._delivered) if self._delivered is not None else self.batch_sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.batch_sampler.load_state_dict(state)
        self._delivered = None

    def __iter__(self) -> Iterator[Batch]:
        sampler: FrameBucketSampler = self.batch_sampler
        if self._delivered is not None:  # an earlier iteration stopped early: rewind the prefetched batches
            sampler.load_state_dict(self._delivered)
        self.dataset.set_epoch(sampler.epoch)
        state = sampler.state_dict()
        total = len(sampler)
        for batch in super().__iter__():
            state["position"] += 1
            if state["position"] == total:
                state.update(epoch=state["epoch"] + 1, position=0)
            self._delivered = state
            yield batch


def make_loader(dataset: FeatureDataset, sampler: FrameBucketSampler, num_workers: int = 0, pin_memory: bool = False) -> BucketLoader:
    """The training/eval loader: batches from ``sampler``, items from ``dataset``, padded by :func:`collate`."""
    return BucketLoader(dataset, sampler, num_workers, pin_memory)
