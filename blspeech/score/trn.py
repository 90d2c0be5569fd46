"""Read and write sclite trn transcripts (``word word ... (utterance-id)``), for hypotheses without times.

sclite takes the id from the last parenthesised group on the line; words in parentheses before it
are optionally deletable words, as in stm text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from blspeech.fileio import atomic_write
from blspeech.score.errors import ScoreInputError

T = TypeVar("T")


@dataclass(frozen=True)
class TrnUtterance:
    utt_id: str
    text: str
    line: int


def parse_trn_line(line: str, path: str | os.PathLike, lineno: int) -> TrnUtterance:
    """Split ``text (id)``; raise ScoreInputError naming ``path:lineno`` when the id is missing."""
    stripped = line.rstrip()
    open_at = stripped.rfind("(")
    if not stripped.endswith(")") or open_at < 0 or ")" in stripped[open_at + 1 : -1]:
        raise ScoreInputError(path, lineno, f"trn line must end with '(utterance-id)', got {line.strip()!r}")
    utt_id = stripped[open_at + 1 : -1].strip()
    if not utt_id or any(ch.isspace() for ch in utt_id):
        raise ScoreInputError(path, lineno, f"trn utterance id {utt_id!r} is empty or contains whitespace")
    return TrnUtterance(utt_id, " ".join(stripped[:open_at].split()), lineno)


def read_trn(path: str | os.PathLike) -> list[TrnUtterance]:
    """All utterances of a trn file in file order; duplicate ids are an error."""
    utterances: list[TrnUtterance] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(";;"):
                continue
            utterance = parse_trn_line(line, path, lineno)
            if utterance.utt_id in seen:
                raise ScoreInputError(path, lineno, f"utterance id {utterance.utt_id!r} already used on line {seen[utterance.utt_id]}")
            seen[utterance.utt_id] = lineno
            utterances.append(utterance)
    return utterances


def trn_id(utt: str, speaker: str | None) -> str:
    """sclite's ``speaker-utterance`` id; Kaldi utterance ids already start with their speaker."""
    if speaker is None or utt.startswith(speaker):
        return utt
    return f"{speaker}-{utt}"


def write_trn(path: str | os.PathLike, words_per_utt: Mapping[str, Sequence[str]], utt2spk: Mapping[str, str] | None = None) -> int:
    """Write one ``words (id)`` line per utterance, sorted by id; return the number of lines."""
    lines = {}
    for utt, words in words_per_utt.items():
        speaker = None
        if utt2spk is not None:
            if utt not in utt2spk:
                raise ValueError(f"utterance {utt!r} has no entry in utt2spk")
            speaker = utt2spk[utt]
        for word in words:
            if not word or any(ch.isspace() for ch in word):
                raise ValueError(f"utterance {utt!r}: word {word!r} is empty or contains whitespace")
        lines[trn_id(utt, speaker)] = " ".join(words)
    with atomic_write(path) as handle:
        for utt_id in sorted(lines, key=lambda k: k.encode("utf-8")):
            text = lines[utt_id]
            handle.write(f"{text} ({utt_id})\n" if text else f"({utt_id})\n")
    return len(lines)


def _comparable(identifier: str) -> str:
    """An id as speaker matching compares it: lower case, ``-`` read as ``_``."""
    return identifier.lower().replace("-", "_")


def numbers_as_numbers(utt_id: str) -> list[tuple[bytes, int]]:
    """Sort key: runs of text in byte order, each followed by its run of digits compared as a number."""
    return [(text.encode("utf-8"), int(digits) if digits else -1) for text, digits in re.findall(r"(\D*)(\d*)", utt_id)]


def pair_with_segments(
    utterances: Sequence[TrnUtterance], segments_by_speaker: Mapping[str, Sequence[T]], path: str | os.PathLike,
    file_of: Callable[[T], str],
) -> list[tuple[T, TrnUtterance]]:
    """Pair trn utterances with the scored reference segments they transcribe, in segment order.

    An utterance belongs to the reference speaker whose id is the longest prefix of the utterance
    id followed by ``-``, ``_`` or nothing (Kaldi utterance ids start with their speaker id),
    compared case-insensitively and with ``-`` and ``_`` alike (Kaldi's eval2000 speaker
    ``en_4156-A`` is the Hub5 stm's ``en_4156_A``). Where each of a speaker's utterances has a segment of its own file
    (``file_of``; a data dir without segments, every utterance its own recording), they pair by
    that id. Otherwise a trn line carries no times, so they pair by order: the utterances, sorted
    by id with the numbers in it compared as numbers (``-2`` before ``-10``, as times in ids are,
    padded or not), with the segments in time order. Raise ScoreInputError when an utterance
    matches no speaker or a speaker's counts differ.
    """
    speakers = {_comparable(speaker): speaker for speaker in segments_by_speaker}
    grouped: dict[str, list[TrnUtterance]] = {speaker: [] for speaker in segments_by_speaker}
    for utterance in utterances:
        utt = _comparable(utterance.utt_id)
        owners = [s for s in speakers if utt == s or (utt.startswith(s) and utt[len(s)] == "_")]
        if not owners:
            raise ScoreInputError(path, utterance.line, f"utterance id {utterance.utt_id!r} does not start with any reference speaker id")
        grouped[speakers[max(owners, key=len)]].append(utterance)
    pairs = []
    for speaker, segments in segments_by_speaker.items():
        mine = grouped[speaker]
        if len(mine) != len(segments):
            raise ScoreInputError(path, None, f"speaker {speaker!r} has {len(segments)} scored reference segments but {len(mine)} trn utterances")
        by_id = {u.utt_id.lower(): u for u in mine}
        if sorted(by_id) == sorted(file_of(segment).lower() for segment in segments):
            pairs.extend((segment, by_id[file_of(segment).lower()]) for segment in segments)
        else:
            pairs.extend(zip(segments, sorted(mine, key=lambda u: (numbers_as_numbers(u.utt_id), u.utt_id))))
    return pairs
