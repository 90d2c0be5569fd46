"""Run a trained acoustic model over a data dir and turn its outputs into recognitions.

``decode_experiment`` is the recipe's decode stage for one model: log-probabilities for dev and
test sets are computed once, decoded greedily and with the LM beam search (LM weight and word
score tuned on dev, then applied unchanged to the test sets), and written per set as
``decode_<set>/<greedy|lm>/hyp.trn``, ``hyp.ctm`` and ``recognitions.txt``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import kaldialign
import numpy as np
import torch

from blspeech.config import Recipe
from blspeech.data.kaldi_dir import DataDir
from blspeech.decode.ctc import BeamSearchDecoder, Hypothesis, greedy_decode
from blspeech.decode.tuning import tune_lm_params
from blspeech.device import pick_device
from blspeech.experiment import Experiment
from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.hybrid import HybridGraphDecoder, log_priors, loglikes_from_log_posteriors, read_counts
from blspeech.hybrid.words import WordAlignmentError
from blspeech.loader import FeatureDataset, FrameBucketSampler, collate
from blspeech.models import AcousticModel, build_model
from blspeech.models.inference import prepare_for_inference
from blspeech.score.ctm import write_ctm
from blspeech.score.rules import drop_non_scored_words
from blspeech.score.trn import write_trn
from blspeech.skips import SkipLog
from blspeech.tokenizer import Tokenizer
from blspeech.training.checkpoint import load_checkpoint

log = logging.getLogger("blspeech")


@dataclass
class LogProbs:
    """Per-utterance ``(T', V)`` log-probabilities of one data set and the model's time subsampling."""

    utterances: dict[str, torch.Tensor]
    subsampling: int

    def batches(self, size: int = 16):
        """``(utt_ids, log_probs (B, T', V), lengths (B,))`` in groups of ``size`` utterances."""
        ids = list(self.utterances)
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            lengths = torch.tensor([self.utterances[u].shape[0] for u in chunk])
            padded = torch.nn.utils.rnn.pad_sequence([self.utterances[u] for u in chunk], batch_first=True)
            yield chunk, padded, lengths


def load_model(weights_path: str | Path) -> tuple[AcousticModel, dict]:
    """Rebuild a model from ``final.pt`` (its architecture is stored beside the weights)."""
    state = load_checkpoint(weights_path)
    model = build_model(**state["model_config"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def feature_dataset(recipe: Recipe, data_dir: str | Path, targets=None, train: bool = False) -> FeatureDataset:
    """The dataset exactly as the recipe's features section describes it (SpecAugment only for training)."""
    from blspeech.features.specaugment import SpecAugmentConfig

    feats = recipe.features
    augment = SpecAugmentConfig(**vars(feats.specaugment_settings)) if train and feats.specaugment else None
    return FeatureDataset(data_dir, targets=targets, cmvn=feats.cmvn, norm_vars=feats.norm_vars,
                          channels=feats.channels, specaugment=augment, seed=recipe.seed)


def utterance_frames(recipe: Recipe, data_dir: str | Path) -> dict[str, int]:
    """Feature frames per usable utterance of a featurized data dir (what targets are checked against)."""
    plain = feature_dataset(recipe, data_dir)
    return dict(zip(plain.utt_ids, plain.num_frames))


def ctc_beam_decoder(exp: Experiment, lm: str | Path | None = None) -> BeamSearchDecoder:
    """The recipe's lexicon beam search over the experiment's tokenizer, lexicon and ARPA (or ``lm``)."""
    decode = exp.recipe.decode
    return BeamSearchDecoder(Tokenizer.load(exp.tokenizer_model), exp.lexicon, lm or exp.arpa,
                             beam_size=decode.beam_size, beam_threshold=decode.beam_threshold)


def decoding_device(recipe: Recipe) -> torch.device:
    """The device the recipe's ``decode.device`` names ("auto": a GPU when there is one)."""
    return pick_device(recipe.decode.device, "decode.device")


@torch.no_grad()
def compute_log_probs(model: torch.nn.Module, dataset: FeatureDataset, max_frames: int = 20000,
                      device: torch.device | None = None) -> LogProbs:
    """Log-softmax outputs of ``model`` for every utterance of ``dataset`` (batched by length),
    computed on ``device`` (default: where the model is); the log-probabilities come back on the CPU.

    The network runs as an inference-ready copy (``prepare_for_inference``: batch norms folded,
    channels-last), so the caller's model, in training or not, is left as it is.
    """
    dataset.check_num_mel_bins(model.num_mel_bins)
    ready = prepare_for_inference(model)
    if device is not None:
        ready = ready.to(device)
    device = next(ready.parameters()).device
    outputs: dict[str, torch.Tensor] = {}
    for indices in FrameBucketSampler(dataset.num_frames, max_frames=max_frames, shuffle=False, seed=0):
        batch = collate([dataset[i] for i in indices]).to(device)
        logits, lengths = ready(batch.feats.contiguous(memory_format=torch.channels_last), batch.lengths)
        log_probs = logits.float().log_softmax(dim=-1).cpu()
        for row, utt in enumerate(batch.utt_ids):
            outputs[utt] = log_probs[row, : int(lengths[row])].clone()
    ordered = {utt: outputs[utt] for utt in sorted(outputs)}
    return LogProbs(ordered, ready.time_subsampling)


def greedy(log_probs: LogProbs, tokenizer: Tokenizer, frame_shift_s: float) -> dict[str, Hypothesis]:
    hyps: dict[str, Hypothesis] = {}
    for ids, batch, lengths in log_probs.batches():
        decoded = greedy_decode(batch, lengths, tokenizer, subsampling=log_probs.subsampling, frame_shift_s=frame_shift_s)
        hyps.update(zip(ids, decoded))
    return hyps


def beam(log_probs: LogProbs, decoder: BeamSearchDecoder, lm_weight: float, word_score: float,
         frame_shift_s: float) -> dict[str, Hypothesis]:
    hyps: dict[str, Hypothesis] = {}
    for ids, batch, lengths in log_probs.batches():
        decoded = decoder(batch, lengths, lm_weight=lm_weight, word_score=word_score,
                          subsampling=log_probs.subsampling, frame_shift_s=frame_shift_s)
        hyps.update(zip(ids, decoded))
    return hyps


def hypothesis_wer(hyps: dict[str, Hypothesis], references: dict[str, str]) -> float:
    """Word error rate (%) of ``hyps`` against Kaldi ``text`` references, for dev monitoring and tuning.

    Non-scored words ([noise], [laughter], <unk>, ...) are dropped from both sides as the hub5
    rules do; the NIST-style scoring of test sets (stm, glm) is ``blspeech.score``'s job.
    """
    return text_wer({utt: hyp.text for utt, hyp in hyps.items()}, references)


def text_wer(hyp_texts: dict[str, str], references: dict[str, str]) -> float:
    """``hypothesis_wer`` of plain hypothesis texts (utt -> words separated by spaces).

    The decoded utterances are scored: a reference without a hypothesis is one the feature
    loader skipped (it counts and logs them); a hypothesis without a reference is an error.
    """
    missing = [utt for utt in hyp_texts if utt not in references]
    if missing:
        raise ValueError(f"{len(missing)} decoded utterances have no reference text, e.g. {missing[0]} "
                         "(hypotheses and text of different data dirs?)")
    errors = words = 0
    for utt, text in hyp_texts.items():
        ref = drop_non_scored_words(references[utt]).split()
        counts = kaldialign.edit_distance(ref, drop_non_scored_words(text).split())
        errors, words = errors + counts["total"], words + len(ref)
    return 100.0 * errors / max(1, words)


TimedWords = list[tuple[str, float, float]]  # (word, start_s from the utterance start, duration_s)


def timed_words(hyps: dict[str, Hypothesis]) -> dict[str, TimedWords]:
    return {utt: [(w, start, dur) for w, (start, dur) in zip(h.words, h.word_times)] for utt, h in hyps.items()}


def write_hypotheses(out_dir: Path, words: dict[str, TimedWords], data: DataDir) -> None:
    """hyp.trn (sclite trn, speaker-utterance ids), hyp.ctm (absolute times; without segments each
    utterance is its own recording, starting at 0) and readable recognitions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_trn(out_dir / "hyp.trn", {utt: [w for w, _, _ in timed] for utt, timed in words.items()}, data.utt2spk)
    write_ctm(out_dir / "hyp.ctm", words, data.segments or None, data.reco2file_and_channel or None)
    with atomic_write(out_dir / "recognitions.txt") as handle:
        for utt, timed in words.items():
            handle.write(f"{utt}\tref={data.text.get(utt, '')}\n{utt}\thyp={' '.join(w for w, _, _ in timed)}\n")


def decoded_already(done: Path, model_file: Path) -> bool:
    """Whether ``done`` (a decode stage's decode.json) records a decode of ``model_file`` as it is
    now: a model trained or built again after it (a newer file) is decoded again, so a table never
    reports an older model's hypotheses."""
    if not done.exists():
        return False
    if model_file.exists() and model_file.stat().st_mtime_ns > done.stat().st_mtime_ns:
        log.info("decode: %s is newer than %s; decoding again", model_file, done)
        return False
    log.info("decode: %s exists, skipping", done)
    return True


def decode_settings(run_dir: Path) -> dict:
    """What the decode stage chose for this run on its dev set (``run_dir/decode.json``), or {}."""
    path = run_dir / "decode.json"
    return json.loads(path.read_text()) if path.exists() else {}


def decode_experiment(exp: Experiment, model_name: str) -> None:
    """Decode dev and test sets with one trained model (skipping sets already decoded)."""
    run_dir = exp.run_dir(model_name)
    done = run_dir / "decode.json"
    if decoded_already(done, run_dir / "final.pt"):
        return
    recipe = exp.recipe
    model, _ = load_model(run_dir / "final.pt")
    decoder = ctc_beam_decoder(exp)
    tokenizer = decoder.tokenizer
    shift = recipe.features.frame_shift_ms / 1000
    sets = {name: DataDir.read(exp.data_dir(name)) for name in exp.eval_sets}
    device = decoding_device(recipe)
    outputs = {name: compute_log_probs(model, feature_dataset(recipe, exp.data_dir(name)), device=device)
               for name in sets}
    dev = recipe.data.dev_set
    tuning = tune_lm_params(
        lambda lm_weight, word_score: hypothesis_wer(beam(outputs[dev], decoder, lm_weight, word_score, shift), sets[dev].text),
        recipe.decode.lm_weights, recipe.decode.word_scores)
    tuning.write(run_dir / "lm_tuning.txt")
    best = tuning.best
    for name, data in sets.items():
        write_hypotheses(run_dir / f"decode_{name}" / "greedy", timed_words(greedy(outputs[name], tokenizer, shift)), data)
        write_hypotheses(run_dir / f"decode_{name}" / "lm",
                         timed_words(beam(outputs[name], decoder, best.lm_weight, best.word_score, shift)), data)
    write_text_atomic(done, json.dumps({"lm_weight": best.lm_weight, "word_score": best.word_score,
                                        "sets": list(sets)}, indent=1) + "\n")


def hybrid_graph_decoder(recipe: Recipe, graph: str | Path | None = None, words: str | Path | None = None,
                         word_boundary: str | Path | None = None, transition_model=None,
                         acoustic_scale: float | None = None):
    """The recipe's HCLG decoder (paths default to the recipe's ``hybrid`` section and the graph's dir,
    the acoustic scale to the recipe's, which is set for networks)."""
    from blspeech.hybrid_training import transition_model_of  # the training module imports this one

    hybrid = recipe.hybrid
    if not (graph or hybrid.graph):
        raise ValueError("no decoding graph: set hybrid.graph in the recipe or give --graph HCLG.fst")
    graph = Path(graph or hybrid.graph)
    if not graph.is_file():
        raise FileNotFoundError(f"decoding graph {graph} {'is a directory' if graph.is_dir() else 'not found'}: "
                                f"give the HCLG.fst file (recipe hybrid.graph or --graph)")
    words = Path(words or hybrid.words or graph.parent / "words.txt")
    boundary = word_boundary or hybrid.word_boundary or None
    scale = hybrid.acoustic_scale if acoustic_scale is None else acoustic_scale  # 0 is refused, not replaced
    return HybridGraphDecoder(graph, transition_model or transition_model_of(recipe), words, word_boundary=boundary,
                              acoustic_scale=scale, beam=hybrid.beam, max_active=hybrid.max_active,
                              frame_shift=recipe.features.frame_shift_ms / 1000)


def hybrid_loglikes(log_probs: LogProbs, priors_path: Path) -> dict[str, np.ndarray]:
    """log posterior - log prior per utterance, ``(T, num_pdfs)`` float32 (what latgen-faster-mapped reads)."""
    priors = log_priors(read_counts(priors_path))
    return {utt: loglikes_from_log_posteriors(lp.numpy(), priors) for utt, lp in log_probs.utterances.items()}


def decode_hybrid(loglikes: dict[str, np.ndarray], decoder: HybridGraphDecoder) -> dict[str, TimedWords]:
    """Best paths through the HCLG; utterances without a usable path are counted skips (no words).

    Log-likelihoods the decoder cannot use (another pdf count, inf or nan) are errors, not
    skips: they would otherwise be scored, and tuned on, as empty hypotheses."""
    skips = SkipLog("hybrid decode")
    decoded = {}
    for utt, matrix in loglikes.items():
        try:
            best = decoder.decode(utt, matrix)
        except WordAlignmentError as error:
            skips.skip(utt, str(error).removeprefix(f"utterance {utt}: "))
            decoded[utt] = []
            continue
        skips.ok()
        decoded[utt] = [(t.word, t.start, t.duration) for t in best.timed_words]
    skips.summary()
    return decoded


def decode_hybrid_sets(exp: Experiment, loglikes_of: Callable[[str], dict[str, np.ndarray]],
                       decoder: HybridGraphDecoder, out_root: Path) -> dict:
    """Every evaluation set of ``exp`` through the HCLG, written as ``out_root/decode_<set>/graph``.

    With ``hybrid.lm_weights`` (Kaldi's LMWT: the graph's weight against the acoustics, acoustic
    scale 1 / LMWT), the weight with the lowest dev WER is chosen first (``out_root/lm_tuning.txt``)
    and applied unchanged to the test sets; without, ``decoder``'s own scale. ``loglikes_of(set)``
    gives a set's (T, num_pdfs) log-likelihoods per utterance. Returns what decode.json records.
    """
    weights = exp.recipe.hybrid.lm_weights
    if weights and min(weights) <= 0:
        raise ValueError(f"hybrid.lm_weights must be positive, got {weights}")
    sets = {name: DataDir.read(exp.data_dir(name)) for name in exp.eval_sets}
    dev = exp.recipe.data.dev_set
    dev_loglikes = loglikes_of(dev)
    if weights:
        def dev_wer(lm_weight: float, _word_score: float) -> float:
            words = decode_hybrid(dev_loglikes, decoder.with_acoustic_scale(1.0 / lm_weight))
            return text_wer({utt: " ".join(w for w, _, _ in timed) for utt, timed in words.items()}, sets[dev].text)

        tuning = tune_lm_params(dev_wer, weights, [0.0])  # the HCLG's word costs are fixed: no word score
        tuning.write(out_root / "lm_tuning.txt")
        decoder = decoder.with_acoustic_scale(1.0 / tuning.best.lm_weight)
    for name, data in sets.items():
        words = decode_hybrid(dev_loglikes if name == dev else loglikes_of(name), decoder)
        write_hypotheses(out_root / f"decode_{name}" / "graph", words, data)
    return {"acoustic_scale": decoder.acoustic_scale, "sets": list(sets)}


def decode_hybrid_experiment(exp: Experiment, model_name: str) -> None:
    """Hybrid decode stage: every eval set through the recipe's HCLG, written as ``decode_<set>/graph``."""
    from blspeech.hybrid_training import PRIOR_COUNTS  # the training module imports this one

    run_dir = exp.run_dir(model_name)
    done = run_dir / "decode.json"
    if decoded_already(done, run_dir / "final.pt"):
        return
    model, _ = load_model(run_dir / "final.pt")
    device = decoding_device(exp.recipe)

    def loglikes_of(name: str) -> dict[str, np.ndarray]:
        log_probs = compute_log_probs(model, feature_dataset(exp.recipe, exp.data_dir(name)), device=device)
        return hybrid_loglikes(log_probs, run_dir / PRIOR_COUNTS)

    decoded = decode_hybrid_sets(exp, loglikes_of, hybrid_graph_decoder(exp.recipe), run_dir)
    write_text_atomic(done, json.dumps({"graph": str(exp.recipe.hybrid.graph), **decoded}) + "\n")
