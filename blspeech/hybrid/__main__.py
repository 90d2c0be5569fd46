"""Kaldi-side preparation for hybrid training, named after the Kaldi tools it replaces.

    python -m blspeech.hybrid num-pdfs exp/tri4/final.mdl
    python -m blspeech.hybrid ali-to-pdf --model exp/tri4_ali/final.mdl exp/tri4_ali exp/run/pdf_ali.ark
    python -m blspeech.hybrid ali-to-pdf --tree exp/tri4/tree --topo data/lang/topo 'ark:gunzip -c ali.1.gz|' out.ark
    python -m blspeech.hybrid analyze-counts --model exp/tri4_ali/final.mdl exp/tri4_ali exp/run/ali_train_pdf.counts
"""

from __future__ import annotations

import argparse
import logging
import sys

from blspeech.hybrid.alignments import TABLE_SPECIFIER, pdf_alignments, read_int32_vectors, write_int32_vectors
from blspeech.hybrid.priors import count_pdfs, write_counts
from blspeech.hybrid.transition_model import load_transition_model, num_pdfs


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="Kaldi model whose transition model made the alignments (final.mdl)")
    parser.add_argument("--tree", help="Kaldi tree (with --topo, instead of --model)")
    parser.add_argument("--topo", help="topology, e.g. data/lang/topo (with --tree)")
    parser.add_argument(
        "alignments", help="transition-id alignments: ark/scp file, ali.N.gz, an ali dir of ali.*.gz, or an rspecifier"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m blspeech.hybrid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    count = commands.add_parser("num-pdfs", help="print the pdf count (= hybrid network outputs) of final.mdl or tree")
    count.add_argument("model_or_tree")
    to_pdf = commands.add_parser("ali-to-pdf", help="transition-id alignments -> binary ark of pdf-id alignments")
    _add_model_options(to_pdf)
    to_pdf.add_argument("output", help="output ark of int32 pdf-id vectors: a file name, ark:FILE or ark,t:FILE (text)")
    counts = commands.add_parser("analyze-counts", help="pdf frame counts as 'analyze-counts --binary=false' writes")
    _add_model_options(counts)
    counts.add_argument("output", help="output counts file ( [ c0 c1 ... ])")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    log = logging.getLogger("blspeech")
    try:
        if args.command == "num-pdfs":
            print(num_pdfs(args.model_or_tree))
            return 0
        if args.command == "analyze-counts" and TABLE_SPECIFIER.match(args.output):
            raise ValueError(f"{args.output}: analyze-counts writes one counts file, not a table: give a file name")
        model = load_transition_model(args.model, tree=args.tree, topo=args.topo)
        pdfs = pdf_alignments(read_int32_vectors(args.alignments), model)
        if args.command == "ali-to-pdf":
            written = write_int32_vectors(args.output, pdfs)
            log.info("ali-to-pdf: converted %d alignments to %s", written, args.output)
        else:
            counts = count_pdfs(pdfs, int(model.num_pdfs))
            write_counts(args.output, counts)
            log.info("analyze-counts: %d frames, %d of %d pdfs unseen", counts.sum(), (counts == 0).sum(), counts.size)
    except (ValueError, OSError) as err:  # bad arguments or files: one line, as Kaldi tools report it
        log.error("%s: %s", args.command, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
