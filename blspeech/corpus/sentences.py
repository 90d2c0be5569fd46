"""What the synthetic speakers say: the shipped sentence bank or a user's file, split for train and eval.

Sentences may carry ms98 markup (``[laughter]``, ``ab[out]-``, ...). Long sentences (3+ words)
carry the turns of a conversation and are split ~90/10 so the evaluation set says sentences never
heard in training; short ones ("uh-huh", "yeah") are listener backchannels, shared by both, as
they are in real conversations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from blspeech.corpus.utterances import plan_pieces
from blspeech.data.text import normalize_transcript
from blspeech.resources import resource_path

EVAL_SHARE = 0.1  # of the long sentences, held out for the evaluation set
BACKCHANNEL_WORDS = 2  # sentences of at most this many words are backchannels


@dataclass(frozen=True)
class SentencePools:
    """Sentences to draw from: ``long`` ones carry turns, ``backchannels`` are listener responses."""

    long: tuple[str, ...]
    backchannels: tuple[str, ...]


def load_sentences(text_file: str | Path | None = None) -> list[str]:
    """Sentences of ``text_file`` (one per line, ms98 markup allowed, ``#`` comments) or of the shipped bank."""
    path = Path(text_file) if text_file is not None else resource_path("swbd_sentences.txt")
    if not path.is_file():
        raise FileNotFoundError(f"sentence file {path} not found")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    sentences = [line for line in lines if line and not line.startswith("#") and plan_pieces(line)]
    if not sentences:
        raise ValueError(f"{path}: no sentences with anything to say")
    return sentences


def split_sentences(sentences: Sequence[str], rng: random.Random) -> tuple[SentencePools, SentencePools]:
    """``(train, eval)`` pools: long sentences shuffled by ``rng`` and split, backchannels in both."""
    words = {s: len(normalize_transcript(s).split()) for s in sentences}
    backchannels = tuple(s for s in sentences if words[s] <= BACKCHANNEL_WORDS)
    long = [s for s in sentences if words[s] > BACKCHANNEL_WORDS]
    if len(long) < 2:
        raise ValueError(f"need at least 2 sentences of {BACKCHANNEL_WORDS + 1}+ words to split into training and evaluation text, got {len(long)}")
    rng.shuffle(long)
    held_out = max(1, round(EVAL_SHARE * len(long)))
    return SentencePools(tuple(long[held_out:]), backchannels), SentencePools(tuple(long[:held_out]), backchannels)
