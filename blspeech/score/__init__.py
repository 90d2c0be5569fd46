"""sclite-compatible WER scoring (stm reference, ctm/trn hypothesis, GLM, hub5 rules); no torch.

>>> report = score("data/eval2000/stm", "exp/run/decode_eval2000/hyp.ctm", glm="data/eval2000/glm")
>>> report.summary()   # '%WER 18.20 [ ... ] SWB 12.80 CallHome 23.60 ...'

Back ends: ``builtin`` (pure Python, reproduces hubscr.pl's counts exactly) and ``sclite`` (runs
NIST SCTK when installed); ``auto`` picks sclite when available.
"""

from blspeech.score.ctm import CtmWord, read_ctm, write_ctm
from blspeech.score.errors import ScoreInputError
from blspeech.score.report import Counts, ScoreReport, SegmentResult, write_report
from blspeech.score.sclite_backend import sctk_available
from blspeech.score.scorer import score
from blspeech.score.stm import StmSegment, read_stm
from blspeech.score.trn import TrnUtterance, read_trn, write_trn

__all__ = [
    "Counts",
    "CtmWord",
    "ScoreInputError",
    "ScoreReport",
    "SegmentResult",
    "StmSegment",
    "TrnUtterance",
    "read_ctm",
    "read_stm",
    "read_trn",
    "score",
    "sctk_available",
    "write_ctm",
    "write_report",
    "write_trn",
]
