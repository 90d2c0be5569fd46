"""Word times from a CTC frame alignment, for ctm output.

A CTC model emits one output frame every ``frame_shift_s * subsampling`` seconds (10 ms feature
shift times the model's time subsampling). A unit's frame is the first output frame of its run
in the best path (the CTC spike). A word starts at its first unit's frame and ends one frame
after its last unit's frame, so a one-unit word lasts one output frame. Times are relative to
the start of the utterance; the ctm writer adds the segment start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def collapse_ctc_path(path: Sequence[int] | torch.Tensor, blank_id: int = 0) -> tuple[list[int], list[int]]:
    """Units of a per-frame CTC path (repeats merged, blanks dropped) and each unit's first frame.

    ``path`` is ``(T,)`` unit ids, one per output frame. ``[0, 5, 5, 0, 5, 7]`` gives units
    ``[5, 5, 7]`` at frames ``[1, 4, 5]``.
    """
    units: list[int] = []
    frames: list[int] = []
    previous = blank_id
    for frame, unit in enumerate(int(u) for u in path):
        if unit != blank_id and unit != previous:
            units.append(unit)
            frames.append(frame)
        previous = unit
    return units, frames


def word_times(
    word_positions: Sequence[Sequence[int]],
    unit_frames: Sequence[int],
    *,
    subsampling: int,
    frame_shift_s: float = 0.01,
) -> list[tuple[float, float]]:
    """``(start_s, duration_s)`` per word.

    ``word_positions[i]`` lists the positions (indices into ``unit_frames``) of the units that
    spell word ``i``, in order; ``unit_frames[j]`` is the output frame of unit ``j``.
    """
    if not isinstance(subsampling, int) or subsampling < 1:
        raise ValueError(f"subsampling must be a positive int, got {subsampling!r}")
    if not frame_shift_s > 0:
        raise ValueError(f"frame_shift_s must be positive, got {frame_shift_s!r}")
    period = frame_shift_s * subsampling
    times = []
    for index, positions in enumerate(word_positions):
        if not positions:
            raise ValueError(f"word {index} has no units")
        first, last = unit_frames[positions[0]], unit_frames[positions[-1]]
        if last < first:
            raise ValueError(f"word {index}: unit frames go backwards ({first} then {last})")
        times.append((first * period, (last - first + 1) * period))
    return times
