"""A Kaldi ``lang`` directory from a lexicon, as ``utils/prepare_lang.sh`` makes it.

Written (all in Kaldi's formats, so Kaldi tools can use the directory unchanged):

- ``phones.txt``  ``<eps>``, each silence phone plain and with ``_B _E _I _S``, each nonsilence
  phone with ``_B _E _I _S`` (word-begin, -end, -internal, singleton), then ``#0 .. #N``
- ``words.txt``   ``<eps>``, the words in byte order, ``#0``, ``<s>``, ``</s>``
- ``topo``        3-state left-to-right HMMs for nonsilence phones, 5-state ergodic-ish ones
  for silence phones (``utils/gen_topo.pl``'s defaults)
- ``L.fst``, ``L_disambig.fst``  see :mod:`.lexicon_fst`; the latter has disambiguation
  symbols and ``#0:#0`` self-loops so it composes with a G that has ``#0`` back-off arcs
- ``oov.txt``/``oov.int`` and ``phones/``: silence, nonsilence, optional_silence, disambig,
  context_indep, word_boundary, align_lexicon, roots, sets, extra_questions (the word-position
  questions: Kaldi's tree-building scripts append them to the clustered ones), wdisambig
  (``.txt``/``.int``/``.csl``)

Disambiguation symbols follow ``utils/add_lex_disambig.pl``: a pronunciation (after
position-dependent marking) that is a prefix of another or shared by several words gets
``#1``, ``#2``, ...; one more symbol marks the optional silence in L_disambig.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import kaldi_hmm_gmm  # noqa: F401  (must precede kaldifst, see blspeech.hybrid)
import kaldifst

from blspeech.fileio import write_text_atomic
from blspeech.hybrid_system.lexicon import PhoneSets, Pronunciation
from blspeech.hybrid_system.lexicon_fst import lexicon_fst

POSITIONS = ("_B", "_E", "_I", "_S")
WORD_DISAMBIG = "#0"
SENTENCE_SYMBOLS = ("<s>", "</s>")
RESERVED_WORDS = ("<eps>", WORD_DISAMBIG, *SENTENCE_SYMBOLS)  # words.txt gives them ids of its own
SIL_PROB = 0.5
NUM_NONSILENCE_STATES = 3
NUM_SILENCE_STATES = 5
_BOUNDARY_OF_POSITION = {"_B": "begin", "_E": "end", "_I": "internal", "_S": "singleton"}


def position_dependent(pron: Pronunciation) -> Pronunciation:
    """Mark each phone with its position in the word: ``(a, b, c) -> (a_B, b_I, c_E)``, ``(a,) -> (a_S,)``."""
    if len(pron) == 1:
        return (f"{pron[0]}_S",)
    return (f"{pron[0]}_B", *(f"{p}_I" for p in pron[1:-1]), f"{pron[-1]}_E")


def disambiguate(entries: Sequence[tuple[str, Pronunciation]]) -> tuple[list[tuple[str, Pronunciation]], int]:
    """Append ``#k`` to pronunciations that are prefixes of others or homophones.

    Returns the new entries (same order) and the highest ``k`` used (0 if none).
    """
    occurrences = Counter(pron for _, pron in entries)
    prefixes = {pron[:i] for _, pron in entries for i in range(1, len(pron))}
    last_used: Counter = Counter()
    result = []
    for word, pron in entries:
        if pron in prefixes or occurrences[pron] > 1:
            last_used[pron] += 1
            pron = (*pron, f"#{last_used[pron]}")
        result.append((word, pron))
    return result, max(last_used.values(), default=0)


def _symbols_text(symbols: Iterable[str]) -> str:
    return "".join(f"{name} {i}\n" for i, name in enumerate(symbols))


def topology_text(nonsilence: Sequence[int], silence: Sequence[int]) -> str:
    """The ``topo`` file ``utils/gen_topo.pl 3 5`` writes for these phone ids."""
    lines = ["<Topology>"]
    for phones, states in ((nonsilence, NUM_NONSILENCE_STATES), (silence, NUM_SILENCE_STATES)):
        lines += ["<TopologyEntry>", "<ForPhones>", " ".join(map(str, phones)), "</ForPhones>"]
        for state in range(states):
            if states == NUM_NONSILENCE_STATES or state == states - 1:
                targets = [(state, 0.75), (state + 1, 0.25)]
            else:  # silence: state 0 may go anywhere but the last state, the others anywhere but state 0
                first = 0 if state == 0 else 1
                last = states - 2 if state == 0 else states - 1
                targets = [(t, 1.0 / (states - 1)) for t in range(first, last + 1)]
            transitions = " ".join(f"<Transition> {t} {p:g}" for t, p in targets)
            lines.append(f"<State> {state} <PdfClass> {state} {transitions} </State>")
        lines += [f"<State> {states} </State>", "</TopologyEntry>"]
    lines.append("</Topology>")
    return "\n".join(lines) + "\n"


def read_symbols(path: str | os.PathLike) -> dict[str, int]:
    """Read a symbol table (``phones.txt``, ``words.txt``): name -> id."""
    table: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise ValueError(f"{path}:{lineno}: expected 'symbol id', got {line.strip()!r}")
            table[fields[0]] = int(fields[1])
    return table


def _read_ints(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


@dataclass(frozen=True)
class LangDir:
    """A lang directory on disk and the tables graph building needs from it."""

    path: Path
    phones: dict[str, int]
    words: dict[str, int]
    disambig_phones: tuple[int, ...]
    oov: str

    @classmethod
    def read(cls, path: str | os.PathLike) -> "LangDir":
        path = Path(path)
        return cls(
            path=path,
            phones=read_symbols(path / "phones.txt"),
            words=read_symbols(path / "words.txt"),
            disambig_phones=tuple(_read_ints(path / "phones" / "disambig.int")),
            oov=(path / "oov.txt").read_text().strip(),
        )

    @property
    def word_disambig(self) -> int:
        return self.words[WORD_DISAMBIG]

    @property
    def phone_disambig(self) -> int:
        """The phone-side ``#0`` (the label G's back-off arcs carry once G is composed with L)."""
        return self.phones[WORD_DISAMBIG]

    def word_ids(self, words: Iterable[str]) -> list[int]:
        """Word ids of a transcript; words not in ``words.txt`` become the OOV word (``--map-oov``)."""
        oov = self.words[self.oov]
        return [self.words.get(word, oov) for word in words]


