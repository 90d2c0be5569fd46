"""Grid search of the LM weight and word insertion score on the development set.

The caller supplies ``score_dev(lm_weight, word_score) -> WER %`` that decodes and scores the
*dev* set; the chosen pair is then applied unchanged to the test sets. Tuning on a test set
would report an optimistic WER, so the caller must never pass a test-set scorer here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from blspeech.fileio import write_text_atomic

logger = logging.getLogger("blspeech")


@dataclass(frozen=True)
class GridPoint:
    lm_weight: float
    word_score: float
    wer: float


@dataclass(frozen=True)
class TuningResult:
    """The best point (lowest WER; the first in grid order on ties) and every point tried."""

    best: GridPoint
    table: list[GridPoint]

    def format_table(self) -> str:
        lines = ["lm_weight word_score wer"]
        for point in self.table:
            mark = "  <- best" if point == self.best else ""
            lines.append(f"{point.lm_weight:g} {point.word_score:g} {point.wer:.2f}{mark}")
        return "\n".join(lines) + "\n"

    def write(self, path: str | Path) -> None:
        write_text_atomic(path, self.format_table())


def tune_lm_params(
    score_dev: Callable[[float, float], float],
    lm_weights: Sequence[float],
    word_scores: Sequence[float],
) -> TuningResult:
    """Evaluate ``score_dev`` on every ``lm_weight x word_score`` pair and return the lowest WER."""
    if not lm_weights or not word_scores:
        raise ValueError(f"empty grid: lm_weights={list(lm_weights)}, word_scores={list(word_scores)}")
    table = []
    for lm_weight in lm_weights:
        for word_score in word_scores:
            wer = float(score_dev(lm_weight, word_score))
            if not math.isfinite(wer):
                raise ValueError(f"score_dev returned {wer} for lm_weight={lm_weight}, word_score={word_score}")
            logger.info("tuning: lm_weight=%g word_score=%g dev WER %.2f%%", lm_weight, word_score, wer)
            table.append(GridPoint(lm_weight, word_score, wer))
    best = min(table, key=lambda point: point.wer)
    logger.info("tuning: best lm_weight=%g word_score=%g dev WER %.2f%%", best.lm_weight, best.word_score, best.wer)
    edges = [f"{name} {value:g}" for name, value, grid in (("lm_weight", best.lm_weight, lm_weights),
                                                             ("word_score", best.word_score, word_scores))
             if len(grid) > 1 and value in (min(grid), max(grid))]
    if edges:  # the optimum may lie beyond the grid
        logger.warning("tuning: the best point is on the edge of the grid (%s); a wider grid may do better",
                       ", ".join(edges))
    return TuningResult(best, table)
