"""Word times from a best-path transition-id alignment, as ``lattice-align-words`` finds them.

A best path gives one transition-id per frame and the word sequence, but HCLG places a
word's output label wherever determinization left it, not at the word's first frame. The
times therefore come from the alignment: it is cut into phones with the transition model
(a phone ends with the transition into its HMM's final state), and the phones are grouped
into words with ``lang/phones/word_boundary.int``, which marks each position-dependent phone
as word-begin, -end, -internal, singleton or nonword (optional silence between words).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import kaldi_hmm_gmm as khg
import numpy as np

BOUNDARY_KINDS = ("nonword", "begin", "end", "internal", "singleton")


class WordAlignmentError(ValueError):
    """The alignment cannot be cut into the decoded words (partial path, wrong word_boundary.int)."""


class TimedWord(NamedTuple):
    """One word with its start and duration in seconds, relative to the utterance start (a ctm row)."""

    word: str
    start: float
    duration: float


@dataclass(frozen=True)
class PhoneSpan:
    phone: int
    start_frame: int
    end_frame: int  # exclusive


def read_word_boundary(path: str | os.PathLike) -> dict[int, str]:
    """Read ``phones/word_boundary.int``: phone-id -> one of BOUNDARY_KINDS."""
    boundary: dict[int, str] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in BOUNDARY_KINDS:
                raise ValueError(f"{path}:{lineno}: expected 'phone-id {'|'.join(BOUNDARY_KINDS)}', got {line.strip()!r}")
            boundary[int(parts[0])] = parts[1]
    return boundary


class TransitionTables:
    """Per-transition-id facts needed to cut alignments into phones, as arrays indexed by id."""

    def __init__(self, transition_model: khg.TransitionModel) -> None:
        ids = range(1, transition_model.num_transition_ids + 1)
        self.state = np.asarray(transition_model.id2state, dtype=np.int32)
        self.phone = np.array([0, *(transition_model.transition_id_to_phone(i) for i in ids)], dtype=np.int32)
        self.is_self_loop = np.array([False, *(transition_model.is_self_loop(i) for i in ids)])
        self.is_final = np.array([False, *(transition_model.is_final(i) for i in ids)])

    def self_loops_come_last(self, alignment: np.ndarray) -> bool:
        """Whether the alignment is "reordered" (Kaldi's default graph): each HMM state's
        forward transition is emitted on its first frame and its self-loops after it.

        Decided at the first change of transition state: in reordered order the frame before
        the change is a self-loop, in plain order the frame after it is.
        """
        states = self.state[alignment]
        changes = np.flatnonzero(states[:-1] != states[1:])
        for i in changes:
            if self.is_self_loop[alignment[i]]:
                return True
            if self.is_self_loop[alignment[i + 1]]:
                return False
        return bool(len(alignment)) and bool(self.is_self_loop[alignment[-1]])

    def split_into_phones(self, alignment: np.ndarray) -> list[PhoneSpan]:
        """Cut a transition-id alignment (T,) into complete phones; a trailing incomplete phone
        (a partial best path) raises WordAlignmentError."""
        reordered = self.self_loops_come_last(alignment)
        spans = []
        start = 0
        frame = 0
        while frame < len(alignment):
            transition_id = alignment[frame]
            if self.is_final[transition_id]:
                if reordered:  # the final state's self-loops follow its exit transition
                    while (
                        frame + 1 < len(alignment)
                        and self.is_self_loop[alignment[frame + 1]]
                        and self.state[alignment[frame + 1]] == self.state[transition_id]
                    ):
                        frame += 1
                spans.append(PhoneSpan(int(self.phone[transition_id]), start, frame + 1))
                start = frame + 1
            frame += 1
        if start != len(alignment):
            raise WordAlignmentError(f"the alignment ends inside a phone (frames {start}..{len(alignment) - 1})")
        return spans


def word_frame_spans(phones: list[PhoneSpan], boundary: dict[int, str]) -> list[tuple[int, int]]:
    """Group phones into words: ``(start_frame, end_frame)`` (end exclusive) per word, in order."""
    words = []
    word_start: int | None = None
    for span in phones:
        kind = boundary.get(span.phone)
        if kind is None:
            raise WordAlignmentError(f"phone {span.phone} is not in word_boundary.int")
        inside = word_start is not None
        if kind == "nonword" and not inside:
            continue
        if kind == "singleton" and not inside:
            words.append((span.start_frame, span.end_frame))
        elif kind == "begin" and not inside:
            word_start = span.start_frame
        elif kind == "internal" and inside:
            continue
        elif kind == "end" and inside:
            words.append((word_start, span.end_frame))
            word_start = None
        else:
            where = "inside" if inside else "outside"
            raise WordAlignmentError(f"a {kind} phone ({span.phone}) at frame {span.start_frame} is {where} a word")
    if word_start is not None:
        raise WordAlignmentError(f"the alignment ends inside the word that starts at frame {word_start}")
    return words


def align_words(
    word_ids: list[int],
    alignment: np.ndarray,
    tables: TransitionTables,
    boundary: dict[int, str],
) -> list[tuple[int, int, int]]:
    """``(word_id, start_frame, num_frames)`` for each decoded word, from the best path's alignment (T,)."""
    spans = word_frame_spans(tables.split_into_phones(alignment), boundary)
    if len(spans) != len(word_ids):
        raise WordAlignmentError(f"the alignment holds {len(spans)} words but the best path outputs {len(word_ids)}")
    return [(word, start, end - start) for word, (start, end) in zip(word_ids, spans)]
