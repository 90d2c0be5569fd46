"""Where a synthesized corpus puts its files, and the transcript files it writes, in LDC's formats.

The layout copies the real packages so data prep cannot tell them apart::

    <root>/LDC97S62/swb1_d1/data/sw02001.sph                 training audio (Switchboard-1 R2)
    <root>/swb_ms98_transcriptions/20/2001/sw2001A-ms98-a-trans.text
    <root>/LDC2002S09/hub5e_00/english/{sw_4390,en_4156}.sph  Hub5'00 audio
    <root>/LDC2002S09/hub5e_00/english/hub5e_00.pem           Hub5'00 segments
    <root>/LDC2002T43/reference/hub5e00.english.000405.stm    Hub5'00 reference
    <root>/LDC2002T43/reference/en20000405_hub5.glm           scoring rules (sclite/hubscr.pl)
    <root>/synthesis.json                                     arguments, summary, voice of each side

Real ms98 releases also have ``-word.text`` files with word times; the synthesizer writes none,
since the TTS engines do not report word boundaries (data prep does not read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from blspeech.data.swbd import HUB5_GLM, HUB5_PEM, HUB5_STM, ms98_segment_id, ms98_transcript_path, swb1_sph_name
from blspeech.data.text import NON_SPEECH_WORDS, is_partial_word, normalize_word
from blspeech.fileio import write_text_atomic
from blspeech.resources import resource_path

# Words the Hub5 reference writes as the optionally deletable (%HESITATION).
HESITATIONS = frozenset({"uh", "um", "eh", "ah", "er", "erm", "hm", "hmm"})
STM_HEADER = """\
;; Reference file for english: a synthetic Hub5'00-like evaluation set written by blspeech
;; CATEGORY "0" "" ""
;; LABEL "O" "Overall" "Overall"
;;
;; CATEGORY "1" "Hub5 00" ""
;; LABEL "sw" "Switchboard" "Switchboard-like conversations: training speakers, new sentences"
;; LABEL "en" "CallHome" "CallHome-like conversations: speakers not heard in training"
;;
;; CATEGORY "2" "Sex" ""
;; LABEL "F" "Female" "Female Caller"
;; LABEL "M" "Male" "Male Caller"
;;
;; CATEGORY "3" "Corpus/Sex" ""
;; LABEL "sw-F" "Switchboard Female" "Switchboard Female Caller"
;; LABEL "sw-M" "Switchboard Male" "Switchboard Male Caller"
;; LABEL "en-F" "CallHome Female" "CallHome Female Caller"
;; LABEL "en-M" "CallHome Male" "CallHome Male Caller"
"""


@dataclass(frozen=True)
class CorpusLayout:
    """Paths of one corpus root; the four dirs are what :func:`prepare_switchboard` takes."""

    root: Path

    @property
    def swb1_dir(self) -> Path:
        return self.root / "LDC97S62"

    @property
    def transcripts_dir(self) -> Path:
        return self.root / "swb_ms98_transcriptions"

    @property
    def hub5_dir(self) -> Path:
        return self.root / "LDC2002S09"

    @property
    def hub5_transcripts_dir(self) -> Path:
        return self.root / "LDC2002T43"

    def prep_arguments(self) -> dict[str, Path]:
        """Keyword arguments for :func:`blspeech.data.swbd.prepare_switchboard`."""
        return {
            "swb1_dir": self.swb1_dir,
            "transcripts_dir": self.transcripts_dir,
            "hub5_dir": self.hub5_dir,
            "hub5_transcripts_dir": self.hub5_transcripts_dir,
        }

    def train_sph(self, conversation: int) -> Path:
        return self.swb1_dir / "swb1_d1" / "data" / swb1_sph_name(conversation)

    @property
    def hub5_english_dir(self) -> Path:
        return self.hub5_dir / "hub5e_00" / "english"

    def eval_sph(self, file_id: str) -> Path:
        return self.hub5_english_dir / f"{file_id}.sph"

    @property
    def pem(self) -> Path:
        return self.hub5_english_dir / HUB5_PEM

    @property
    def stm(self) -> Path:
        return self.hub5_transcripts_dir / "reference" / HUB5_STM

    @property
    def glm(self) -> Path:
        return self.hub5_transcripts_dir / "reference" / HUB5_GLM

    @property
    def owned_dirs(self) -> tuple[Path, ...]:
        return (self.swb1_dir, self.transcripts_dir, self.hub5_dir, self.hub5_transcripts_dir)


@dataclass(frozen=True)
class TranscriptLine:
    """A segment of one conversation side: ``number`` is its ms98 index, None until numbered."""

    start: float
    end: float
    words: str
    number: int | None = None


def fill_silences(speech: Sequence[TranscriptLine], side_end: float) -> list[TranscriptLine]:
    """Number a side's speech segments from 1 with ``[silence]`` segments in every gap, as ms98 files do."""
    lines: list[TranscriptLine] = []
    cursor = 0.0
    for segment in sorted(speech, key=lambda s: s.start):
        if segment.start - cursor > 1e-6:
            lines.append(TranscriptLine(cursor, segment.start, "[silence]"))
        lines.append(segment)
        cursor = segment.end
    if side_end - cursor > 1e-6:
        lines.append(TranscriptLine(cursor, side_end, "[silence]"))
    return [TranscriptLine(line.start, line.end, line.words, number) for number, line in enumerate(lines, 1)]


