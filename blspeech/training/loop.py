"""The training loop: one model, one objective, resumable to the exact batch.

Usage (what ``blspeech.train`` does per model)::

    trainer = Trainer(model, train_set, dev_set, cfg, run_dir, objective="ctc", seed=1,
                      extra_state={"recipe": ...}, dev_wer=lambda m: ...)
    final_weights = trainer.fit()     # resumes from run_dir/checkpoints if present

Distributed data parallel (torchrun) splits every global batch between the ranks, so that N
processes see the same global batches as one process and produce the same loss curve.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from tqdm import tqdm

from blspeech.config import ConfigError, TrainConfig
from blspeech.device import pick_device
from blspeech.fileio import atomic_write
from blspeech.loader import FeatureDataset, FrameBucketSampler, collate, make_loader
from blspeech.training.distributed import ShardedBatchSampler, gather_objects, global_sum
from blspeech.training.checkpoint import average_state_dicts, latest_checkpoint, load_checkpoint, save_checkpoint
from blspeech.training.metrics import MetricsLog
from blspeech.training.objectives import OBJECTIVES
from blspeech.training.schedule import Schedule, make_optimizer

log = logging.getLogger("blspeech")


class TooManyBadSteps(RuntimeError):
    """Loss was NaN/inf for too many consecutive batches: the run is diverging, not unlucky."""


def check_schedule(cfg: TrainConfig) -> None:
    """Raise ConfigError for a schedule with nothing to do (no epoch, or never validating)."""
    if cfg.validate_every_steps < 1 or cfg.epochs < 1:
        raise ConfigError(f"train.validate_every_steps and train.epochs must be >= 1, got "
                          f"{cfg.validate_every_steps} and {cfg.epochs}")


class Trainer:
    """Trains ``model`` on ``train_set`` with the recipe's optimizer, schedule and checkpointing."""

    def __init__(self, model: torch.nn.Module, train_set: FeatureDataset, dev_set: FeatureDataset | None,
                 cfg: TrainConfig, run_dir: str | Path, *, objective: str, seed: int,
                 extra_state: dict[str, Any] | None = None,
                 dev_wer: Callable[[torch.nn.Module], float] | None = None) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r} (choose {', '.join(OBJECTIVES)})")
        check_schedule(cfg)
        self.cfg, self.run_dir, self.seed = cfg, Path(run_dir), seed
        self.objective = OBJECTIVES[objective]
        self.train_set, self.dev_set, self.dev_wer = train_set, dev_set, dev_wer
        self.extra_state = extra_state or {}
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.device = pick_device(cfg.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(seed)
        self.model = model.to(self.device)
        self.net = (torch.nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model)
        sampler = FrameBucketSampler(train_set.num_frames, max_frames=cfg.max_frames, shuffle=True, seed=seed)
        self.loader = make_loader(train_set, ShardedBatchSampler(sampler, self.rank, self.world), cfg.num_workers,
                                  pin_memory=self.device.type == "cuda")
        self.steps_per_epoch = len(sampler)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.optimizer = make_optimizer(self.model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        self.schedule = Schedule(self.optimizer, cfg.schedule, cfg.warmup_steps, self.total_steps)
        self.step, self.bad_in_a_row, self.skipped_batches, self.validated_step = 0, 0, 0, -1
        self.snapshots: list[tuple[float, int]] = []  # (dev loss, step) of kept weight snapshots
        self.started = time.monotonic()  # moved back by the training time of a resumed run's earlier sessions

    @property
    def epoch(self) -> int:
        """The epoch of the next batch to be delivered (the loader's state is the one source of truth)."""
        return int(self.loader.state_dict()["epoch"])

    # -- persistence -------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def state(self, random_states: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint; ``random_states`` holds this process's generators and, in a distributed
        run, every rank's (``rng_per_rank``: each rank draws its own dropout masks)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sampler": self.loader.state_dict(),
            "step": self.step,
            "skipped_batches": self.skipped_batches,
            "bad_in_a_row": self.bad_in_a_row,
            "validated_step": self.validated_step,
            "snapshots": [list(s) for s in self.snapshots],
            "elapsed_s": time.monotonic() - self.started,
            **random_states,
            "train_config": asdict(self.cfg),
            **self.extra_state,
        }

    def _random_state(self) -> dict[str, torch.Tensor | None]:
        return {"rng": torch.get_rng_state(),
                # dropout masks on a GPU come from its own generator
                "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}

    def restore(self) -> bool:
        """Continue from the newest intact checkpoint, if there is one."""
        state = latest_checkpoint(self.checkpoint_dir, writer=self.rank == 0)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.loader.load_state_dict(state["sampler"])
        self.step = state["step"]
        self.skipped_batches, self.validated_step = state["skipped_batches"], state["validated_step"]
        self.bad_in_a_row = state.get("bad_in_a_row", 0)  # (not in checkpoints of earlier versions)
        self.snapshots = [(float(loss), int(step)) for loss, step in state["snapshots"]]
        self.started = time.monotonic() - float(state.get("elapsed_s", 0.0))  # metrics' elapsed_s goes on
        per_rank = state.get("rng_per_rank")  # (not in checkpoints of earlier versions)
        own = per_rank[self.rank] if per_rank is not None and len(per_rank) == self.world else state
        torch.set_rng_state(own["rng"])
        if self.device.type == "cuda" and own.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(own["cuda_rng"], self.device)
        log.info("resumed %s at step %d (epoch %d)", self.run_dir, self.step, self.epoch)
        return True

    def save(self) -> None:
        """Write a checkpoint (rank 0; every rank calls this at the same step and hands over its generators)."""
        every_rank = gather_objects(self._random_state())
        if self.rank == 0:
            random_states = {**every_rank[0], "rng_per_rank": every_rank if self.world > 1 else None}
            save_checkpoint(self.checkpoint_dir, self.step, self.state(random_states), keep=self.cfg.keep_checkpoints)
            self._delete_dropped_snapshots()

    def _delete_dropped_snapshots(self) -> None:
        """Delete the snapshot files the newest checkpoint no longer lists: only once a checkpoint
        says so, since a resume from an older one needs the snapshots it lists."""
        kept = {f"step-{step:08d}.pt" for _, step in self.snapshots}
        for path in (self.run_dir / "snapshots").glob("step-*.pt"):
            if path.name not in kept:
                path.unlink(missing_ok=True)

    # -- one batch ---------------------------------------------------------------------------
    def _loss(self, batch, train: bool) -> tuple[torch.Tensor, int]:
        batch = batch.to(self.device, non_blocking=True)
        use_amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits, out_lengths = (self.net if train else self.model)(batch.feats, batch.lengths)
        return self.objective(logits, out_lengths, batch.targets, batch.target_lengths)

    def _train_batch(self, batch) -> float | None:
        """One optimizer step; returns the mean loss per utterance, or None for a skipped batch."""
        self.net.train()
        # The forward pass moves BatchNorm's running statistics towards this batch; a skipped batch
        # must not leave NaN/inf there, or the model would output NaN in eval mode ever after.
        buffers = [buffer.clone() for buffer in self.model.buffers()]
        loss_sum, local_size = self._loss(batch, train=True)
        # DDP averages gradients over ranks, so scale by world / global batch to get a global mean.
        global_size = global_sum(local_size, self.device)
        loss = loss_sum * (self.world / global_size)
        finite = global_sum(float(torch.isfinite(loss).item()), self.device) == self.world
        if not finite:
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), buffers):
                    buffer.copy_(saved)
            self.bad_in_a_row += 1
            self.skipped_batches += 1
            log.warning("step %d: non-finite loss in a batch with %s; batch skipped (%d in a row)",
                        self.step, ",".join(batch.utt_ids[:3]), self.bad_in_a_row)
            if self.bad_in_a_row >= self.cfg.max_bad_steps:
                raise TooManyBadSteps(f"{self.bad_in_a_row} consecutive batches had NaN/inf loss; stopping")
            return None
        self.bad_in_a_row = 0
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.schedule.step(self.step)
        self.optimizer.step()
        return global_sum(loss.item(), self.device) / self.world

    # -- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Dev loss per utterance and greedy dev WER (if a scorer was given)."""
        result: dict[str, float] = {}
        if self.dev_set is not None and len(self.dev_set) > 0:
            self.model.eval()
            sampler = FrameBucketSampler(self.dev_set.num_frames, max_frames=self.cfg.max_frames, shuffle=False, seed=0)
            total, count = 0.0, 0
            for indices in sampler:
                loss_sum, n = self._loss(collate([self.dev_set[i] for i in indices]), train=False)
                if torch.isfinite(loss_sum):
                    total, count = total + loss_sum.item(), count + n
            result["loss"] = total / max(1, count)
        if self.dev_wer is not None:
            self.model.eval()
            result["wer"] = float(self.dev_wer(self.model))
        return result

    def _snapshot(self, dev_loss: float) -> None:
        """Keep the weights of the best ``average_best`` validations for averaging at the end."""
        if self.rank != 0 or self.cfg.average_best <= 0:
            return
        directory = self.run_dir / "snapshots"
        with atomic_write(directory / f"step-{self.step:08d}.pt", "wb") as handle:
            torch.save(self.model.state_dict(), handle)
        self.snapshots.append((dev_loss, self.step))
        self.snapshots = sorted(self.snapshots)[: self.cfg.average_best]  # files go at the next save()

    # -- the loop ----------------------------------------------------------------------------
    def fit(self) -> Path:
        """Train to the end of the schedule; returns the path of the final (averaged) weights."""
        self.started = time.monotonic()
        if not self.restore():
            self.loader.set_epoch(0)
        metrics = MetricsLog(self.run_dir, resume_step=self.step, tensorboard=self.rank == 0)
        last_save = time.monotonic()
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.run_dir.name, disable=self.rank != 0,
                   dynamic_ncols=True)
        epoch = min(self.epoch, self.cfg.epochs - 1)  # of the batches trained (self.epoch: of the next one)
        try:
            while self.epoch < self.cfg.epochs:
                epoch = self.epoch
                tick = time.monotonic()
                for batch in self.loader:
                    loss = self._train_batch(batch)
                    self.step += 1
                    rate = global_sum(float(batch.lengths.sum()), self.device) / max(1e-9, time.monotonic() - tick)
                    tick = time.monotonic()
                    bar.update(1)
                    if loss is not None:
                        bar.set_postfix(loss=f"{loss:.3f}", frames_s=f"{rate:.0f}")
                        if self.rank == 0:
                            metrics.log(self.step, epoch, "train", loss=loss, lr=self.optimizer.param_groups[0]["lr"],
                                        frames_per_s=rate, elapsed_s=time.monotonic() - self.started)
                    if self.step % self.cfg.validate_every_steps == 0:
                        self._validate_and_log(metrics, epoch)
                    due = time.monotonic() - last_save > self.cfg.checkpoint_every_minutes * 60
                    if global_sum(float(due), self.device) > 0:  # every rank saves at the same step
                        self.save()
                        last_save = time.monotonic()
            if self.validated_step != self.step:
                self._validate_and_log(metrics, epoch)
            self.save()
        finally:
            bar.close()
            if self.rank == 0:
                metrics.close()
        return self.finalize()

    def _validate_and_log(self, metrics: MetricsLog, epoch: int) -> None:
        result = self.validate()
        self.validated_step = self.step
        if self.rank == 0 and result:
            metrics.log(self.step, epoch, "dev", elapsed_s=time.monotonic() - self.started, **result)
            log.info("step %d: dev %s", self.step, ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
        if "loss" in result and math.isfinite(result["loss"]):
            self.schedule.report_validation(result["loss"])
            self._snapshot(result["loss"])

    def finalize(self) -> Path:
        """Average the best snapshots (or take the last weights) into ``final.pt``."""
        final = self.run_dir / "final.pt"
        if self.rank != 0:
            return final
        best = sorted(self.snapshots)[: self.cfg.average_best]  # the recipe decides, also on a resumed run
        found = [step for _, step in best if (self.run_dir / "snapshots" / f"step-{step:08d}.pt").exists()]
        if len(found) < len(best):
            log.warning("%s: snapshots of steps %s are missing; averaging the %d found", self.run_dir,
                        sorted({s for _, s in best} - set(found)), len(found))
        paths = [self.run_dir / "snapshots" / f"step-{step:08d}.pt" for step in found]
        weights = (average_state_dicts([load_checkpoint(p) for p in paths]) if paths else self.model.state_dict())
        with atomic_write(final, "wb") as handle:
            torch.save({"model": weights, "averaged_steps": found, **self.extra_state}, handle)
        log.info("%s: final weights = average of %d snapshots", final, len(paths))
        return final
