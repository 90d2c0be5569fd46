"""Export a trained run.

    python -m blspeech.export model --exp exp/swbd_mini/bl-vgg-small [--out DIR]
    python -m blspeech.export loglikes --exp exp/swbd/bl-vgg --data data/swbd/eval2000 --out DIR \\
        [--model exp/tri4/final.mdl] [--graph exp/tri4/graph/HCLG.fst]

``model`` writes model.ts, model.onnx, features.json, fbank.conf, verification.json and the units (tokens or
priors), by default into EXP/export. ``loglikes`` (hybrid runs) writes DIR/loglikes.ark and .scp
and prints the latgen-faster-mapped command line that decodes them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from blspeech.allocator import retain_freed_memory
from blspeech.export.loglikes import export_loglikes
from blspeech.export.model_files import ExportVerificationError, export_model

log = logging.getLogger("blspeech")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m blspeech.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model", help="TorchScript + ONNX + features.json, verified against the eager model")
    model.add_argument("--exp", required=True, help="trained run dir holding final.pt (exp/RECIPE/MODEL)")
    model.add_argument("--out", help="output dir (default: EXP/export)")
    loglikes = commands.add_parser("loglikes", help="hybrid log posterior - log prior per utterance as a Kaldi ark")
    loglikes.add_argument("--exp", required=True, help="trained hybrid run dir holding final.pt")
    loglikes.add_argument("--data", required=True, help="featurized data dir (feats.scp, cmvn.scp, utt2spk)")
    loglikes.add_argument("--out", required=True, help="output dir for loglikes.ark and loglikes.scp")
    loglikes.add_argument("--model", help="Kaldi final.mdl to decode with; its pdf count must equal the outputs "
                                          "(default: the recipe's hybrid.transition_model)")
    loglikes.add_argument("--priors", help="pdf counts, analyze-counts format (default: EXP/ali_train_pdf.counts)")
    loglikes.add_argument("--graph", help="HCLG.fst for the printed decoding command (default: recipe's hybrid.graph)")
    loglikes.add_argument("--max-frames", type=int, default=20000, help="padded frames per batch (default 20000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    retain_freed_memory()
    try:
        if args.command == "model":
            result = export_model(args.exp, args.out)
            for path in result.files.values():
                print(path)
        else:
            export = export_loglikes(args.exp, args.data, args.out, transition_model=args.model, priors=args.priors,
                                     graph=args.graph, max_frames=args.max_frames)
            print(export.latgen_command)
            log.info("decode with the command above (%d utterances in %s)", export.ark.num_utterances, export.ark.scp)
    except (ValueError, OSError, ExportVerificationError) as err:  # bad arguments or files: one line, as Kaldi tools
        log.error("%s: %s", args.command, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