def retime(original: Sequence[TranscriptLine], placed: dict[int, tuple[float, float]], side_end: float) -> list[TranscriptLine]:
    """Keep every original line and number; audible ones (in ``placed``) take their new times.

    The lines in between (``[silence]`` and the like) share the gap between their placed
    neighbours equally, so the side stays tiled from 0 to ``side_end``.
    """
    lines: list[TranscriptLine] = []
    pending: list[TranscriptLine] = []
    cursor = 0.0

    def flush(until: float) -> None:
        step = (until - cursor) / len(pending) if pending else 0.0
        for k, line in enumerate(pending):
            lines.append(TranscriptLine(cursor + k * step, cursor + (k + 1) * step, line.words, line.number))
        pending.clear()

    for line in original:
        if line.number in placed:
            start, end = placed[line.number]
            flush(start)
            lines.append(TranscriptLine(start, end, line.words, line.number))
            cursor = end
        else:
            pending.append(line)
    flush(max(side_end, cursor))
    return lines


def write_ms98_side(transcripts_dir: Path, conversation: int, side: str, lines: Sequence[TranscriptLine]) -> None:
    """``sw2001A-ms98-a-trans.text``: ``sw2001A-ms98-a-0001 0.000000 0.977625 [silence]`` per line."""
    text = "".join(
        f"{ms98_segment_id(conversation, side, line.number)} {line.start:.6f} {line.end:.6f} {line.words}\n" for line in lines
    )
    write_text_atomic(ms98_transcript_path(transcripts_dir, conversation, side), text)


def hub5_reference_words(transcript: str) -> str:
    """The words of an ms98-markup transcript as a Hub5 ``.stm`` reference writes them.

    Uppercase; hesitations become ``(%HESITATION)`` and partial words ``(AB-)`` (optionally
    deletable); non-speech events are not words. Nothing left to score gives
    ``IGNORE_TIME_SEGMENT_IN_SCORING``.
    """
    words = []
    for raw in transcript.split():
        word = normalize_word(raw)
        if not word or word in NON_SPEECH_WORDS:
            continue
        if word in HESITATIONS:
            words.append("(%HESITATION)")
        elif is_partial_word(word):
            words.append(f"({word.upper()})")
        else:
            words.append(word.upper())
    return " ".join(words) if words else "IGNORE_TIME_SEGMENT_IN_SCORING"


@dataclass(frozen=True)
class EvalSegment:
    """One scored segment of the evaluation set."""

    file_id: str  # sw_4390 or en_4156
    side: str
    start: float
    end: float
    gender: str  # "f" or "m"
    transcript: str  # ms98 markup


def write_hub5_references(layout: CorpusLayout, segments: Sequence[EvalSegment]) -> None:
    """The ``.pem`` segment file, the ``.stm`` reference (with sclite category labels) and the ``.glm``."""
    ordered = sorted(segments, key=lambda s: (s.file_id, s.side, s.start))
    pem = ";; Hub5'00-like partitioned evaluation map: file side speaker start end\n" + "".join(
        f"{s.file_id} {s.side} unknown_speaker {s.start:.2f} {s.end:.2f}\n" for s in ordered
    )
    stm = STM_HEADER + "".join(
        f"{s.file_id} {s.side} {s.file_id}_{s.side} {s.start:.2f} {s.end:.2f} "
        f"<O,{s.file_id[:2]},{s.gender.upper()},{s.file_id[:2]}-{s.gender.upper()}> {hub5_reference_words(s.transcript)}\n"
        for s in ordered
    )
    write_text_atomic(layout.pem, pem)
    write_text_atomic(layout.stm, stm)
    write_text_atomic(layout.glm, resource_path("hub5_synthetic.glm").read_text(encoding="utf-8"))
