"""Training objectives: CTC over unit sequences, frame cross-entropy over pdf-ids.

Both take the model's ``(logits (B, T', V), out_lengths (B,))`` and a padded batch, and return
``(sum of per-utterance losses, number of utterances)`` so that distributed ranks can normalise
by the global batch size and reproduce a single process exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ctc_objective(logits: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
                  target_lengths: torch.Tensor) -> tuple[torch.Tensor, int]:
    """CTC with blank id 0. ``targets`` (B, L) are padded with -1; loss per utterance summed."""
    log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)  # (T', B, V)
    per_utt = F.ctc_loss(log_probs, targets.clamp(min=0), out_lengths, target_lengths, blank=0,
                         reduction="none", zero_infinity=False)
    return per_utt.sum(), logits.shape[0]


def frame_ce_objective(logits: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
                       target_lengths: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Frame-level cross-entropy over pdf-ids; padded frames (-1) are ignored. Per-utterance mean, summed."""
    if logits.shape[1] != targets.shape[1]:
        raise ValueError(f"hybrid model gives {logits.shape[1]} frames but targets have {targets.shape[1]}")
    per_frame = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-1, reduction="none")  # (B, T)
    counts = (targets >= 0).sum(dim=1).clamp(min=1)
    return (per_frame.sum(dim=1) / counts).sum(), logits.shape[0]


OBJECTIVES = {"ctc": ctc_objective, "hybrid": frame_ce_objective}


def ctc_feasible(out_frames: int, labels: list[int]) -> bool:
    """CTC needs one output frame per label plus one blank between each pair of repeated labels."""
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    return out_frames >= len(labels) + repeats
