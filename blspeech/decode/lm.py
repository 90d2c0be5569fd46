"""Word n-gram language model in ARPA format, estimated from the training transcripts.

The estimator is kaldingram (PyPI; the Kaldi ``make_kn_lm.py`` lineage): back-off, unmodified
Kneser-Ney, the same model as SRILM's ``ngram-count -ukndiscount -kn-modify-counts-at-end``,
without count cut-offs, so no KenLM or SRILM binaries are needed. The ARPA text loads in the
flashlight/KenLM beam search (:mod:`blspeech.decode.ctc`) and in kaldilm's ``arpa2fst`` for
decoding graphs.

Notes on the model it writes: the vocabulary is closed (every training word, plus ``<s>`` and
``</s>``; there is no ``<unk>`` entry, so KenLM warns and gives unseen words log10 p = -100),
and unigram probabilities are not discounted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from kaldingram.train import NgramCounts

from blspeech.data.kaldi_dir import read_table
from blspeech.fileio import atomic_write

logger = logging.getLogger("blspeech")

MIN_ORDER, MAX_ORDER = 2, 5
# Kneser-Ney's discount D = n1 / (n1 + 2 n2) reaches 1 when no n-gram of an order was seen twice
# (a tiny text); D = 1 would leave every seen n-gram probability 0 (log10 -99 in the ARPA).
MAX_DISCOUNT = 0.9


def build_arpa(texts: Iterable[str], out_path: str | Path, order: int = 3) -> Path:
    """Estimate an ``order``-gram Kneser-Ney LM from ``texts`` (one sentence each) and write it as ARPA.

    Empty sentences are left out (they would only inflate p(</s> | <s>)). The file is written
    atomically; returns ``out_path``.
    """
    if not isinstance(order, int) or not MIN_ORDER <= order <= MAX_ORDER:
        raise ValueError(f"order must be an int in {MIN_ORDER}..{MAX_ORDER}, got {order!r}")
    counts = NgramCounts(order)
    sentences = 0
    for text in texts:
        words = text.split()
        if words:
            counts.add_raw_counts_from_line(" ".join(words))
            sentences += 1
    if sentences == 0:
        raise ValueError(f"cannot build {out_path}: no non-empty sentences")
    out_path = Path(out_path)
    # kaldingram draws a dozen tqdm bars on stderr for its internal passes; keep the log readable.
    with contextlib.redirect_stderr(io.StringIO()):
        counts.cal_discounting_constants()
        counts.d = [min(discount, MAX_DISCOUNT) for discount in counts.d]
        counts.cal_f()
        counts.cal_bow()
        with atomic_write(out_path) as handle:
            counts.print_as_arpa(handle)
    logger.info("lm: %d-gram ARPA from %d sentences written to %s", order, sentences, out_path)
    return out_path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.decode.lm",
        description="Build a Kneser-Ney word n-gram LM (ARPA) from a Kaldi 'text' file (utterance ids are dropped).",
    )
    parser.add_argument("text", type=Path, help="Kaldi text file (utt-id transcript per line)")
    parser.add_argument("out", type=Path, help="output ARPA file, e.g. exp/run/lm.arpa")
    parser.add_argument("--order", type=int, default=3, help=f"n-gram order, {MIN_ORDER}..{MAX_ORDER} (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_arpa(read_table(args.text).values(), args.out, args.order)


if __name__ == "__main__":
    main()
