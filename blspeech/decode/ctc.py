"""CTC decoding: greedy (best path) and lexicon beam search with a word n-gram LM.

Both take the acoustic model's output as ``log_probs (B, T, V)`` (log-softmax over V units,
unit 0 the blank, T output frames) with valid lengths ``(B,)`` and return one
:class:`Hypothesis` per utterance, with word times for ctm output.

The beam search is torchaudio's CTC decoder (flashlight-text's ``LexiconDecoder``): words come
from a lexicon (see :mod:`blspeech.decode.lexicon`), scored by an ARPA word LM through KenLM
(built into the flashlight-text wheel; it reads ARPA text directly). The acoustic model has no
silence unit, so the blank doubles as flashlight's silence token.

A property of flashlight's lexicon decoder to know when reading scores: it emits a word on the
first frame of the word's last unit and returns to the word boundary, where frames are scored
as silence, i.e. blank. If the model holds a word's last unit for several frames, those extra
frames are scored as blank instead of as a repeat (greedy decoding scores them as a repeat).
A peaky CTC model, whose runner-up on such frames is the blank, loses little by this; the
word's start time is unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from flashlight.lib.text.decoder import CriterionType, LexiconDecoderOptions, ZeroLM
from flashlight.lib.text.dictionary import Dictionary
from torchaudio.models.decoder import CTCDecoder

from blspeech.decode.alignment import collapse_ctc_path, word_times
from blspeech.decode.lexicon import read_lexicon
from blspeech.tokenizer import BLANK, Tokenizer

UNK_WORD = "<unk>"


@dataclass
class Hypothesis:
    """One decoded utterance.

    ``tokens`` are unit ids (no blanks); ``token_frames[i]`` is the output frame of ``tokens[i]``;
    ``word_times[i]`` is ``(start_s, duration_s)`` of ``words[i]`` from the utterance start;
    ``score`` is the best-path log-probability (greedy) or the decoder's total score (beam).
    """

    words: list[str]
    word_times: list[tuple[float, float]]
    tokens: list[int]
    token_frames: list[int]
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _checked_lengths(log_probs: torch.Tensor, lengths: torch.Tensor | Sequence[int], tokenizer: Tokenizer) -> list[int]:
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (B, T, V), got shape {tuple(log_probs.shape)}")
    batch, frames, units = log_probs.shape
    if units != tokenizer.vocab_size:
        raise ValueError(f"log_probs has {units} units but the tokenizer has {tokenizer.vocab_size} (blank included)")
    lengths = [int(n) for n in (lengths.tolist() if isinstance(lengths, torch.Tensor) else lengths)]
    if len(lengths) != batch:
        raise ValueError(f"got {len(lengths)} lengths for a batch of {batch}")
    bad = [n for n in lengths if not 0 <= n <= frames]
    if bad:
        raise ValueError(f"lengths {bad} outside 0..{frames} (T of log_probs)")
    return lengths


def _hypothesis(
    tokens: list[int],
    token_frames: list[int],
    score: float,
    tokenizer: Tokenizer,
    subsampling: int,
    frame_shift_s: float,
) -> Hypothesis:
    spelled = tokenizer.split_words(tokens)
    times = word_times([positions for _, positions in spelled], token_frames,
                       subsampling=subsampling, frame_shift_s=frame_shift_s)
    return Hypothesis([word for word, _ in spelled], times, tokens, token_frames, score)


def greedy_decode(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | Sequence[int],
    tokenizer: Tokenizer,
    *,
    subsampling: int,
    frame_shift_s: float = 0.01,
) -> list[Hypothesis]:
    """Best path per frame, repeats merged and blanks dropped; ``log_probs (B, T, V)``, ``lengths (B,)``."""
    lengths = _checked_lengths(log_probs, lengths, tokenizer)
    best_scores, best_units = (x.cpu() for x in log_probs.detach().max(dim=-1))
    hypotheses = []
    for b, length in enumerate(lengths):
        tokens, frames = collapse_ctc_path(best_units[b, :length].tolist(), tokenizer.blank_id)
        score = float(best_scores[b, :length].sum())
        hypotheses.append(_hypothesis(tokens, frames, score, tokenizer, subsampling, frame_shift_s))
    return hypotheses


class BeamSearchDecoder:
    """Lexicon beam search with an optional ARPA word LM, loaded once and reused.

    ``lm_path=None`` decodes with the lexicon only (no LM). Decoders for each
    ``(lm_weight, word_score)`` pair are cached, so a dev-set grid search loads the LM once.
    ``beam_size`` hypotheses are kept per frame, ``beam_size_token`` units tried per frame (all
    by default) and hypotheses more than ``beam_threshold`` below the best are pruned.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        lexicon_path: str | Path,
        lm_path: str | Path | None = None,
        *,
        beam_size: int = 50,
        beam_size_token: int | None = None,
        beam_threshold: float = 25.0,
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        if beam_size_token is not None and not 1 <= beam_size_token <= tokenizer.vocab_size:
            raise ValueError(f"beam_size_token must be in 1..{tokenizer.vocab_size}, got {beam_size_token}")
        if not beam_threshold > 0:
            raise ValueError(f"beam_threshold must be positive, got {beam_threshold}")
        self.tokenizer = tokenizer
        self.lexicon = {word: [spelling] for word, spelling in read_lexicon(lexicon_path, tokenizer).items()}
        words = list(self.lexicon)
        if UNK_WORD not in self.lexicon:
            words.append(UNK_WORD)  # the decoder needs an unknown-word id even though it never emits it
        self.word_dict = Dictionary(words)
        self.tokens_dict = Dictionary(tokenizer.tokens)
        self.lm = ZeroLM() if lm_path is None else self._load_kenlm(Path(lm_path))
        self.beam_size = beam_size
        self.beam_size_token = beam_size_token or tokenizer.vocab_size
        self.beam_threshold = beam_threshold
        self._decoders: dict[tuple[float, float], CTCDecoder] = {}

    def _load_kenlm(self, lm_path: Path):
        if not lm_path.is_file():
            raise FileNotFoundError(f"language model not found: {lm_path}")
        from flashlight.lib.text.decoder.kenlm import KenLM  # only LM decoding needs the KenLM extension

        try:
            return KenLM(str(lm_path), self.word_dict)
        except RuntimeError as error:
            raise ValueError(f"{lm_path}: KenLM cannot read this language model: {error}") from error

    def _decoder(self, lm_weight: float, word_score: float) -> CTCDecoder:
        key = (float(lm_weight), float(word_score))
        if key not in self._decoders:
            options = LexiconDecoderOptions(
                beam_size=self.beam_size,
                beam_size_token=self.beam_size_token,
                beam_threshold=self.beam_threshold,
                lm_weight=key[0],
                word_score=key[1],
                unk_score=float("-inf"),
                sil_score=0.0,
                log_add=False,
                criterion_type=CriterionType.CTC,
            )
            self._decoders[key] = CTCDecoder(
                nbest=1,
                lexicon=self.lexicon,
                word_dict=self.word_dict,
                tokens_dict=self.tokens_dict,
                lm=self.lm,
                decoder_options=options,
                blank_token=BLANK,
                sil_token=BLANK,
                unk_word=UNK_WORD,
            )
        return self._decoders[key]

    def __call__(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor | Sequence[int],
        *,
        lm_weight: float,
        word_score: float,
        subsampling: int,
        frame_shift_s: float = 0.01,
    ) -> list[Hypothesis]:
        """Decode ``log_probs (B, T, V)`` with valid ``lengths (B,)``.

        ``lm_weight`` scales the LM's log10 probabilities; ``word_score`` is added per word
        (negative = insertion penalty).
        """
        lengths = _checked_lengths(log_probs, lengths, self.tokenizer)
        decoder = self._decoder(lm_weight, word_score)
        emissions = log_probs.detach().to("cpu", torch.float32)
        hypotheses = []
        for b, length in enumerate(lengths):
            results = decoder(emissions[b : b + 1, :length].contiguous())[0] if length else []
            if not results:
                hypotheses.append(Hypothesis([], [], [], [], float("-inf") if length else 0.0))
                continue
            best = results[0]
            # flashlight's path has an extra initial state before frame 0, so its steps are frames + 1.
            frames = [int(step) - 1 for step in best.timesteps]
            hypothesis = _hypothesis(best.tokens.tolist(), frames, float(best.score), self.tokenizer,
                                     subsampling, frame_shift_s)
            # The words are the decoder's, the times the units': torchaudio merges equal neighbouring
            # units of the path, so a double letter ("too") can come back as one ("to"), and units of
            # a word still incomplete at the last frame are in the path but never became a word.
            if len(hypothesis.words) < len(best.words):
                raise RuntimeError(f"units {hypothesis.tokens} spell {hypothesis.words}, decoder said {best.words}")
            hypothesis.words = list(best.words)
            hypothesis.word_times = hypothesis.word_times[: len(best.words)]
            hypotheses.append(hypothesis)
        return hypotheses


def beam_search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | Sequence[int],
    tokenizer: Tokenizer,
    lexicon_path: str | Path,
    lm_path: str | Path | None,
    *,
    lm_weight: float,
    word_score: float,
    subsampling: int,
    frame_shift_s: float = 0.01,
    beam_size: int = 50,
    beam_threshold: float = 25.0,
) -> list[Hypothesis]:
    """One-shot :class:`BeamSearchDecoder`; build the class once instead when decoding many batches."""
    decoder = BeamSearchDecoder(tokenizer, lexicon_path, lm_path, beam_size=beam_size, beam_threshold=beam_threshold)
    return decoder(log_probs, lengths, lm_weight=lm_weight, word_score=word_score,
                   subsampling=subsampling, frame_shift_s=frame_shift_s)
