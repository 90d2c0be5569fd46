"""Switchboard transcript normalization: one rule table, applied word by word, in order.

The rules follow the conventions of Kaldi's swbd s5c recipe (``local/swbd1_data_prep.sh`` and
``local/swbd1_map_words.pl``) so that models trained here see the same word inventory as
models trained there: markers of silence and asides disappear, the three non-speech events
stay as words, partial words keep the part that was spoken plus a ``-`` where the rest is
missing, bracketed alternates keep what was said, and everything is lowercase. Two extra rules
read Hub5 ``.stm`` references (hesitation tags and optionally-deletable parentheses), as ESPnet's
swbd recipe does, so the eval text matches the training text's conventions.

Each :class:`Rule` carries an example (input word -> output word) and where the convention
comes from; the examples double as tests. ``RULES`` below is the whole table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# The words Kaldi keeps for non-speech events (it gives them the phones NSN, LAU and SPN).
NON_SPEECH_WORDS = ("[noise]", "[laughter]", "[vocalized-noise]")

# A Hub5 .stm segment carrying this text is excluded from scoring and from the data dir.
IGNORE_SEGMENT = "ignore_time_segment_in_scoring"


@dataclass(frozen=True)
class Rule:
    """One rewrite of a single (already lowercased) word; an empty result drops the word."""

    name: str
    pattern: re.Pattern[str]
    replacement: str
    example: tuple[str, str]
    source: str

    def apply(self, word: str) -> str:
        return self.pattern.sub(self.replacement, word)


def _rule(name: str, pattern: str, replacement: str, example: tuple[str, str], source: str) -> Rule:
    return Rule(name, re.compile(pattern), replacement, example, source)


_MAP_WORDS = "Kaldi swbd s5c local/swbd1_map_words.pl"
_DATA_PREP = "Kaldi swbd s5c local/swbd1_data_prep.sh"
_HUB5_STM = "Hub5 .stm conventions (as normalized in ESPnet egs/swbd)"

RULES: tuple[Rule, ...] = (
    _rule("drop silence marker", r"^\[silence\]$", "", ("[silence]", ""), _DATA_PREP),
    _rule("drop aside markers", r"^<[be]_aside>$", "", ("<b_aside>", ""), _DATA_PREP),
    _rule(
        "laughing word -> the word",
        r"^(-?)\[laughter-(.+)\](-?)$",  # (.+): the laughed word may itself be partial, [laughter-ab[out]-]
        r"\1\2\3",
        ("[laughter-yes]", "yes"),
        _MAP_WORDS,
    ),
    _rule(
        "bracketed alternate -> what was said",
        r"^\[(.+)/.+\](-?)$",
        r"\1\2",
        ("[it'n/isn't]", "it'n"),
        _MAP_WORDS,
    ),
    _rule(
        "partial word missing its start -> -rest",
        r"^-?\[[^\[\]]+\](.+)$",
        r"-\1",
        ("-[an]y", "-y"),
        _MAP_WORDS,
    ),
    _rule(
        "partial word missing its end -> start-",
        r"^(.+?)\[[^\[\]]+\]-?$",
        r"\1-",
        ("ab[solutely]-", "ab-"),
        _MAP_WORDS,
    ),
    _rule(
        "bracketed middle of a word -> two fragments",
        r"^([a-z']+)\[[^\[\]]+\]([a-z']+-?)$",
        r"\1-\2",
        ("ammu[n]it-", "ammu-it-"),
        _MAP_WORDS,
    ),
    _rule(
        "malformed partial word (stray bracket tail) -> start-",
        r"^([^\[\]]+)\[.+\]$",
        r"\1-",
        ("ex[specially]-/especially]", "ex-"),
        _MAP_WORDS,
    ),
    _rule("coinage braces removed", r"^\{(.+)\}$", r"\1", ("{yuppiedom}", "yuppiedom"), _MAP_WORDS),
    _rule("sense number removed", r"_\d", "", ("them_1", "them"), _MAP_WORDS),
    _rule("drop hub5 hesitation tags", r"^\(?%[a-z]+\)?$", "", ("(%hesitation)", ""), _HUB5_STM),
    _rule(
        "hub5 optionally-deletable word -> the word",
        r"^\(+([^()]+)\)+$",
        r"\1",
        ("(th-)", "th-"),
        _HUB5_STM,
    ),
)


# Every rule needs one of these characters; other words are only lowercased (a fast path).
_MARKUP = re.compile(r"[\[\]{}()<>%_]")


@functools.lru_cache(maxsize=1 << 16)
def normalize_word(word: str) -> str:
    """Lowercase ``word`` and run it through every rule of :data:`RULES`; ``""`` means dropped."""
    word = word.lower()
    if not _MARKUP.search(word):
        return word
    for rule in RULES:
        word = rule.apply(word)
    return word


def normalize_transcript(text: str) -> str:
    """Normalize each word of ``text``; dropped words vanish, the rest keep their order."""
    return " ".join(filter(None, (normalize_word(word) for word in text.split())))


def is_partial_word(word: str) -> bool:
    """A normalized fragment such as ``ab-`` or ``-y`` (only part of the word was spoken)."""
    return len(word) > 1 and (word.endswith("-") or word.startswith("-"))
