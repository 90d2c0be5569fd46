"""Kaldi-style accounting of skipped table entries: warn per entry, summarise "done N of M" at the end."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SkipLog:
    """Counts processed and skipped keys of one stage so nothing is dropped silently.

    Usage: ``log.ok()`` per good entry, ``log.skip(key, reason)`` per bad one, ``log.summary()``
    once at the end (it logs and returns the line).
    """

    stage: str
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("blspeech"))
    done: int = 0
    reasons: Counter = field(default_factory=Counter)

    def ok(self, count: int = 1) -> None:
        self.done += count

    def skip(self, key: str, reason: str) -> None:
        self.reasons[reason] += 1
        self.logger.warning("%s: skipping %s: %s", self.stage, key, reason)

    @property
    def skipped(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        total = self.done + self.skipped
        line = f"{self.stage}: done {self.done} of {total}"
        if self.skipped:
            details = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
            line += f" (skipped {self.skipped}: {details})"
        self.logger.info(line)
        return line
