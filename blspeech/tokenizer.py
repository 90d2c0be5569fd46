"""CTC output units: a sentencepiece model (unigram, BPE or characters) plus the CTC blank.

Unit ids as the acoustic model sees them: id 0 is the CTC blank, ids 1..V-1 are the
sentencepiece pieces shifted by one (sentencepiece's own id 0, ``<unk>``, becomes id 1).

Bracketed special words (``[laughter]``, ``[noise]``, ``[vocalized-noise]``, ``<unk>``, ...)
found in the training text become single units, so the model never spells them letter by
letter. Each is stored as the user-defined piece ``▁[laughter]`` (with the word-boundary
mark), so a special word is exactly one unit wherever it stands in a sentence.

Characters outside the unit set (not seen in the training text) encode to the ``<unk>`` unit,
as sentencepiece does. Callers that need targets for training use
:func:`encode_transcripts`, which skips such utterances and counts them in a ``SkipLog``
instead of teaching the model to emit ``<unk>``.

Usage::

    tok = train_tokenizer(texts, Path("exp/run/tokenizer"), kind="unigram", vocab_size=500)
    tok = Tokenizer.load("exp/run/tokenizer.model")
    ids = tok.encode("yeah [laughter] right")        # ids in 1..tok.vocab_size-1
    tok.decode(ids)                                   # "yeah [laughter] right"
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import sentencepiece as spm

from blspeech.cli import report_errors
from blspeech.data.kaldi_dir import read_table
from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.skips import SkipLog

logger = logging.getLogger("blspeech")

BLANK = "<blank>"
BLANK_ID = 0
UNK_PIECE = "<unk>"
WORD_BOUNDARY = "\u2581"  # sentencepiece's "▁", marks the start of a word
KINDS = ("unigram", "bpe", "char")
SPECIAL_WORD = re.compile(r"\[[^\[\]\s]+\]|<[^<>\s]+>")


def find_special_words(texts: Iterable[str]) -> list[str]:
    """Whitespace-separated words that are wholly bracketed (``[noise]``, ``<unk>``), sorted."""
    found = {word for text in texts for word in text.split() if SPECIAL_WORD.fullmatch(word)}
    return sorted(found)


def train_tokenizer(
    texts: Iterable[str],
    out_prefix: str | Path,
    *,
    kind: str = "unigram",
    vocab_size: int | None = None,
    seed: int = 0,
) -> Tokenizer:
    """Train a sentencepiece model on ``texts`` (one transcript per item) and save it.

    Writes ``{out_prefix}.model`` (sentencepiece) and ``{out_prefix}.vocab`` (``token id`` per
    line, ids as the acoustic model uses them, blank included), each atomically.

    ``vocab_size`` is the number of sentencepiece pieces for ``unigram``/``bpe`` (required; a soft
    limit: a small corpus may yield fewer pieces, which is logged). The CTC output size is one
    more, for the blank. For ``kind="char"`` the character set of the text decides the size and
    ``vocab_size`` is not used. Training is single-threaded and seeded, so the same text gives
    the same model.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {KINDS}")
    lines = [" ".join(text.split()) for text in texts]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("cannot train a tokenizer: no non-empty training text")
    specials = find_special_words(lines)
    if kind == "char":
        # An upper bound on the pieces a char model can have; with a soft limit every character is kept.
        distinct_chars = {char for line in lines for char in line if not char.isspace()}
        piece_count = len(distinct_chars) + len(specials) + 2  # + <unk> + "▁"
    else:
        if vocab_size is None or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2 for kind={kind!r}, got {vocab_size!r}")
        piece_count = vocab_size

    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            model_type=kind,
            vocab_size=piece_count,
            hard_vocab_limit=False,
            character_coverage=1.0,
            user_defined_symbols=[WORD_BOUNDARY + word for word in specials],
            unk_id=0,
            unk_piece=UNK_PIECE,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            normalization_rule_name="identity",
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise ValueError(f"sentencepiece could not train kind={kind!r} vocab_size={vocab_size!r}: {error}") from error

    tokenizer = Tokenizer(spm.SentencePieceProcessor(model_proto=model.getvalue()))
    # The .model file is written last: its presence tells a resumed run that this stage is complete.
    model_path = Path(f"{out_prefix}.model")
    write_text_atomic(f"{out_prefix}.vocab", "".join(f"{token} {i}\n" for i, token in enumerate(tokenizer.tokens)))
    with atomic_write(model_path, "wb") as handle:
        handle.write(model.getvalue())
    if kind != "char" and tokenizer.vocab_size - 1 < vocab_size:
        logger.info("tokenizer: %d pieces instead of the requested %d (small training text)", tokenizer.vocab_size - 1, vocab_size)
    logger.info("tokenizer: %s model with %d units (blank included), %d special words, written to %s",
                kind, tokenizer.vocab_size, len(specials), model_path)
    return tokenizer


