"""Kaldi data dirs from the LDC Switchboard layout: ``<out>/train``, ``<out>/dev``, ``<out>/eval2000``.

Usage (a corpus written by ``python -m blspeech.corpus.synth --out corpora/swbd_mini``)::

    python -m blspeech.data.prep --swb1 corpora/swbd_mini/LDC97S62 \\
        --transcripts corpora/swbd_mini/swb_ms98_transcriptions \\
        --hub5 corpora/swbd_mini/LDC2002S09 --hub5-transcripts corpora/swbd_mini/LDC2002T43 \\
        --out data/swbd_mini --dev-utterances 200

The same command runs on the real LDC97S62, ms98 transcripts and LDC2002S09/LDC2002T43.
All the work is :func:`blspeech.data.swbd.prepare_switchboard`; this only forwards arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from blspeech.cli import report_errors
from blspeech.data.swbd import SPH_READERS, hours_of, prepare_switchboard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.data.prep", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--swb1", required=True, type=Path, help="LDC97S62 audio: searched recursively for sw0NNNN.sph")
    parser.add_argument("--transcripts", required=True, type=Path, help="swb_ms98_transcriptions dir: searched for *-trans.text")
    parser.add_argument("--hub5", type=Path, help="LDC2002S09 (or its hub5e_00 dir) holding english/*.sph and english/hub5e_00.pem")
    parser.add_argument("--hub5-transcripts", type=Path, help="LDC2002T43 holding reference/hub5e00.english.000405.stm (default: --hub5)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the data dirs (train, dev, eval2000)")
    parser.add_argument("--dev-utterances", type=int, default=4000, help="first N training utterances held out as dev (Kaldi: 4000)")
    parser.add_argument("--max-duplicates", type=int, default=300, help="keep at most N utterances with the same text (Kaldi: 300)")
    parser.add_argument("--sph-reader", choices=SPH_READERS, default="sox", help="program the wav.scp commands use to read a channel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    def prepare() -> None:
        sets = prepare_switchboard(
            args.swb1, args.transcripts, args.hub5, args.hub5_transcripts, args.out,
            dev_utterances=args.dev_utterances, max_duplicates=args.max_duplicates, sph_reader=args.sph_reader,
        )
        for name, data in sets.items():
            print(f"{args.out / name}: {len(data.utt2spk)} utterances, {len(data.spk2utt)} speakers, {hours_of(data):.2f} h")

    return report_errors(parser.prog, prepare)


if __name__ == "__main__":
    sys.exit(main())
