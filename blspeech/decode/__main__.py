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
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from blspeech.allocator import retain_freed_memory
from blspeech.config import Recipe, recipe_from_dict
from blspeech.data.kaldi_dir import DataDir, DataDirError
from blspeech.decode.recognize import (beam, compute_log_probs, ctc_beam_decoder, decode_hybrid, decoding_device,
                                       feature_dataset, greedy, hybrid_graph_decoder, hybrid_loglikes, load_model,
                                       timed_words, write_hypotheses)
from blspeech.device import pick_device
from blspeech.experiment import Experiment
from blspeech.results import reference_stm
from blspeech.score import score
from blspeech.features.front_end import check_features_fit_model, training_sample_rate
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
    hybrid.add_argument("--acoustic-scale", type=float,
                        help="acoustic scale (default: tuned on dev, EXP/decode.json, else the recipe's)")
    parser.add_argument("--score", action=argparse.BooleanOptionalAction, default=True,
                        help="score against DATA/stm, or DATA/text when there is no stm (default: on)")
    parser.add_argument("--glm", type=Path, help="hub5 mapping rules for scoring (default: DATA/glm when present; "
                                                 "the decode stage scores dev with the test sets' glm)")
    return parser.parse_args(argv)


def decode_settings(run_dir: Path) -> dict:
    """What the decode stage chose for this run on its dev set (``run_dir/decode.json``), or {}."""
    path = run_dir / "decode.json"
    return json.loads(path.read_text()) if path.exists() else {}


def decode_ctc(args: argparse.Namespace, recipe: Recipe, data: DataDir, log_probs, out: Path) -> list[Path]:
    # Tokenizer, lexicon and LM are shared by the models of a recipe, in the dir above the model's.
    exp = Experiment(dataclasses.replace(recipe, exp_dir=str(args.exp.parent)))
    tokenizer = Tokenizer.load(exp.tokenizer_model)
    shift = recipe.features.frame_shift_ms / 1000
    write_hypotheses(out / "greedy", timed_words(greedy(log_probs, tokenizer, shift)), data)
    written = [out / "greedy"]
    if args.greedy_only:
        return written
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
    write_hypotheses(out / "lm", timed_words(beam(log_probs, decoder, lm_weight, word_score, shift)), data)
    return written + [out / "lm"]


def decode_with_graph(args: argparse.Namespace, recipe: Recipe, data: DataDir, log_probs, out: Path) -> list[Path]:
    from blspeech.hybrid import load_transition_model
    from blspeech.hybrid_training import PRIOR_COUNTS

    if args.graph is None:
        raise SystemExit("--hybrid needs --graph HCLG.fst")
    transition_model = None
    if args.model or args.tree or args.topo:
        transition_model = load_transition_model(args.model, tree=args.tree, topo=args.topo)
    tuned = decode_settings(args.exp).get("acoustic_scale")
    scale = args.acoustic_scale if args.acoustic_scale is not None else tuned
    decoder = hybrid_graph_decoder(recipe, args.graph, args.words, transition_model=transition_model,
                                   acoustic_scale=scale)
    source = "--acoustic-scale" if args.acoustic_scale is not None else (
        f"the run's dev tuning, {args.exp / 'decode.json'}" if tuned is not None else "the recipe's")
    log.info("decode: acoustic scale %g (%s)", decoder.acoustic_scale, source)
    write_hypotheses(out / "graph", decode_hybrid(hybrid_loglikes(log_probs, args.exp / PRIOR_COUNTS), decoder), data)
    return [out / "graph"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    model, state = load_model(args.exp / "final.pt")
    recipe = recipe_from_dict(state["recipe"], f"{args.exp / 'final.pt'}")
    hybrid = state.get("objective") == "hybrid"
    if args.hybrid != hybrid:
        raise SystemExit(f"{args.exp} holds a {'hybrid' if hybrid else 'CTC'} model: "
                         f"{'add' if hybrid else 'drop'} --hybrid")
    data = DataDir.read(args.data)
    try:
        check_features_fit_model(args.data, recipe.features, training_sample_rate(state, recipe),
                                 str(args.exp / "final.pt"))
    except DataDirError as error:
        raise SystemExit(f"blspeech.decode: error: {error}") from None
    out = args.out or args.exp / f"decode_{args.data.name}"
    try:
        device = pick_device(args.device, "--device") if args.device else decoding_device(recipe)
    except (RuntimeError, ValueError) as error:  # a GPU this machine lacks, or no device of that name
        raise SystemExit(f"blspeech.decode: error: {error}") from None
    stm = None
    if args.score:  # before decoding: text that leaves out utterances fails now, not after the decode
        out.mkdir(parents=True, exist_ok=True)
        try:
            stm = reference_stm(args.data, out / REFERENCE_STM, recipe.features.frame_shift_ms)
        except ValueError as error:
            raise SystemExit(f"blspeech.decode: error: {error} (--no-score decodes without scoring)") from None
    log_probs = compute_log_probs(model, feature_dataset(recipe, args.data), device=device)
    written = (decode_with_graph if hybrid else decode_ctc)(args, recipe, data, log_probs, out)
    if stm is not None:
        glm = args.glm or (args.data / "glm" if (args.data / "glm").exists() else None)
        for directory in written:
            print(score(stm, directory / "hyp.ctm", glm=glm, out_dir=directory).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
