"""Build the GMM stage of a hybrid system: lexicon, lang, monophone and triphone GMM-HMMs,
their alignments, and the decoding graph HCLG.

    python -m blspeech.hybrid_system data/swbd_mini/train exp/swbd_mini_hybrid/gmm \\
        --dev-dir data/swbd_mini/dev [--lang-text data/swbd_mini/train/text] [--lm-order 3]

The data dirs need ``text`` and ``feats.scp`` (``python -m blspeech.features.compute``).
See :mod:`blspeech.hybrid_system.system` for the files written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from blspeech.cli import report_errors
from blspeech.hybrid_system.gmm import MonophoneConfig
from blspeech.hybrid_system.system import build_hybrid_system
from blspeech.hybrid_system.triphone import TriphoneConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.hybrid_system", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mono, tri = MonophoneConfig(), TriphoneConfig()
    parser.add_argument("data_dir", type=Path, help="training data dir (text, feats.scp, cmvn.scp)")
    parser.add_argument("out_dir", type=Path, help="where to write lang/, final.mdl, ali.1.gz, graph/ ...")
    parser.add_argument("--lang-text", type=Path, help="Kaldi text file for the vocabulary and the LM (default: DATA_DIR/text)")
    parser.add_argument("--dev-dir", type=Path, help="a data dir to align with the final model too (written to OUT_DIR/dev_ali)")
    parser.add_argument("--lm-order", type=int, default=3, help="n-gram order of the decoding graph's LM (default: %(default)s)")
    parser.add_argument("--extra-lexicon", type=Path, help="lexicon.txt lines for words cmudict lacks (take precedence)")
    parser.add_argument("--mono-iters", type=int, default=mono.num_iters, help="monophone EM iterations (default: %(default)s)")
    parser.add_argument("--mono-gaussians", type=int, default=mono.total_gaussians,
                        help="monophone target number of Gaussians (default: %(default)s)")
    parser.add_argument("--no-triphone", action="store_true", help="stop at the monophone system")
    parser.add_argument("--tri-iters", type=int, default=tri.num_iters, help="triphone EM iterations (default: %(default)s)")
    parser.add_argument("--num-leaves", type=int, help="most pdfs of the triphone tree (default: 1 per 400 frames, at most 500)")
    parser.add_argument("--tri-gaussians", type=int,
                        help="triphone target number of Gaussians (default: 1 per 100 frames, at most 5000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(1)
    monophone = MonophoneConfig(
        num_iters=args.mono_iters,
        max_iter_inc=min(MonophoneConfig.max_iter_inc, max(args.mono_iters - 1, 1)),
        total_gaussians=args.mono_gaussians,
    )
    triphone = None if args.no_triphone else TriphoneConfig(
        num_iters=args.tri_iters,
        max_iter_inc=min(TriphoneConfig.max_iter_inc, max(args.tri_iters - 1, 1)),
        num_leaves=args.num_leaves,
        total_gaussians=args.tri_gaussians,
    )

    def build() -> None:
        paths = build_hybrid_system(
            args.data_dir,
            args.lang_text or args.data_dir / "text",
            args.out_dir,
            dev_dir=args.dev_dir,
            lm_order=args.lm_order,
            extra_lexicon=args.extra_lexicon,
            monophone=monophone,
            triphone=triphone,
        )
        print(f"alignments: {paths.alignments}\ntransition model: {paths.transition_model}\ngraph: {paths.graph}")

    return report_errors("python -m blspeech.hybrid_system", build)


if __name__ == "__main__":
    sys.exit(main())
