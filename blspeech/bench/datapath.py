"""Speed of everything around the acoustic model: synthesis, features, loading, decoding.

Each stage is timed on its real implementation with small, generated inputs:

- synthesis: :func:`blspeech.corpus.synth.synthesize_corpus` (one job) writing a tiny corpus;
- features: :func:`blspeech.features.fbank.measure_feature_speed` (one core);
- loader: a data dir of random log-mel matrices in Kaldi arks with per-speaker CMVN, read by
  :class:`FeatureDataset` (CMVN, deltas, SpecAugment) through :func:`make_loader` in the
  main process, as training reads it;
- decoding: CTC greedy and lexicon + 3-gram LM beam search on emissions shaped like a trained
  CTC model's (see :func:`peaky_emissions`), with the tokenizer, lexicon and LM built from the
  shipped sentence bank. No trained model is needed to time the decoder.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from blspeech.config import DecodeConfig, SpecAugmentSettings
from blspeech.corpus.sentences import load_sentences
from blspeech.corpus.synth import synthesize_corpus
from blspeech.data.kaldi_dir import DataDir
from blspeech.data.text import normalize_transcript
from blspeech.decode.ctc import BeamSearchDecoder, greedy_decode
from blspeech.decode.lexicon import build_lexicon, write_lexicon
from blspeech.decode.lm import build_arpa
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import compute_cmvn_stats
from blspeech.features.fbank import measure_feature_speed
from blspeech.features.specaugment import SpecAugmentConfig
from blspeech.loader import FeatureDataset, FrameBucketSampler, make_loader
from blspeech.skips import SkipLog
from blspeech.tokenizer import Tokenizer, train_tokenizer

FRAME_SHIFT_S = 0.01
SUBSAMPLING = 4  # CTC output frames are 4 input frames (40 ms), as in the recipes
VOCAB_SIZE = 256
LM_WEIGHT, WORD_SCORE = 1.0, 0.0  # mid-grid values of the recipes' dev tuning


@dataclass(frozen=True)
class DataPathSizes:
    """How much work each measurement does (the quick mode shrinks it)."""

    synthesis_hours: float = 0.02
    feature_audio_seconds: float = 60.0
    feature_repeats: int = 3
    loader_utterances: int = 400
    loader_max_frames: int = 24000
    decode_utterances: int = 100


@dataclass(frozen=True)
class DataPathFigures:
    """Throughputs (x real time = seconds of audio per second of wall time) and decoding real-time
    factors (seconds of decoding per second of audio, lower is faster)."""

    synthesis_audio_seconds: float
    synthesis_speech_seconds: float
    synthesis_seconds: float
    feature_realtime_per_core: float
    loader_utterances: int
    loader_audio_seconds: float
    loader_seconds: float
    decode_audio_seconds: float
    greedy_rtf: float
    beam_rtf: float
    beam_size: int
    beam_threshold: float
    lm_order: int

    @property
    def synthesis_realtime(self) -> float:
        return self.synthesis_audio_seconds / self.synthesis_seconds

    @property
    def loader_utterances_per_second(self) -> float:
        return self.loader_utterances / self.loader_seconds

    @property
    def loader_frames_per_second(self) -> float:
        return self.loader_audio_seconds / FRAME_SHIFT_S / self.loader_seconds

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "synthesis_realtime": self.synthesis_realtime,
                "loader_utterances_per_second": self.loader_utterances_per_second,
                "loader_frames_per_second": self.loader_frames_per_second}


def measure_synthesis(out_dir: Path, hours: float, seed: int = 1) -> tuple[float, float, float]:
    """(conversation audio seconds, speech seconds, wall seconds) of synthesizing ``hours`` of
    training speech with one job into the fresh directory ``out_dir``."""
    start = time.perf_counter()
    summary = synthesize_corpus(out_dir, hours=hours, speakers=2, eval_minutes=0, seed=seed, jobs=1)
    seconds = time.perf_counter() - start
    return summary.train_audio_hours * 3600, summary.train_speech_hours * 3600, seconds


def write_random_features(data_dir: Path, utterances: int, *, num_mel_bins: int = 40, seed: int = 0) -> None:
    """A data dir of ``utterances`` random (T, num_mel_bins) log-mel matrices, 1-8 s long, four
    speakers, feats.scp in one ark and per-speaker cmvn.scp, as the feature stage writes them."""
    if utterances < 1:
        raise ValueError(f"utterances must be >= 1, got {utterances}")
    rng = np.random.default_rng(seed)
    keys = [f"spk{index % 4}-utt{index:05d}" for index in range(utterances)]
    matrices = ((key, rng.normal(10.0, 3.0, size=(int(rng.integers(100, 800)), num_mel_bins)).astype(np.float32))
                for key in keys)
    data_dir.mkdir(parents=True, exist_ok=True)
    feats_scp = write_ark(data_dir / "feats.ark", matrices)
    DataDir(utt2spk={key: key.split("-")[0] for key in keys}, feats_scp=feats_scp).write(data_dir)
    compute_cmvn_stats(data_dir)


def measure_loader(data_dir: Path, max_frames: int) -> tuple[int, float, float]:
    """(utterances, audio seconds, wall seconds) of one epoch of training batches of ``data_dir``."""
    specaugment = SpecAugmentConfig(**asdict(SpecAugmentSettings()))  # the recipes' default masks
    dataset = FeatureDataset(data_dir, cmvn="speaker", channels=3, specaugment=specaugment)
    loader = make_loader(dataset, FrameBucketSampler(dataset.num_frames, max_frames=max_frames, shuffle=True, seed=0))
    utterances, frames = 0, 0
    start = time.perf_counter()
    for batch in loader:
        utterances += len(batch.utt_ids)
        frames += int(batch.lengths.sum())
    return utterances, frames * FRAME_SHIFT_S, time.perf_counter() - start


def peaky_emissions(units: list[list[int]], vocab_size: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities ``(B, T, V)`` and lengths ``(B,)`` shaped like a trained CTC model's output
    for the unit sequences ``units``: each unit fires on one frame (sometimes two) between runs of
    1-5 blank frames, the fired unit or the blank ~6 nats above Gaussian noise on the others.

    Beam search cost depends on how peaked the emissions are; uniform random log-probs would make
    every frame ambiguous, which no trained model's output is.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for sequence in units:
        path = [0] * int(rng.integers(1, 6))
        for unit in sequence:
            path += [unit] * int(rng.integers(1, 3)) + [0] * int(rng.integers(1, 6))
        paths.append(path)
    lengths = torch.tensor([len(path) for path in paths])
    noise = rng.normal(0.0, 1.0, size=(len(paths), int(lengths.max()), vocab_size))
    logits = torch.from_numpy(noise.astype(np.float32))
    for row, path in enumerate(paths):
        logits[row, torch.arange(len(path)), torch.tensor(path)] += 6.0
    return logits.log_softmax(dim=-1), lengths


def build_decoder(work_dir: Path, sentences: list[str], decode: DecodeConfig) -> tuple[Tokenizer, BeamSearchDecoder]:
    """Tokenizer, lexicon and ARPA LM from ``sentences``, and the beam search decoder over them."""
    tokenizer = train_tokenizer(sentences, work_dir / "tokenizer", kind="unigram", vocab_size=VOCAB_SIZE)
    lexicon = build_lexicon(sentences, tokenizer, SkipLog("bench lexicon"))
    write_lexicon(lexicon, work_dir / "lexicon.txt")
    arpa = build_arpa(sentences, work_dir / f"lm_{decode.lm_order}gram.arpa", order=decode.lm_order)
    decoder = BeamSearchDecoder(tokenizer, work_dir / "lexicon.txt", arpa, beam_size=decode.beam_size,
                                beam_threshold=decode.beam_threshold)
    return tokenizer, decoder


def measure_decoding(work_dir: Path, utterances: int, seed: int = 0) -> tuple[float, float, float, DecodeConfig]:
    """(audio seconds, greedy seconds, beam search seconds, settings) decoding ``utterances``
    sentences of the shipped bank from peaky emissions, one utterance at a time as decoding runs."""
    decode = DecodeConfig()
    sentences = [text for text in (normalize_transcript(line) for line in load_sentences()) if text]
    tokenizer, decoder = build_decoder(work_dir, sentences, decode)
    chosen = random.Random(seed).sample(sentences, min(utterances, len(sentences)))
    log_probs, lengths = peaky_emissions([tokenizer.encode(text) for text in chosen], tokenizer.vocab_size, seed=seed)
    decoder(log_probs[:1], lengths[:1], lm_weight=LM_WEIGHT, word_score=WORD_SCORE, subsampling=SUBSAMPLING)  # warm-up
    start = time.perf_counter()
    greedy_decode(log_probs, lengths, tokenizer, subsampling=SUBSAMPLING)
    greedy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoder(log_probs, lengths, lm_weight=LM_WEIGHT, word_score=WORD_SCORE, subsampling=SUBSAMPLING)
    beam_seconds = time.perf_counter() - start
    audio_seconds = float(lengths.sum()) * SUBSAMPLING * FRAME_SHIFT_S
    return audio_seconds, greedy_seconds, beam_seconds, decode


def measure_data_path(work_dir: Path, sizes: DataPathSizes) -> DataPathFigures:
    """Every data-path figure, with scratch files under ``work_dir`` (which must be empty or new)."""
    audio, speech, synthesis_seconds = measure_synthesis(work_dir / "corpus", sizes.synthesis_hours)
    features = measure_feature_speed(audio_seconds=sizes.feature_audio_seconds, repeats=sizes.feature_repeats)
    write_random_features(work_dir / "data", sizes.loader_utterances)
    loader_utterances, loader_audio, loader_seconds = measure_loader(work_dir / "data", sizes.loader_max_frames)
    (work_dir / "decode").mkdir(parents=True, exist_ok=True)
    decode_audio, greedy_seconds, beam_seconds, decode = measure_decoding(work_dir / "decode", sizes.decode_utterances)
    return DataPathFigures(
        synthesis_audio_seconds=audio, synthesis_speech_seconds=speech, synthesis_seconds=synthesis_seconds,
        feature_realtime_per_core=features.realtime_factor,
        loader_utterances=loader_utterances, loader_audio_seconds=loader_audio, loader_seconds=loader_seconds,
        decode_audio_seconds=decode_audio, greedy_rtf=greedy_seconds / decode_audio,
        beam_rtf=beam_seconds / decode_audio, beam_size=decode.beam_size, beam_threshold=decode.beam_threshold,
        lm_order=decode.lm_order)
