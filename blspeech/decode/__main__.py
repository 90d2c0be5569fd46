"""python -m blspeech.decode: decode one data set with one trained model.

CTC models (greedy and LM beam search; LM settings from the run's dev tuning unless given):
    python -m blspeech.decode --exp exp/swbd_mini/bl-vgg-small --data data/swbd_mini/eval2000

Hybrid models through a Kaldi HCLG (kaldi-decoder, the algorithm of Kaldi's decoders; acoustic
scale from the run's dev tuning when it had one, else the recipe's, unless given):
    python -m blspeech.decode --hybrid --exp exp/RUN --data data/eval2000 \\
        --graph exp/tri/graph/HCLG.fst --model exp/tri/final.mdl     (or --tree tree --topo lang/topo)

Writes DIR/<mode>/hyp.trn, hyp.ctm and recognitions.txt (DIR defaults to EXP/decode_<set>), then
scores them against the data dir's stm (and glm), or, for a data dir with text but no stm, against
DIR/ref.stm written from its text and segments.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from blspeech.allocator import retain_freed_memory
from blspeech.config import Recipe, recipe_from_dict
from blspeech.data.kaldi_dir import DataDir
from blspeech.decode.recognize import (LogProbs, beam, compute_log_probs, ctc_beam_decoder, decode_hybrid,
                                       decode_settings, decoding_device, feature_dataset, greedy, hybrid_graph_decoder,
                                       hybrid_loglikes, load_model, timed_words, write_hypotheses)
from blspeech.device import pick_device
from blspeech.experiment import Experiment
from blspeech.features.front_end import check_features_fit_model, training_sample_rate
from blspeech.results import reference_stm
from blspeech.score import score
from blspeech.tokenizer import Tokenizer

log = logging.getLogger("blspeech")
REFERENCE_STM = "ref.stm"  # written beside the decodes for a data dir with text but no stm


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m blspeech.decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, required=True, help="trained model dir (holds final.pt)")
    parser.add_argument("--data", type=Path, required=True, help="Kaldi data dir with feats.scp")
    parser.add_argument("--out", type=Path, help="output dir (default: EXP/decode_<data dir name>)")
    parser.add_argument("--device", help="where the network runs: auto, cpu, cuda[:N] (default: the run's decode.device)")
    ctc = parser.add_argument_group("CTC models")
    ctc.add_argument("--lm", type=Path, help="ARPA word LM (default: the recipe's, beside the tokenizer)")
    ctc.add_argument("--lm-weight", type=float, help="LM weight (default: tuned on dev, EXP/decode.json)")
    ctc.add_argument("--word-score", type=float, help="word insertion score (default: tuned on dev)")
    ctc.add_argument("--greedy-only", action="store_true", help="skip the LM beam search")
    hybrid = parser.add_argument_group("hybrid models")
    hybrid.add_argument("--hybrid", action="store_true", help="decode a hybrid model with an HCLG graph")
    hybrid.add_argument("--graph", type=Path, help="HCLG.fst (words.txt and phones/word_boundary.int beside it)")
    hybrid.add_argument("--model", type=Path, help="Kaldi final.mdl (or give --tree and --topo)")
    hybrid.add_argument("--tree", type=Path, help="Kaldi tree")
    hybrid.add_argument("--topo", type=Path, help="Kaldi lang/topo")
    hybrid.add_argument("--words", type=Path, help="words.txt (default: beside the graph)")
    hybrid.add_argument("--word-boundary", type=Path,
                        help="lang/phones/word_boundary.int (default: phones/word_boundary.int beside the graph, "
                             "where utils/mkgraph.sh puts it)")
    hybrid.add_argument("--acoustic-scale", type=float,
                        help="acoustic scale (default: tuned on dev, EXP/decode.json, else the recipe's)")
    parser.add_argument("--score", action=argparse.BooleanOptionalAction, default=True,
                        help="score against DATA/stm, or DATA/text when there is no stm (default: on)")
    parser.add_argument("--glm", type=Path, help="hub5 mapping rules for scoring (default: DATA/glm when present; "
                                                 "the decode stage scores dev with the test sets' glm)")
    return parser.parse_args(argv)


Decoding = Callable[[LogProbs], list[Path]]  # the network's outputs -> the decode dirs written


def ctc_decoding(args: argparse.Namespace, recipe: Recipe, data: DataDir, out: Path) -> Decoding:
    """Greedy and (unless --greedy-only) LM beam search, set up before the network runs, so a
    missing tokenizer, LM or tuned setting fails before the data set is computed."""
    # Tokenizer, lexicon and LM are shared by the models of a recipe, in the dir above the model's.
    exp = Experiment(dataclasses.replace(recipe, exp_dir=str(args.exp.parent)))
    tokenizer = Tokenizer.load(exp.tokenizer_model)
    shift = recipe.features.frame_shift_ms / 1000
    decoder = None
    if not args.greedy_only:
        tuned_path = args.exp / "decode.json"
        tuned = decode_settings(args.exp)
        lm_weight = args.lm_weight if args.lm_weight is not None else tuned.get("lm_weight")
        word_score = args.word_score if args.word_score is not None else tuned.get("word_score")
        if lm_weight is None or word_score is None:
            raise SystemExit(f"no tuned LM settings in {tuned_path}: give --lm-weight and --word-score")
        log.info("decode: LM weight %g, word score %g (%s)", lm_weight, word_score,
                 "given" if args.lm_weight is not None and args.word_score is not None else f"tuned on dev, {tuned_path}")
        another_lm = args.lm is not None and Path(args.lm).resolve() != exp.arpa.resolve()
        if another_lm and (args.lm_weight is None or args.word_score is None):
            log.warning("decode: %s holds settings tuned with %s, not with --lm %s; give --lm-weight and --word-score "
                        "tuned for that LM", tuned_path, exp.arpa, args.lm)
        decoder = ctc_beam_decoder(exp, args.lm)

    def decode(log_probs: LogProbs) -> list[Path]:
        write_hypotheses(out / "greedy", timed_words(greedy(log_probs, tokenizer, shift)), data)
        if decoder is None:
            return [out / "greedy"]
        write_hypotheses(out / "lm", timed_words(beam(log_probs, decoder, lm_weight, word_score, shift)), data)
        return [out / "greedy", out / "lm"]

    return decode


def graph_decoding(args: argparse.Namespace, recipe: Recipe, num_outputs: int, data: DataDir, out: Path) -> Decoding:
    """HCLG decoding of log posterior - log prior, set up (graph, transition model, priors, their
    pdf count against the network's ``num_outputs``) before the network runs."""
    from blspeech.hybrid import check_num_outputs, load_transition_model
    from blspeech.hybrid_training import PRIOR_COUNTS

    if args.graph is None:
        raise SystemExit("--hybrid needs --graph HCLG.fst")
    transition_model = None
    if args.model or args.tree or args.topo:
        transition_model = load_transition_model(args.model, tree=args.tree, topo=args.topo)
    tuned = decode_settings(args.exp).get("acoustic_scale")
    scale = args.acoustic_scale if args.acoustic_scale is not None else tuned
    decoder = hybrid_graph_decoder(recipe, args.graph, args.words, word_boundary=args.word_boundary,
                                   transition_model=transition_model, acoustic_scale=scale)
    kaldi_model = args.model or args.tree or recipe.hybrid.transition_model or recipe.hybrid.tree
    check_num_outputs(num_pdfs=decoder.num_pdfs, num_outputs=num_outputs, network=str(args.exp / "final.pt"),
                      kaldi=str(kaldi_model))
    priors = args.exp / PRIOR_COUNTS
    if not priors.is_file():
        raise FileNotFoundError(f"priors {priors} not found (hybrid training writes them beside final.pt)")
    source = "--acoustic-scale" if args.acoustic_scale is not None else (
        f"the run's dev tuning, {args.exp / 'decode.json'}" if tuned is not None else "the recipe's")
    log.info("decode: acoustic scale %g (%s)", decoder.acoustic_scale, source)

    def decode(log_probs: LogProbs) -> list[Path]:
        write_hypotheses(out / "graph", decode_hybrid(hybrid_loglikes(log_probs, priors), decoder), data)
        return [out / "graph"]

    return decode


def decode_data_dir(args: argparse.Namespace) -> None:
    """Everything that can fail on a file or setting is checked before the network runs over the data."""
    model, state = load_model(args.exp / "final.pt")
    recipe = recipe_from_dict(state["recipe"], f"{args.exp / 'final.pt'}")
    hybrid = state.get("objective") == "hybrid"
    if args.hybrid != hybrid:
        raise SystemExit(f"{args.exp} holds a {'hybrid' if hybrid else 'CTC'} model: "
                         f"{'add' if hybrid else 'drop'} --hybrid")
    data = DataDir.read(args.data)
    check_features_fit_model(args.data, recipe.features, training_sample_rate(state, recipe),
                             str(args.exp / "final.pt"))
    out = args.out or args.exp / f"decode_{args.data.name}"
    try:
        device = pick_device(args.device, "--device") if args.device else decoding_device(recipe)
    except RuntimeError as error:  # a GPU this machine lacks
        raise ValueError(str(error)) from None
    stm = None
    if args.score:  # before decoding: text that leaves out utterances fails now, not after the decode
        out.mkdir(parents=True, exist_ok=True)
        try:
            stm = reference_stm(args.data, out / REFERENCE_STM, recipe.features.frame_shift_ms)
        except ValueError as error:
            raise ValueError(f"{error} (--no-score decodes without scoring)") from None
    decode = (graph_decoding(args, recipe, model.num_outputs, data, out) if hybrid
              else ctc_decoding(args, recipe, data, out))
    written = decode(compute_log_probs(model, feature_dataset(recipe, args.data), device=device))
    if stm is not None:
        glm = args.glm or (args.data / "glm" if (args.data / "glm").exists() else None)
        for directory in written:
            print(score(stm, directory / "hyp.ctm", glm=glm, out_dir=directory).summary())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        decode_data_dir(args)
    except (ValueError, OSError) as error:  # bad arguments or files: one line, as Kaldi tools report it
        raise SystemExit(f"blspeech.decode: error: {error}") from None
    return 0

if __name__ == "__main__":
    sys.exit(main())