class Tokenizer:
    """Maps text to CTC unit ids and back; id 0 is the blank, ``tokens[i]`` names unit ``i``."""

    blank_id = BLANK_ID
    unk_id = 1

    def __init__(self, processor: spm.SentencePieceProcessor) -> None:
        if processor.id_to_piece(0) != UNK_PIECE or not processor.is_unknown(0):
            raise ValueError(f"sentencepiece model must have {UNK_PIECE!r} at id 0 (train it with train_tokenizer)")
        self._processor = processor
        self.tokens: list[str] = [BLANK] + [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        self._ids = {token: unit for unit, token in enumerate(self.tokens)}

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer model not found: {path}")
        processor = spm.SentencePieceProcessor()
        try:
            processor.load(str(path))
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{path}: not a sentencepiece model: {error}") from error
        return cls(processor)

    @property
    def vocab_size(self) -> int:
        """Number of CTC outputs, blank included."""
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Unit ids (1..V-1) of ``text``; unknown characters become :attr:`unk_id`."""
        return [piece_id + 1 for piece_id in self._processor.encode(text)]

    def unknown_characters(self, text: str) -> list[str]:
        """The parts of ``text`` that encode to ``<unk>`` (characters not in the unit set)."""
        # For an unknown piece, sentencepiece's string output is the text it covers.
        pieces = self._processor.encode(text, out_type=str)
        piece_ids = self._processor.encode(text)
        return [piece.removeprefix(WORD_BOUNDARY) for piece, piece_id in zip(pieces, piece_ids) if piece_id == 0]

    def unit_ids(self, names: Sequence[str]) -> list[int]:
        """Ids of unit names (inverse of :attr:`tokens`); unknown names are a ``ValueError``."""
        unknown = [name for name in names if name not in self._ids]
        if unknown:
            raise ValueError(f"units not in the tokenizer: {unknown}")
        return [self._ids[name] for name in names]

    def spell(self, word: str) -> list[str]:
        """Unit names spelling one ``word`` (a lexicon entry); raises if it needs ``<unk>``."""
        if not word or any(char.isspace() for char in word):
            raise ValueError(f"not a single word: {word!r}")
        unknown = self.unknown_characters(word)
        if unknown:
            raise ValueError(f"word {word!r} has characters outside the unit set: {unknown}")
        return [self.tokens[i] for i in self.encode(word)]

    def split_words(self, ids: Sequence[int]) -> list[tuple[str, list[int]]]:
        """Group unit ids (no blanks) into words at word-boundary marks.

        Returns ``(word, positions)`` per word, where ``positions`` index into ``ids`` and list
        the units that carry the word's letters; a bare ``▁`` unit is a boundary, not a sound,
        so it is left out (word times then start at the first letter). ``<unk>`` appears in
        the word as ``<unk>``.
        """
        words: list[tuple[str, list[int]]] = []
        text, positions = "", []
        for position, unit in enumerate(ids):
            if not 0 < unit < self.vocab_size:
                raise ValueError(f"unit id {unit} at position {position} is not in 1..{self.vocab_size - 1}")
            piece = self.tokens[unit]
            if piece.startswith(WORD_BOUNDARY) and text:
                words.append((text, positions))
                text, positions = "", []
            letters = piece.removeprefix(WORD_BOUNDARY)
            if letters:
                text += letters
                positions.append(position)
        if text:
            words.append((text, positions))
        return words

    def decode(self, ids: Sequence[int]) -> str:
        """Text of unit ids (blanks must already be removed), words joined by single spaces."""
        return " ".join(word for word, _ in self.split_words(ids))


def encode_transcripts(text: Mapping[str, str], tokenizer: Tokenizer, skips: SkipLog) -> dict[str, list[int]]:
    """CTC targets per utterance; utterances that are empty or need ``<unk>`` are counted skips."""
    targets: dict[str, list[int]] = {}
    for utterance, transcript in text.items():
        unknown = tokenizer.unknown_characters(transcript)
        if unknown:
            skips.skip(utterance, f"characters outside the unit set: {''.join(sorted(set(unknown)))}")
            continue
        ids = tokenizer.encode(transcript)
        if not ids:
            skips.skip(utterance, "empty transcript")
            continue
        targets[utterance] = ids
        skips.ok()
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.tokenizer",
        description="Train CTC units (sentencepiece) on a Kaldi 'text' file: writes PREFIX.model and PREFIX.vocab.",
    )
    parser.add_argument("text", type=Path, help="Kaldi text file (utt-id transcript per line)")
    parser.add_argument("out_prefix", type=Path, help="output prefix, e.g. exp/run/tokenizer")
    parser.add_argument("--kind", choices=KINDS, default="unigram", help="unit type (default: %(default)s)")
    parser.add_argument("--vocab-size", type=int, default=256,
                        help="sentencepiece pieces (unigram/bpe; blank not counted; default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return report_errors(parser.prog, lambda: train_tokenizer(
        read_table(args.text).values(), args.out_prefix, kind=args.kind, vocab_size=args.vocab_size, seed=args.seed))


if __name__ == "__main__":
    sys.exit(main())