class _LangWriter:
    """Writes the files of one lang dir; holds the symbol tables while doing it."""

    def __init__(self, directory: Path, phones: dict[str, int], words: dict[str, int]) -> None:
        self.directory = directory
        self.phones = phones
        self.words = words

    def phone_list(self, name: str, phones: Sequence[str]) -> None:
        """``phones/<name>.txt``, ``.int`` and ``.csl``."""
        ids = [self.phones[p] for p in phones]
        base = self.directory / "phones" / name
        write_text_atomic(base.with_suffix(".txt"), "".join(f"{p}\n" for p in phones))
        write_text_atomic(base.with_suffix(".int"), "".join(f"{i}\n" for i in ids))
        write_text_atomic(base.with_suffix(".csl"), ":".join(map(str, ids)) + "\n")

    def phone_rows(self, name: str, rows: Sequence[tuple[str, str, Sequence[str]]]) -> None:
        """``phones/<name>.txt``/``.int`` with rows ``prefix phone ...``; each row gives its prefix as text and as ints."""
        text = "".join(" ".join([*prefix.split(), *phones]) + "\n" for prefix, _, phones in rows)
        ints = "".join(" ".join([*prefix.split(), *(str(self.phones[p]) for p in phones)]) + "\n" for _, prefix, phones in rows)
        write_text_atomic(self.directory / "phones" / f"{name}.txt", text)
        write_text_atomic(self.directory / "phones" / f"{name}.int", ints)

    def fst(self, name: str, fst: kaldifst.StdVectorFst) -> None:
        kaldifst.arcsort(fst, sort_type="olabel")
        tmp = self.directory / f".{name}.tmp"
        if not fst.write(str(tmp)):
            raise OSError(f"could not write {tmp}")
        os.replace(tmp, self.directory / name)


