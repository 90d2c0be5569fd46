"""``score()``: pick a back end, score, write the reports."""

from __future__ import annotations

import os
from pathlib import Path

from blspeech.score import builtin, sclite_backend
from blspeech.score.report import ScoreReport, write_report

BACKENDS = ("auto", "builtin", "sclite")
HYP_FORMATS = ("ctm", "trn")


def detect_hyp_format(hyp: str | os.PathLike) -> str:
    """``ctm`` or ``trn`` from the file name, else from the first line (trn lines end with ``(id)``)."""
    suffix = Path(hyp).suffix.lower().lstrip(".")
    if suffix in HYP_FORMATS:
        return suffix
    with open(hyp, encoding="utf-8") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped and not stripped.startswith(";"):
                return "trn" if stripped.endswith(")") else "ctm"
    return "ctm"


def resolve_backend(backend: str) -> str:
    """``auto`` means sclite when SCTK is installed, else builtin; asking for a missing sclite is an error."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "sclite" if sclite_backend.sctk_available() else "builtin"
    if backend == "sclite" and not sclite_backend.sctk_available():
        raise RuntimeError("backend 'sclite' asked for, but SCTK (hubscr.pl, sclite, csrfilt.sh, rfilter1) was not found; install 'sctk' or set SCTK_BIN")
    return backend


def score(
    ref_stm: str | os.PathLike,
    hyp: str | os.PathLike,
    *,
    glm: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    backend: str = "auto",
    hyp_format: str | None = None,
) -> ScoreReport:
    """Score a ctm or trn hypothesis against an stm reference with the hub5 rules.

    ``glm``: NIST GLM file (None: no mapping rules, the other hub5 rules still apply).
    ``out_dir``: if given, the .sys/.raw/.pra/.dtl/.json reports go there (named after the
    hypothesis file), and the sclite back end keeps SCTK's own files in ``out_dir/sclite``.
    ``backend``: ``builtin``, ``sclite`` or ``auto``. ``hyp_format``: ``ctm``/``trn`` (default:
    detected). Raises ScoreInputError (a ValueError) naming file and line for malformed input.
    """
    if hyp_format is not None and hyp_format not in HYP_FORMATS:
        raise ValueError(f"hyp_format must be one of {HYP_FORMATS}, got {hyp_format!r}")
    chosen = resolve_backend(backend)
    kind = hyp_format or detect_hyp_format(hyp)
    if chosen == "builtin":
        segments = (builtin.score_ctm if kind == "ctm" else builtin.score_trn)(ref_stm, hyp, glm)
    else:
        work_dir = Path(out_dir) / "sclite" if out_dir is not None else None
        segments = (sclite_backend.score_ctm if kind == "ctm" else sclite_backend.score_trn)(ref_stm, hyp, glm, work_dir)
    report = ScoreReport(chosen, str(ref_stm), str(hyp), str(glm) if glm is not None else None, segments)
    if out_dir is not None:
        write_report(report, out_dir)
    return report
