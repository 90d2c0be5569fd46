"""Read NIST stm reference files (``file channel speaker start end [<labels>] text``).

Comment lines start with ``;;``; ``;; LABEL "id" "title" "description"`` lines define the
category labels used in ``<O,en,F>`` fields (sclite refuses a scored segment whose label is not
defined, or whose label moves to another position of the list). A segment whose text contains
``IGNORE_TIME_SEGMENT_IN_SCORING`` is not scored: hypothesis words that fall into it are dropped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from blspeech.score.errors import ScoreInputError
from blspeech.score.numeric import to_float32

IGNORE_MARKERS = ("IGNORE_TIME_SEGMENT_IN_SCORING", "IGNORETIMESEGMENTINSCORING")


@dataclass(frozen=True)
class StmSegment:
    """One reference segment; ``text`` is the raw transcript (alternations, ``(opt-del)`` words kept)."""

    file: str
    channel: str
    speaker: str
    start: float
    end: float
    labels: str | None
    text: str
    line: int

    @property
    def ignored(self) -> bool:
        return is_ignore_text(self.text)

    @property
    def sclite_end(self) -> float:
        """The end time as sclite holds it: parsed into a C ``float`` (so 6.57 is 6.5700002)."""
        return to_float32(self.end)


def is_ignore_text(text: str) -> bool:
    """True for the text of an IGNORE_TIME_SEGMENT_IN_SCORING segment (sclite matches any case)."""
    upper = text.upper()
    return any(marker in upper for marker in IGNORE_MARKERS)


def parse_stm_line(line: str, path: str | os.PathLike, lineno: int) -> StmSegment:
    """Parse one non-comment stm line; raise ScoreInputError naming ``path:lineno`` if malformed."""
    fields = line.split()
    if len(fields) < 5:
        raise ScoreInputError(path, lineno, f"stm line needs 'file channel speaker start end [text]', got {line.strip()!r}")
    file, channel, speaker, start_text, end_text = fields[:5]
    try:
        start, end = float(start_text), float(end_text)
    except ValueError:
        raise ScoreInputError(path, lineno, f"stm start/end times are not numbers: {start_text!r} {end_text!r}") from None
    if end < start:
        raise ScoreInputError(path, lineno, f"stm segment ends ({end}) before it starts ({start})")
    rest = fields[5:]
    labels = None
    if rest and rest[0].startswith("<"):
        if not rest[0].endswith(">"):
            raise ScoreInputError(path, lineno, f"stm label field {rest[0]!r} does not end with '>'")
        labels, rest = rest[0], rest[1:]
    return StmSegment(file, channel, speaker, start, end, labels, " ".join(rest), lineno)


def sclite_order(segments: list[StmSegment]) -> list[StmSegment]:
    """Segments sorted as ``hubscr.pl sortSTM`` sorts them: file, channel (byte order), start; stable."""
    return sorted(segments, key=lambda s: (s.file.encode("utf-8"), s.channel.encode("utf-8"), s.start))


def read_label_ids(path: str | os.PathLike) -> set[str]:
    """Lower-cased ids of the ``;; LABEL "id" "title" "description"`` lines of an stm file."""
    ids = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r';; LABEL [^"]*"([^"]*)"[^"]*"[^"]*"[^"]*"[^"]*"', line.lstrip())
            if match:
                ids.add(match.group(1).lower())
    return ids


def validate_reference(path: str | os.PathLike, segments: list[StmSegment]) -> None:
    """Refuse what hubscr/sclite refuse: no segment to score, a scored segment's label that no
    ``;; LABEL`` line defines, or a label found at different positions of the ``<a,b,c>`` lists."""
    if all(segment.ignored for segment in segments):
        raise ScoreInputError(path, None, "no segment to score (the file is empty or every segment is IGNORE_TIME_SEGMENT_IN_SCORING)")
    defined = read_label_ids(path)
    positions: dict[str, int] = {}
    for segment in segments:
        if segment.labels is None or segment.ignored:
            continue
        for position, label in enumerate(segment.labels[1:-1].split(",")):
            key = label.lower()
            if not key:
                continue
            if key not in defined:
                raise ScoreInputError(path, segment.line, f"label {label!r} is not defined by a ';; LABEL \"{label}\" \"title\" \"description\"' line")
            if positions.setdefault(key, position) != position:
                raise ScoreInputError(path, segment.line, f"label {label!r} is at position {position + 1} of {segment.labels} but at {positions[key] + 1} elsewhere")


def read_stm(path: str | os.PathLike) -> list[StmSegment]:
    """All segments of an stm file in file order (blank and ``;;`` lines skipped)."""
    segments = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(";;"):
                continue
            segments.append(parse_stm_line(line, path, lineno))
    return segments
