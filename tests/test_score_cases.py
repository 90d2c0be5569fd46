"""The builtin back end against the SCTK numbers checked into tests/score_cases/*/expected.json.

Each case directory holds a hand-made stm/ctm (or trn) pair and the counts that NIST's
hubscr.pl / sclite produced for it (see tests/score_cases/regenerate.py). These tests need no
SCTK: they pin the builtin back end to SCTK's behaviour everywhere. The live comparison, when SCTK
is installed, is in test_score_sclite.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blspeech.score import score

CASES = Path(__file__).parent / "score_cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "expected.json").exists())


def case_inputs(case: Path) -> dict[str, Path | None]:
    """``ref``, ``hyp`` and ``glm`` paths of a case, as recorded in its expected.json."""
    inputs = json.loads((case / "expected.json").read_text())["inputs"]
    return {key: None if name is None else case / name for key, name in inputs.items()}


def test_enough_hand_made_cases():
    assert len(CASE_DIRS) >= 20
    assert sum((case / "hyp.trn").exists() for case in CASE_DIRS) >= 2


@pytest.mark.parametrize("case", CASE_DIRS, ids=[c.name for c in CASE_DIRS])
def test_builtin_reproduces_sctk_counts(case: Path):
    expected = json.loads((case / "expected.json").read_text())
    inputs = case_inputs(case)
    report = score(inputs["ref"], inputs["hyp"], glm=inputs["glm"], backend="builtin")
    assert report.total.as_dict() == expected["total"]
    assert {name: c.as_dict() for name, c in report.speakers.items()} == expected["speakers"]
    assert list(report.speakers) == list(expected["speakers"]), "speaker order differs from sclite's"
    assert {name: c.as_dict() for name, c in report.subsets.items()} == expected["subsets"]


def test_real_kaldi_output_scores_zero():
    inputs = case_inputs(CASES / "kaldi_latgen")
    report = score(inputs["ref"], inputs["hyp"], glm=inputs["glm"], backend="builtin")
    assert (report.total.words, report.total.errors, report.wer) == (13, 0, 0.0)
