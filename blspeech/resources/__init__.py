"""Files the package needs at run time (sentence bank, scoring rules), installed with it."""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Path of the shipped resource ``name``; raises FileNotFoundError naming it if absent."""
    path = RESOURCES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"blspeech resource {name!r} not found in {RESOURCES_DIR}")
    return path
