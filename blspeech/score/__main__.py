"""Command line: ``python -m blspeech.score --ref REF.stm --hyp HYP.ctm|HYP.trn [--glm G.glm] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys

from blspeech.score.errors import ScoreInputError
from blspeech.score.report import format_summary
from blspeech.score.scorer import BACKENDS, HYP_FORMATS, score


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.score",
        description="Score a ctm or trn hypothesis against an stm reference the NIST hub5 way "
        "(GLM mapping, %HESITATION, contractions, fragments, optionally deletable words), "
        "with per-speaker and SWB/CallHome subset rows.",
    )
    parser.add_argument("--ref", required=True, help="reference stm file")
    parser.add_argument("--hyp", required=True, help="hypothesis ctm (with times) or trn (words (utt-id) per line)")
    parser.add_argument("--glm", help="NIST GLM mapping file (default: no mapping rules)")
    parser.add_argument("--out", help="directory for the .sys/.raw/.pra/.dtl/.json reports")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="builtin (pure Python), sclite (NIST SCTK) or auto (sclite if installed); default auto")
    parser.add_argument("--hyp-format", choices=HYP_FORMATS, help="hypothesis format (default: from the file name or its first line)")
    parser.add_argument("--json", action="store_true", help="print the JSON summary instead of the tables")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = score(args.ref, args.hyp, glm=args.glm, out_dir=args.out, backend=args.backend, hyp_format=args.hyp_format)
    except (ScoreInputError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.to_json() if args.json else format_summary(report, percent=True), end="")
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
