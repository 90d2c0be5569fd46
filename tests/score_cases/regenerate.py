"""Regenerate ``expected.json`` in every case directory by running the real NIST SCTK.

Usage (needs the Debian package ``sctk`` or SCTK on PATH):

    .venv/bin/python tests/score_cases/regenerate.py

A case directory holds ``ref.stm``, ``hyp.ctm`` or ``hyp.trn``, an optional ``rules.glm`` (else
the shared ``hub5.glm`` is used, unless the case is listed in ``NO_GLM``) and ``README``, one line
saying what the case covers; ``expected.json`` records the inputs used and SCTK's counts. The expected counts are SCTK's: ``hubscr.pl -V -l english -h hub5``
for ctm hypotheses, ``csrfilt.sh`` + ``sclite -F -D`` for trn hypotheses; the sclite back end
refuses to return alignments that disagree with SCTK's own per-speaker ``.raw`` table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent
sys.path.insert(0, str(CASES.parents[1]))

from blspeech.score import score  # noqa: E402
from blspeech.score.sclite_backend import find_sctk  # noqa: E402

NO_GLM = {"plain_errors", "tie_prefers_substitution"}


def case_glm(case: Path) -> Path | None:
    if case.name in NO_GLM:
        return None
    return case / "rules.glm" if (case / "rules.glm").exists() else CASES / "hub5.glm"


def case_hyp(case: Path) -> Path:
    return case / "hyp.trn" if (case / "hyp.trn").exists() else case / "hyp.ctm"


def main() -> None:
    sctk = find_sctk()
    if sctk is None:
        sys.exit("SCTK not found: install the Debian package 'sctk' (or set SCTK_BIN)")
    done = subprocess.run([str(sctk / "sclite")], capture_output=True, text=True)
    banner = done.stdout + done.stderr
    version = next((line.strip() for line in banner.splitlines() if "Version" in line), "sclite")
    for case in sorted(p for p in CASES.iterdir() if (p / "ref.stm").exists()):
        glm, hyp = case_glm(case), case_hyp(case)
        report = score(case / "ref.stm", hyp, glm=glm, backend="sclite")
        expected = {
            "description": (case / "README").read_text(encoding="utf-8").strip(),
            "inputs": {"ref": "ref.stm", "hyp": hyp.name, "glm": None if glm is None else os.path.relpath(glm, case)},
            "generated_by": f"blspeech sclite back end with SCTK in {sctk} ({version})",
            "total": report.total.as_dict(),
            "speakers": {name: counts.as_dict() for name, counts in report.speakers.items()},
            "subsets": {name: counts.as_dict() for name, counts in report.subsets.items()},
        }
        (case / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
        print(f"{case.name:32s} {report.summary()}")


if __name__ == "__main__":
    main()
