"""Completion markers that say what an output was made from.

A stage skips an output whose ``.complete`` marker exists, so a rerun is cheap. A marker that
only says "complete" would also let an output made from other inputs or settings pass as the
one asked for (a data dir prepared with another dev set size, a GMM system from another data
dir); these markers hold the settings as JSON and a rerun with different ones is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blspeech.fileio import write_text_atomic

log = logging.getLogger("blspeech")


def complete_with(marker: Path, settings: Mapping[str, Any], what: str) -> bool:
    """Whether ``marker`` says the output is complete; raise ValueError naming ``what`` and the
    differing settings if it was made with others. An earlier version's plain-text marker is
    taken as complete (said in the log: its settings cannot be checked)."""
    if not marker.exists():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        log.info("%s was made by an earlier version; its settings are not checked", what)
        return True
    wanted = json.loads(json.dumps(settings))  # as the marker holds them: tuples as lists, keys as strings
    changed = [f"{key} {recorded.get(key)} -> {value}" for key, value in wanted.items() if recorded.get(key) != value]
    if changed:
        raise ValueError(f"{what} was made with other settings ({'; '.join(changed)}): use another directory, or "
                         "remove this one to make it again")
    return True


def mark_complete(marker: Path, settings: Mapping[str, Any]) -> None:
    """Write ``marker`` with the settings the output was made with (last, atomically)."""
    write_text_atomic(marker, json.dumps(settings, indent=1) + "\n")
