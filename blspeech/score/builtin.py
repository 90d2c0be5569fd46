"""The pure-Python back end: hubscr.pl's hub5 pipeline without SCTK installed.

Steps, each as SCTK does them: sort stm and ctm (file, channel, start); filter every transcript
with the GLM (:mod:`blspeech.score.rules`); per file and channel, give each reference segment
the hypothesis words whose midpoint lies before its end (the last segment takes the rest, words
in a gap go to the next segment, IGNORE_TIME_SEGMENT_IN_SCORING segments swallow theirs); then
align each segment with :func:`blspeech.score.align.align`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from blspeech.score.align import Alternation, Item, Word, align, make_word, parse_transcript
from blspeech.score.ctm import CtmWord, read_ctm
from blspeech.score.ctm import sclite_order as ctm_order
from blspeech.score.errors import ScoreInputError
from blspeech.score.glm import Glm, read_glm
from blspeech.score.report import SegmentResult
from blspeech.score.rules import (
    TimedItem,
    TimedWord,
    drop_non_scored_words,
    expand_ctm_word,
    filter_text,
    is_non_scored_hyp_word,
)
from blspeech.score.stm import StmSegment, read_stm, validate_reference
from blspeech.score.stm import sclite_order as stm_order
from blspeech.score.trn import pair_with_segments, read_trn


@dataclass(frozen=True)
class FilteredSegment:
    """A reference segment with its GLM-filtered text, parsed into words and alternations."""

    segment: StmSegment
    items: tuple[Item, ...]

    @property
    def channel_key(self) -> tuple[str, str]:
        return self.segment.file.lower(), self.segment.channel.lower()


def _glm(glm_path: str | os.PathLike | None, input_type: str, purpose: str) -> Glm | None:
    return read_glm(glm_path, input_type, purpose) if glm_path is not None else None


def _filtered_reference(ref_stm: str | os.PathLike, glm_path: str | os.PathLike | None) -> list[FilteredSegment]:
    """The stm segments in hubscr's order with their filtered text."""
    glm = _glm(glm_path, "stm", "ref")
    segments = read_stm(ref_stm)
    validate_reference(ref_stm, segments)
    filtered = []
    for segment in stm_order(segments):
        try:
            text = filter_text(f" {segment.text} ", glm)
            filtered.append(FilteredSegment(segment, tuple(parse_transcript(text))))
        except ValueError as error:
            raise ScoreInputError(ref_stm, segment.line, str(error)) from None
    return filtered


def _result(ref: FilteredSegment, hyp: Sequence[Item]) -> SegmentResult:
    s = ref.segment
    labels = s.labels.lower() if s.labels else None
    alignment = tuple(align(ref.items, hyp))
    return SegmentResult(s.file.lower(), s.channel.lower(), s.speaker.lower(), s.start, s.end, labels, alignment)


def _as_items(timed: Sequence[TimedItem]) -> list[Item]:
    items: list[Item] = []
    for item in timed:
        if isinstance(item, TimedWord):
            items.append(make_word(item.text))
        else:
            options = tuple(tuple(make_word(w.text) for w in option) or (Word("@"),) for option in item.alternatives)
            items.append(Alternation(options))
    return items


def _channels(reference: Sequence[FilteredSegment]) -> Iterator[list[FilteredSegment]]:
    """Consecutive runs of segments of one file and channel, as sclite walks them."""
    run: list[FilteredSegment] = []
    for segment in reference:
        if run and segment.channel_key != run[0].channel_key:
            yield run
            run = []
        run.append(segment)
    if run:
        yield run


def _timed_hypothesis(hyp_ctm: str | os.PathLike, glm: Glm | None) -> dict[tuple[str, str], tuple[int, list[TimedItem]]]:
    """Per (file, channel): the first ctm line (for messages) and the filtered words in sclite order."""
    words: list[CtmWord] = [w for w in read_ctm(hyp_ctm) if not is_non_scored_hyp_word(w.word)]
    by_channel: dict[tuple[str, str], tuple[int, list[TimedItem]]] = {}
    for word in ctm_order(words):
        try:
            filtered = filter_text(word.word, glm)
        except ValueError as error:
            raise ScoreInputError(hyp_ctm, word.line, str(error)) from None
        _, items = by_channel.setdefault((word.file.lower(), word.channel.lower()), (word.line, []))
        items.extend(expand_ctm_word(filtered, word.start, word.duration))
    return by_channel


def score_ctm(ref_stm: str | os.PathLike, hyp_ctm: str | os.PathLike, glm_path: str | os.PathLike | None) -> list[SegmentResult]:
    """Score a ctm against an stm; hypothesis channels missing from the reference are an error."""
    reference = _filtered_reference(ref_stm, glm_path)
    hypothesis = _timed_hypothesis(hyp_ctm, _glm(glm_path, "ctm", "hyp"))
    results = []
    for run in _channels(reference):
        _, words = hypothesis.pop(run[0].channel_key, (0, []))
        taken = 0
        for position, ref in enumerate(run):
            end = len(words)
            if position < len(run) - 1:
                end = taken
                while end < len(words) and words[end].midpoint < ref.segment.sclite_end:
                    end += 1
            mine, taken = words[taken:end], end
            if not ref.segment.ignored:
                results.append(_result(ref, _as_items(mine)))
    if hypothesis:
        (file, channel), (line, _) = min(hypothesis.items(), key=lambda kv: kv[1][0])
        raise ScoreInputError(hyp_ctm, line, f"words for file {file!r} channel {channel!r}, which the reference {ref_stm} does not have")
    return results


def score_trn(ref_stm: str | os.PathLike, hyp_trn: str | os.PathLike, glm_path: str | os.PathLike | None) -> list[SegmentResult]:
    """Score a trn against an stm, pairing utterances with segments as :func:`pair_with_segments` says."""
    reference = _filtered_reference(ref_stm, glm_path)
    glm = _glm(glm_path, "trn", "hyp")
    by_speaker: dict[str, list[FilteredSegment]] = {}
    for ref in reference:
        if not ref.segment.ignored:
            by_speaker.setdefault(ref.segment.speaker, []).append(ref)
    results = []
    for ref, utterance in pair_with_segments(read_trn(hyp_trn), by_speaker, hyp_trn, lambda r: r.segment.file):
        try:
            hyp = parse_transcript(filter_text(f" {drop_non_scored_words(utterance.text)} ", glm))
        except ValueError as error:
            raise ScoreInputError(hyp_trn, utterance.line, str(error)) from None
        results.append(_result(ref, hyp))
    return results