def prepare_lang(
    lexicon: Mapping[str, list[Pronunciation]],
    phone_sets: PhoneSets,
    oov_word: str,
    out_dir: str | os.PathLike,
    *,
    sil_prob: float = SIL_PROB,
) -> LangDir:
    """Write the lang dir ``prepare_lang.sh --position-dependent-phones true`` would write.

    ``lexicon`` maps word -> pronunciations (phones from ``phone_sets``); ``oov_word`` must be in
    it. Pronunciations keep their order within a word; words are processed in ``lexicon``'s order.
    """
    if oov_word not in lexicon:
        raise ValueError(f"the OOV word {oov_word!r} has no pronunciation in the lexicon")
    reserved = [word for word in RESERVED_WORDS if word in lexicon]
    if reserved:
        raise ValueError(f"the lexicon has words reserved for the lang dir's own symbols: {reserved}")
    reserved = [p for p in (*phone_sets.silence, *phone_sets.nonsilence) if p == "<eps>" or p.startswith("#")]
    if reserved:
        raise ValueError(f"phone names reserved for the lang dir's own symbols (<eps>, #k): {reserved}")
    known = set(phone_sets.silence) | set(phone_sets.nonsilence)
    for word, prons in lexicon.items():
        for pron in prons:
            unknown = [p for p in pron if p not in known]
            if unknown or not pron:
                raise ValueError(f"word {word!r}: pronunciation {pron} has phones outside the phone sets: {unknown}")
    entries = [(word, position_dependent(pron)) for word, prons in lexicon.items() for pron in prons]
    disambiguated, highest = disambiguate(entries)
    num_disambig = highest + 1  # one more for the optional silence in L_disambig
    silence = [v for p in phone_sets.silence for v in (p, *(p + s for s in POSITIONS))]
    nonsilence = [p + s for p in phone_sets.nonsilence for s in POSITIONS]
    disambig = [f"#{k}" for k in range(num_disambig + 1)]
    phones = {name: i for i, name in enumerate(["<eps>", *silence, *nonsilence, *disambig])}
    word_list = sorted(lexicon, key=lambda w: w.encode("utf-8"))
    words = {name: i for i, name in enumerate(["<eps>", *word_list, WORD_DISAMBIG, *SENTENCE_SYMBOLS])}

    out = Path(out_dir)
    writer = _LangWriter(out, phones, words)
    write_text_atomic(out / "phones.txt", _symbols_text(phones))
    write_text_atomic(out / "words.txt", _symbols_text(words))
    write_text_atomic(out / "oov.txt", f"{oov_word}\n")
    write_text_atomic(out / "oov.int", f"{words[oov_word]}\n")
    write_text_atomic(out / "topo", topology_text([phones[p] for p in nonsilence], [phones[p] for p in silence]))
    writer.phone_list("silence", silence)
    writer.phone_list("nonsilence", nonsilence)
    writer.phone_list("context_indep", silence)
    writer.phone_list("optional_silence", [phone_sets.optional_silence])
    writer.phone_list("disambig", disambig)
    write_text_atomic(out / "phones" / "wdisambig.txt", f"{WORD_DISAMBIG}\n")
    write_text_atomic(out / "phones" / "wdisambig_phones.int", f"{phones[WORD_DISAMBIG]}\n")
    write_text_atomic(out / "phones" / "wdisambig_words.int", f"{words[WORD_DISAMBIG]}\n")
    boundary = [(p, "nonword") if p in phone_sets.silence else (p, _BOUNDARY_OF_POSITION[p[-2:]]) for p in silence + nonsilence]
    write_text_atomic(out / "phones" / "word_boundary.txt", "".join(f"{p} {kind}\n" for p, kind in boundary))
    write_text_atomic(out / "phones" / "word_boundary.int", "".join(f"{phones[p]} {kind}\n" for p, kind in boundary))
    groups = [[p, *(p + s for s in POSITIONS)] for p in phone_sets.silence]
    groups += [[p + s for s in POSITIONS] for p in phone_sets.nonsilence]
    writer.phone_rows("sets", [("", "", g) for g in groups])
    writer.phone_rows("roots", [("shared split", "shared split", g) for g in groups])
    questions = [[p + s for p in phone_sets.nonsilence] for s in POSITIONS]
    questions += [[p + s for p in phone_sets.silence] for s in ("", *POSITIONS)]
    writer.phone_rows("extra_questions", [("", "", q) for q in questions])
    align_rows = [(f"{w} {w}", f"{words[w]} {words[w]}", pron) for w, pron in entries]
    align_rows.append(("<eps> <eps>", "0 0", (phone_sets.optional_silence,)))
    align_rows.sort(key=lambda row: " ".join([row[0], *row[2]]).encode("utf-8"))
    writer.phone_rows("align_lexicon", align_rows)

    sil_phone = phones[phone_sets.optional_silence]
    plain = [(words[w], [phones[p] for p in pron]) for w, pron in entries]
    writer.fst("L.fst", lexicon_fst(plain, sil_prob=sil_prob, sil_phone=sil_phone))
    marked = [(words[w], [phones[p] for p in pron]) for w, pron in disambiguated]
    l_disambig = lexicon_fst(marked, sil_prob=sil_prob, sil_phone=sil_phone, sil_disambig=phones[disambig[-1]])
    kaldifst.add_self_loops(l_disambig, [phones[WORD_DISAMBIG]], [words[WORD_DISAMBIG]])
    writer.fst("L_disambig.fst", l_disambig)
    return LangDir.read(out)
