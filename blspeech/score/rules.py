"""The hub5 scoring rules: NIST ``csrfilt.sh -dh`` text filtering, plus Kaldi's hypothesis clean-up.

``hubscr.pl -h hub5`` passes every reference and hypothesis transcript through ``csrfilt.sh``:
text is upper-cased, ``(`` / ``)`` of optionally deletable words are spaced out, the GLM rewrites
the line (hesitations become ``%HESITATION``, contractions become ``{I'M / I AM}`` alternations in
hypotheses, ...), hyphenated words are split (``well-known`` -> ``well known``, while the
fragments ``ab-`` and ``-ab`` keep their hyphen), and a group ``(a b)`` becomes ``(a) (b)``.
A ctm word that the GLM turns into several words gets its duration shared evenly among them.

Kaldi's Switchboard recipe also drops noise tokens and ``<unk>`` from the hypothesis before
hubscr sees it (:data:`HYP_NON_SCORED_WORDS`); both back ends do the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from blspeech.score.glm import Glm, ascii_upper

HYP_NON_SCORED_WORDS = frozenset({"[noise]", "[laughter]", "[vocalized-noise]", "<unk>"})

_HYPHEN_INSIDE_WORD = re.compile(r"([^( ])-(?=[^) ])")
_OPT_DEL_GROUP = re.compile(r"(\(\s+[^()\s]+\s+)([^()\s]+)")
_VALID_OPT_DEL = re.compile(r"\s\([^()]+\)")


def is_non_scored_hyp_word(word: str) -> bool:
    """True for ``[noise]``, ``[laughter]``, ``[vocalized-noise]`` and ``<unk>`` (any case)."""
    return word.lower() in HYP_NON_SCORED_WORDS


def drop_non_scored_words(text: str) -> str:
    """``text`` without the hypothesis tokens Kaldi removes before scoring."""
    return " ".join(word for word in text.split() if not is_non_scored_hyp_word(word))


def optional_deletion_marks_valid(text: str) -> bool:
    """csrfilt's check: every ``(`` ... ``)`` encloses words without nesting or stray parentheses."""
    spaced = " " + text.replace("(", "( ").replace(")", " )") + " "
    padded = spaced.replace("(", "   (").replace(")", ")  ", 1)
    return not re.search(r"[()]", _VALID_OPT_DEL.sub("", padded))


def filter_text(text: str, glm: Glm | None) -> str:
    """Apply csrfilt's hub5 text pipeline to one transcript field.

    ``text`` is the field exactly as csrfilt cuts it out of its line: stm and trn text with one
    space on each side (``" hello world "``), a bare ctm word. Returns the filtered text with
    single spaces; alternations stay as ``{ A / B }`` groups. Raise ValueError when the
    optional-deletion parentheses are malformed (csrfilt refuses such files).
    """
    if not optional_deletion_marks_valid(text):
        raise ValueError(f"illegally formatted optional deletion parentheses in {text!r}")
    line = " " + ascii_upper(text).replace("(", "( ").replace(")", " )") + " "
    if glm is not None:
        line = glm.apply(line)
    line = _HYPHEN_INSIDE_WORD.sub(r"\1 ", line)
    while True:
        line, replaced = _OPT_DEL_GROUP.subn(r"\1) ( \2", line, count=1)
        if not replaced:
            break
    line = re.sub(r"\(\s+", "(", line)
    line = re.sub(r"\s+\)", ")", line)
    return " ".join(line.split())


@dataclass(frozen=True)
class TimedWord:
    """A hypothesis word with its (possibly shared-out) ctm times."""

    text: str
    start: float
    duration: float

    @property
    def midpoint(self) -> float:
        return self.start + self.duration / 2.0


@dataclass(frozen=True)
class TimedAlternation:
    """A ctm word the GLM expanded into alternatives (``{THAT'S / THAT IS / THAT HAS}``).

    An empty alternative means "no word"; sclite aligns it as its null word ``@``.
    """

    alternatives: tuple[tuple[TimedWord, ...], ...]

    @property
    def midpoint(self) -> float:
        """sclite places an alternation by the latest midpoint of any of its words."""
        return max((word.midpoint for option in self.alternatives for word in option), default=0.0)


TimedItem = TimedWord | TimedAlternation


def _share_duration(words: list[str], start: float, duration: float) -> tuple[TimedWord, ...]:
    """csrfilt's split: equal shares of the duration, times printed with 3 decimals."""
    share = duration / len(words)
    return tuple(TimedWord(word, float(f"{start + share * i:.3f}"), float(f"{share:.3f}")) for i, word in enumerate(words))


def expand_ctm_word(filtered: str, start: float, duration: float) -> list[TimedItem]:
    """Turn one filtered ctm word into timed words, or one alternation, as csrfilt does.

    A single word keeps its original times; several words or an alternation share the duration.
    """
    fields = re.sub(r"([{}])", r" \1 ", filtered).split()
    if not fields:
        return []
    if len(fields) == 1:
        return [TimedWord(fields[0], start, duration)]
    options_text = " ".join(fields).split("/")
    while options_text and not options_text[-1]:
        options_text.pop()  # Perl's split drops trailing empty fields
    options = [option.replace("{", "").replace("}", "").split() for option in options_text]
    timed = [_share_duration(words, start, duration) if words else () for words in options]
    if len(timed) == 1:
        return list(timed[0])
    return [TimedAlternation(tuple(timed))]
