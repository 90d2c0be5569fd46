"""The word lexicon for lexicon-constrained CTC beam search: word -> its spelling in CTC units.

File format (flashlight's, one word per line): ``word unit1 unit2 ...``, e.g.
``yeah ▁yeah`` or ``[laughter] ▁[laughter]``. The beam search can only output words listed here,
so the lexicon is built from the training vocabulary with the same tokenizer the model was
trained with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from blspeech.fileio import atomic_write
from blspeech.skips import SkipLog
from blspeech.tokenizer import Tokenizer


def build_lexicon(texts: Iterable[str], tokenizer: Tokenizer, skips: SkipLog) -> dict[str, list[str]]:
    """Spell every distinct word of ``texts``; words with characters outside the unit set are counted skips."""
    lexicon: dict[str, list[str]] = {}
    rejected: set[str] = set()
    for text in texts:
        for word in text.split():
            if word in lexicon or word in rejected:
                continue
            unknown = tokenizer.unknown_characters(word)
            if unknown:
                rejected.add(word)
                skips.skip(word, f"characters outside the unit set: {''.join(sorted(set(unknown)))}")
                continue
            lexicon[word] = tokenizer.spell(word)
            skips.ok()
    return lexicon


def write_lexicon(lexicon: Mapping[str, list[str]], path: str | Path) -> None:
    """Write ``word unit ...`` lines sorted by word (byte order), atomically."""
    with atomic_write(path) as handle:
        for word in sorted(lexicon, key=lambda w: w.encode("utf-8")):
            handle.write(f"{word} {' '.join(lexicon[word])}\n")


def read_lexicon(path: str | Path, tokenizer: Tokenizer) -> dict[str, list[str]]:
    """Read a lexicon file, checking every unit exists in ``tokenizer``; errors name the line."""
    lexicon: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            word, spelling = fields[0], fields[1:]
            if not spelling:
                raise ValueError(f"{path}:{lineno}: word {word!r} has no spelling")
            try:
                spelled = tokenizer.split_words(tokenizer.unit_ids(spelling))
            except ValueError as error:
                raise ValueError(f"{path}:{lineno}: word {word!r}: {error}") from error
            if [text for text, _ in spelled] != [word]:
                # Word times are found by re-splitting the decoded units, so a spelling must spell its word.
                raise ValueError(f"{path}:{lineno}: units {spelling} spell {[t for t, _ in spelled]}, not {word!r}")
            if word in lexicon:
                raise ValueError(f"{path}:{lineno}: duplicate word {word!r}")
            lexicon[word] = spelling
    if not lexicon:
        raise ValueError(f"{path}: empty lexicon")
    return lexicon
