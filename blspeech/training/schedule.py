"""Optimizers and learning-rate schedules named in the recipe."""

from __future__ import annotations

import math

import torch


def make_optimizer(params, name: str, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    """``adamw`` or ``sgd`` (Nesterov momentum)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (choose adamw or sgd)")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, floor: float = 0.02) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to ``floor`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class Schedule:
    """Per-step LR control: ``cosine`` (warm-up + cosine) or ``plateau`` (warm-up, then halve on a stalled dev loss)."""

    def __init__(self, optimizer: torch.optim.Optimizer, kind: str, warmup_steps: int, total_steps: int) -> None:
        if kind not in ("cosine", "plateau"):
            raise ValueError(f"unknown schedule {kind!r} (choose cosine or plateau)")
        self.optimizer, self.kind = optimizer, kind
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.plateau_scale, self.best_loss, self.bad_checks = 1.0, math.inf, 0

    def step(self, step: int) -> None:
        """Set the LR for optimizer step number ``step`` (0-based)."""
        if self.kind == "cosine":
            factor = warmup_cosine(step, self.warmup_steps, self.total_steps)
        else:
            factor = min(1.0, (step + 1) / max(1, self.warmup_steps)) * self.plateau_scale
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def report_validation(self, loss: float, patience: int = 2) -> None:
        """Plateau mode: halve the LR after ``patience`` validations without improvement."""
        if loss < self.best_loss - 1e-4:
            self.best_loss, self.bad_checks = loss, 0
        else:
            self.bad_checks += 1
            if self.kind == "plateau" and self.bad_checks >= patience:
                self.plateau_scale, self.bad_checks = self.plateau_scale * 0.5, 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best_loss": self.best_loss, "bad_checks": self.bad_checks}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale, self.best_loss, self.bad_checks = state["plateau_scale"], state["best_loss"], state["bad_checks"]
