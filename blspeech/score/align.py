"""sclite's word alignment (``sclite -F -D``), reproduced decision for decision.

Why not a plain edit distance (kaldialign, jiwer)? sclite's counts depend on details those
libraries do not share: costs 0/4/3/3 for correct/substitution/insertion/deletion, cost 2 for
dropping an optionally deletable ``(word)`` (counted as correct), fragments ``ab-`` / ``-ab``
matching any word they begin / end (``-F``), alternations ``{a / b c / @}`` aligned as a word
lattice with ``@`` as a nearly free null word, ties broken substitution first, then deletion,
then insertion, and costs summed in 32-bit floats. A library that breaks ties the other way
(kaldialign) or counts unit costs (jiwer) splits Sub/Del/Ins differently on some segments, and
may even count a different number of errors: for ref ``d a e`` / hyp ``b c d`` sclite reports 3
substitutions, kaldialign (sclite_mode) 2 deletions and 2 insertions.

The lattice is a list of arcs in topological order; arc 0 is the empty head sclite adds to both
networks, and every other arc lists its predecessor arcs in sclite's order.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from blspeech.score.numeric import to_float32 as _f32

NULL_WORD = "@"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

COST_NULL = _f32(0.001)  # inserting or deleting the null word @
COST_NULL_PAIR = 1.0  # @ aligned with @
COST_OPTIONAL = 2.0  # dropping an optionally deletable word
COST_INS_DEL = 3.0
COST_SUB = 4.0


@dataclass(frozen=True)
class Word:
    """One aligned token: ``text`` lower-cased; ``optional`` for ``(word)``; ``fragment`` for ``ab-``."""

    text: str
    optional: bool = False
    fragment: bool = False

    @property
    def core(self) -> str:
        """The text compared with other words (without the parentheses of an optional word)."""
        return self.text[1:-1] if self.optional else self.text

    @property
    def is_null(self) -> bool:
        return self.text == NULL_WORD


@dataclass(frozen=True)
class Alternation:
    """Alternative word sequences, any one of which may match (``{i'm / i am}``)."""

    options: tuple[tuple[Word | Alternation, ...], ...]

    def __post_init__(self) -> None:
        if not self.options or any(not option for option in self.options):
            raise ValueError(f"an alternation needs non-empty options (use '@' for no word), got {self.options!r}")


Item = Word | Alternation


def make_word(token: str, optional_deletions: bool = True, fragments: bool = True) -> Word:
    """A Word as sclite builds it from a token: lower-cased, text before an unescaped ``;``,
    backslashes dropped, one trailing ``*`` removed; ``(x)`` optional under ``-D``, fragments
    under ``-F``."""
    token = token.translate(_ASCII_LOWER)
    cut = re.search(r"(?<!\\);", token)
    text = (token[: cut.start()] if cut else token).replace("\\", "")
    if len(text) > 1 and text.endswith("*"):
        text = text[:-1]
    optional = optional_deletions and len(text) >= 2 and text[0] == "(" and text[-1] == ")"
    fragment = fragments and bool(text) and (text[-1] == "-" or text[0] == "-" or (optional and text[-2] == "-"))
    return Word(text, optional, fragment)


def _split_options(body: str) -> list[str]:
    """The alternatives of ``{ ... }`` content: split at ``/`` outside nested braces."""
    options, depth, current = [], 0, []
    for char in body:
        if char == "/" and depth == 0:
            options.append("".join(current))
            current = []
            continue
        depth += (char == "{") - (char == "}")
        current.append(char)
    options.append("".join(current))
    return [option for option in options if option.strip()]


def _tokens(text: str) -> list[str]:
    """Whitespace-separated tokens, keeping a brace group ``{ a / b }`` as one token."""
    tokens, position = [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        if text[position] == "{":
            depth, end = 0, position
            while end < len(text):
                depth += (text[end] == "{") - (text[end] == "}")
                end += 1
                if depth == 0:
                    break
            if depth:
                raise ValueError(f"unbalanced '{{' in transcript {text!r}")
        else:
            end = position
            while end < len(text) and not text[end].isspace():
                end += 1
        tokens.append(text[position:end])
        position = end
    return tokens


def parse_transcript(text: str, optional_deletions: bool = True, fragments: bool = True) -> list[Item]:
    """Words and ``{a / b}`` alternations of a (filtered) transcript, as sclite reads stm/trn text."""
    items: list[Item] = []
    for token in _tokens(text):
        if token.startswith("{"):
            body = token[1 : token.rindex("}")]
            options = [tuple(parse_transcript(option, optional_deletions, fragments)) for option in _split_options(body)]
            if options:
                items.append(Alternation(tuple(options)))
        else:
            items.append(make_word(token, optional_deletions, fragments))
    return items


def words_equal(ref: Word, hyp: Word) -> bool:
    """sclite's word match: exact text, or under ``-F`` a fragment matching the start/end of the other."""
    a, b = ref.core, hyp.core
    if ref.fragment or hyp.fragment:
        if len(a) > 1 and a[0] == "-":
            return len(b) >= len(a) - 1 and b[len(b) - (len(a) - 1) :] == a[1:]
        if len(a) > 1 and a[-1] == "-":
            return b[: len(a) - 1] == a[:-1]
        if len(b) > 1 and b[0] == "-":
            return len(a) >= len(b) - 1 and a[len(a) - (len(b) - 1) :] == b[1:]
        if len(b) > 1 and b[-1] == "-":
            return a[: len(b) - 1] == b[:-1]
    return a == b


@dataclass(frozen=True)
class AlignedWord:
    """One step of an alignment: ``op`` is C, S, D or I; a missing side is ``None``.

    A dropped optional reference word is ``C`` with ``hyp=None``; an inserted optional
    hypothesis word is ``C`` with ``ref=None`` (sclite counts both as correct).
    """

    op: str
    ref: str | None
    hyp: str | None


@dataclass
class _Lattice:
    words: list[Word | None]
    predecessors: list[list[int]]
    final: list[int]


def _lattice(items: Sequence[Item]) -> _Lattice:
    lattice = _Lattice([None], [[]], [])

    def extend(chain: Sequence[Item], current: list[int]) -> list[int]:
        for item in chain:
            if isinstance(item, Word):
                lattice.words.append(item)
                lattice.predecessors.append(current)
                current = [len(lattice.words) - 1]
            else:
                current = [end for option in item.options for end in extend(option, current)]
        return current

    lattice.final = extend(items, [0])
    return lattice


def _gap_cost(word: Word) -> float:
    if word.is_null:
        return COST_NULL
    return COST_OPTIONAL if word.optional else COST_INS_DEL


def _pair_cost(ref: Word, hyp: Word) -> float:
    if ref.is_null and hyp.is_null:
        return COST_NULL_PAIR
    return 0.0 if words_equal(ref, hyp) else COST_SUB


def _add_float32(x: float, y: float) -> float:
    return _f32(x + y)


def _first_min(values: list[float], keys: list[int]) -> int:
    """Index into ``keys`` of the first strictly smallest value (sclite scans with ``<``)."""
    best = 0
    for index in range(1, len(keys)):
        if values[index] < values[best]:
            best = index
    return keys[best]


def align(ref: Sequence[Item], hyp: Sequence[Item]) -> list[AlignedWord]:
    """Align two transcripts (words and alternations) the way sclite's network DP does."""
    r, h = _lattice(ref), _lattice(hyp)
    n_ref, n_hyp = len(r.words), len(h.words)
    ref_gap = [0.0] + [_gap_cost(w) for w in r.words[1:]]
    hyp_gap = [0.0] + [_gap_cost(w) for w in h.words[1:]]
    # Without null words every cost is a small integer, exact in float32: skip the rounding.
    has_null = any(w is not None and w.is_null for w in r.words + h.words)
    add = _add_float32 if has_null else operator.add
    cost = [[0.0] * n_hyp for _ in range(n_ref)]
    back = [[(-1, -1)] * n_hyp for _ in range(n_ref)]
    for b in range(1, n_hyp):
        prev = _first_min([cost[0][p] for p in h.predecessors[b]], h.predecessors[b])
        cost[0][b] = add(cost[0][prev], hyp_gap[b])
        back[0][b] = (0, prev)
    for a in range(1, n_ref):
        prev = _first_min([cost[p][0] for p in r.predecessors[a]], r.predecessors[a])
        cost[a][0] = add(cost[prev][0], ref_gap[a])
        back[a][0] = (prev, 0)
    for a in range(1, n_ref):
        ref_word, ref_prev, row = r.words[a], r.predecessors[a], cost[a]
        for b in range(1, n_hyp):
            hyp_prev = h.predecessors[b]
            if len(ref_prev) == 1 and len(hyp_prev) == 1:  # a plain word after a plain word: one way in
                del_a = sub_a = ref_prev[0]
                ins_b = sub_b = hyp_prev[0]
            else:
                ins_b = _first_min([row[p] for p in hyp_prev], hyp_prev)
                del_a = _first_min([cost[p][b] for p in ref_prev], ref_prev)
                pairs = [(pa, pb) for pa in ref_prev for pb in hyp_prev]
                sub_a, sub_b = pairs[_first_min([cost[pa][pb] for pa, pb in pairs], list(range(len(pairs))))]
            insertion = add(row[ins_b], hyp_gap[b])
            deletion = add(cost[del_a][b], ref_gap[a])
            substitution = add(cost[sub_a][sub_b], _pair_cost(ref_word, h.words[b]))
            if substitution <= deletion and substitution <= insertion:
                row[b], back[a][b] = substitution, (sub_a, sub_b)
            elif deletion < insertion:
                row[b], back[a][b] = deletion, (del_a, b)
            else:
                row[b], back[a][b] = insertion, (a, ins_b)
    ends = [(a, b) for a in r.final for b in h.final]
    a, b = ends[_first_min([cost[a][b] for a, b in ends], list(range(len(ends))))]
    steps: list[AlignedWord] = []
    while a > 0 or b > 0:
        prev_a, prev_b = back[a][b]
        if a == prev_a:
            word = h.words[b]
            if not word.is_null:
                steps.append(AlignedWord("C" if word.optional else "I", None, word.text))
        elif b == prev_b:
            word = r.words[a]
            if not word.is_null:
                steps.append(AlignedWord("C" if word.optional else "D", word.text, None))
        else:
            ref_word, hyp_word = r.words[a], h.words[b]
            if not (ref_word.is_null and hyp_word.is_null):
                steps.append(AlignedWord("C" if words_equal(ref_word, hyp_word) else "S", ref_word.text, hyp_word.text))
        a, b = prev_a, prev_b
    steps.reverse()
    return steps
