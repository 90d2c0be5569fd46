"""Read and write NIST ctm hypothesis files (``file channel start duration word [confidence]``).

Decoders produce words with times relative to their utterance; :func:`write_ctm` turns them into
absolute conversation times using the data dir's ``segments`` and ``reco2file_and_channel``, as
Kaldi's ``convert_ctm.pl`` does, sorted the way ``hubscr.pl`` sorts (file, channel, start).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from blspeech.data.kaldi_dir import Segment
from blspeech.fileio import atomic_write
from blspeech.score.errors import ScoreInputError


@dataclass(frozen=True)
class CtmWord:
    file: str
    channel: str
    start: float
    duration: float
    word: str
    confidence: float | None
    line: int

    @property
    def midpoint(self) -> float:
        """The time sclite uses to decide which reference segment a word belongs to."""
        return self.start + self.duration / 2.0


def _number(text: str, what: str, path: str | os.PathLike, lineno: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScoreInputError(path, lineno, f"ctm {what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ScoreInputError(path, lineno, f"ctm {what} is not finite: {text!r}")
    return value


def parse_ctm_line(line: str, path: str | os.PathLike, lineno: int) -> CtmWord:
    """Parse one non-comment ctm line; raise ScoreInputError naming ``path:lineno`` if malformed."""
    fields = line.split()
    if not 5 <= len(fields) <= 6:
        raise ScoreInputError(path, lineno, f"ctm line needs 'file channel start duration word [confidence]', got {line.strip()!r}")
    start = _number(fields[2], "start time", path, lineno)
    duration = _number(fields[3], "duration", path, lineno)
    if start < 0 or duration < 0:
        raise ScoreInputError(path, lineno, f"ctm start and duration must be >= 0, got {fields[2]} {fields[3]}")
    confidence = None
    if len(fields) == 6 and fields[5].upper() != "NA":
        confidence = _number(fields[5], "confidence", path, lineno)
    return CtmWord(fields[0], fields[1], start, duration, fields[4], confidence, lineno)


def read_ctm(path: str | os.PathLike) -> list[CtmWord]:
    """All words of a ctm file in file order; blank lines and ``;`` comment lines are skipped."""
    words = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(";"):
                continue
            words.append(parse_ctm_line(line, path, lineno))
    return words


def sclite_order(words: Sequence[CtmWord]) -> list[CtmWord]:
    """Words sorted as ``hubscr.pl sortCTM`` sorts them: file, then channel (byte order), then start.

    The sort is stable, so words with equal start times keep their file order.
    """
    return sorted(words, key=lambda w: (w.file.encode("utf-8"), w.channel.encode("utf-8"), w.start))


def write_ctm(
    path: str | os.PathLike,
    words_per_utt: Mapping[str, Sequence[tuple[str, float, float]]],
    segments: Mapping[str, Segment] | None,
    reco2file_and_channel: Mapping[str, tuple[str, str]] | None,
    confidence: Mapping[str, Sequence[float]] | None = None,
    decimals: int = 2,
) -> int:
    """Write decoder output as an absolute-time ctm; return the number of words written.

    ``words_per_utt[utt]`` is a list of ``(word, start_s, duration_s)`` with ``start_s`` relative to
    the utterance. ``segments[utt]`` gives the recording and its offset (``None``: every utterance
    is a whole recording starting at 0). ``reco2file_and_channel[recording]`` gives the conversation
    id and side (``None``: the recording id itself, channel ``A``). ``confidence[utt]``, if given,
    holds one score per word and becomes the sixth column.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    lines: list[tuple[str, str, float, int, str]] = []
    for utt, words in words_per_utt.items():
        if segments is None:
            recording, offset = utt, 0.0
        elif utt in segments:
            recording, offset = segments[utt].recording, segments[utt].start
        else:
            raise ValueError(f"utterance {utt!r} has no entry in segments")
        if reco2file_and_channel is None:
            file, channel = recording, "A"
        elif recording in reco2file_and_channel:
            file, channel = reco2file_and_channel[recording]
        else:
            raise ValueError(f"recording {recording!r} of utterance {utt!r} has no entry in reco2file_and_channel")
        scores = None
        if confidence is not None:
            scores = confidence.get(utt)
            if scores is None or len(scores) != len(words):
                got = "none" if scores is None else len(scores)
                raise ValueError(f"utterance {utt!r}: {len(words)} words but {got} confidence scores")
        for index, (word, start, duration) in enumerate(words):
            if not word or any(ch.isspace() for ch in word):
                raise ValueError(f"utterance {utt!r}: word {word!r} is empty or contains whitespace")
            if start < 0 or duration < 0:
                raise ValueError(f"utterance {utt!r}: word {word!r} has negative start {start} or duration {duration}")
            begin = offset + start
            text = f"{file} {channel} {begin:.{decimals}f} {duration:.{decimals}f} {word}"
            if scores is not None:
                text += f" {scores[index]:.3f}"
            lines.append((file, channel, begin, len(lines), text))
    lines.sort(key=lambda item: (item[0].encode("utf-8"), item[1].encode("utf-8"), item[2], item[3]))
    with atomic_write(path) as handle:
        for *_, text in lines:
            handle.write(text + "\n")
    return len(lines)
