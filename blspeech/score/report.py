"""Score reports: counts per speaker, per subset and in total, and the sclite-like files.

Both back ends produce the same :class:`SegmentResult` list; everything else is derived from it
here, so the two reports cannot drift apart. Files written by :func:`write_report`:

- ``PREFIX.sys``  sclite-style table of percentages: one row per speaker, Sum/Avg, then the
  subsets (Overall, SWB = conversations ``sw*``, CallHome = ``en*``)
- ``PREFIX.raw``  the same tables with counts
- ``PREFIX.pra``  every segment's alignment (REF/HYP/Eval lines, errors upper-cased)
- ``PREFIX.dtl``  per speaker: confusion pairs, inserted and deleted words
- ``PREFIX.json`` the counts for programs
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from blspeech.fileio import write_text_atomic
from blspeech.score.align import AlignedWord

SUBSETS = {"SWB": "sw", "CallHome": "en"}  # subset name -> conversation id prefix
SUBSET_ORDER = (*SUBSETS, "Overall")  # how tables order a set's WERs


def splits_into_subsets(wers: Iterable[str]) -> bool:
    """Whether a set's scores (subset names) have every subset: a test set. One alone does not
    count: a dev set's stm may label all its speakers SWB."""
    return set(SUBSETS) <= set(wers)


@dataclass(frozen=True)
class SegmentResult:
    """One scored reference segment (ids lower-cased, as sclite reports them) and its alignment."""

    file: str
    channel: str
    speaker: str
    start: float
    end: float
    labels: str | None
    alignment: tuple[AlignedWord, ...]

    def count(self, op: str) -> int:
        return sum(1 for step in self.alignment if step.op == op)


@dataclass(frozen=True)
class Counts:
    """sclite's row: speakers, segments (# Snt), Corr, Sub, Del, Ins and segments with errors (S.Err)."""

    speakers: int = 0
    segments: int = 0
    correct: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    segment_errors: int = 0

    @property
    def words(self) -> int:
        """Reference words (# Wrd) = Corr + Sub + Del, as sclite counts them."""
        return self.correct + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Word error rate in percent; 0 without reference words or errors, infinite for insertions alone."""
        if self.words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.words

    @classmethod
    def of(cls, segments: Iterable[SegmentResult]) -> Counts:
        segments = list(segments)
        ops = Counter(step.op for segment in segments for step in segment.alignment)
        return cls(
            speakers=len({segment.speaker for segment in segments}),
            segments=len(segments),
            correct=ops["C"],
            substitutions=ops["S"],
            deletions=ops["D"],
            insertions=ops["I"],
            segment_errors=sum(1 for segment in segments if any(step.op != "C" for step in segment.alignment)),
        )

    def as_dict(self) -> dict[str, float | int | None]:
        """The counts with words, errors and WER; WER is None (JSON null) when it is infinite."""
        wer = round(self.wer, 4) if math.isfinite(self.wer) else None
        return {**asdict(self), "words": self.words, "errors": self.errors, "wer": wer}


@dataclass
class ScoreReport:
    """The result of one scoring run; ``segments`` in sclite's order (by speaker of first appearance)."""

    backend: str
    ref: str
    hyp: str
    glm: str | None
    segments: list[SegmentResult]
    total: Counts = field(init=False)
    speakers: dict[str, Counts] = field(init=False)
    subsets: dict[str, Counts] = field(init=False)

    def __post_init__(self) -> None:
        by_speaker: dict[str, list[SegmentResult]] = {}
        for segment in self.segments:
            by_speaker.setdefault(segment.speaker, []).append(segment)
        self.segments = [segment for group in by_speaker.values() for segment in group]
        self.total = Counts.of(self.segments)
        self.speakers = {speaker: Counts.of(group) for speaker, group in by_speaker.items()}
        self.subsets = {"Overall": self.total}
        for name, prefix in SUBSETS.items():
            members = [segment for segment in self.segments if segment.file.startswith(prefix)]
            if members:
                self.subsets[name] = Counts.of(members)

    @property
    def wer(self) -> float:
        return self.total.wer

    def summary(self) -> str:
        """One line in Kaldi's style, e.g. ``%WER 12.34 [ 123 / 997, 20 ins, 30 del, 73 sub ] SWB 10.00 CallHome 14.00``."""
        t = self.total
        line = f"%WER {t.wer:.2f} [ {t.errors} / {t.words}, {t.insertions} ins, {t.deletions} del, {t.substitutions} sub ]"
        for name, counts in self.subsets.items():
            if name != "Overall":
                line += f" {name} {counts.wer:.2f}"
        return f"{line} {self.hyp} ({self.backend})"

    def to_json(self) -> str:
        payload = {
            "backend": self.backend,
            "ref": self.ref,
            "hyp": self.hyp,
            "glm": self.glm,
            "wer": self.total.as_dict()["wer"],
            "total": self.total.as_dict(),
            "subsets": {name: counts.as_dict() for name, counts in self.subsets.items()},
            "speakers": {name: counts.as_dict() for name, counts in self.speakers.items()},
        }
        return json.dumps(payload, indent=2) + "\n"


def _percent(count: int, total: int) -> str:
    return f"{100.0 * count / total:.1f}" if total else "0.0"


def _table(title: str, name_header: str, rows: Sequence[tuple[str, Counts]], percent: bool, with_speakers: bool) -> str:
    """An sclite-like box table; one row per (name, counts)."""
    width = max([len(name_header)] + [len(name) for name, _ in rows])
    columns = ("Corr", "Sub", "Del", "Ins", "Err", "S.Err")

    def line(name: str, sizes: Sequence[str], values: Sequence[str]) -> str:
        return f"| {name:<{width}} | {' '.join(sizes)} | {'  '.join(f'{v:>5}' for v in values)} |"

    size_header = (["#Spk"] if with_speakers else []) + ["# Snt", "  # Wrd"]
    head = line(name_header, size_header, columns)
    rule = "|" + "-" * (len(head) - 2) + "|"
    lines = [f",{'-' * (len(head) - 2)}.", f"|{title:^{len(head) - 2}}|", rule, head, rule]
    for name, c in rows:
        sizes = ([f"{c.speakers:4d}"] if with_speakers else []) + [f"{c.segments:5d}", f"{c.words:7d}"]
        if percent:
            values = [_percent(v, c.words) for v in (c.correct, c.substitutions, c.deletions, c.insertions, c.errors)]
            values.append(_percent(c.segment_errors, c.segments))
        else:
            values = [str(v) for v in (c.correct, c.substitutions, c.deletions, c.insertions, c.errors, c.segment_errors)]
        lines.append(line(name, sizes, values))
    lines.append(f"`{'-' * (len(head) - 2)}'")
    return "\n".join(lines) + "\n"


def format_summary(report: ScoreReport, percent: bool) -> str:
    """The .sys (``percent=True``) or .raw text: per-speaker table, then the subset table."""
    kind = "PERCENTAGES" if percent else "COUNTS"
    speakers = list(report.speakers.items()) + [("Sum/Avg", report.total)]
    return (
        f"SYSTEM SUMMARY {kind} by SPEAKER ({report.backend} back end)\n\n"
        + _table(Path(report.hyp).name, "SPKR", speakers, percent, with_speakers=False)
        + f"\nSYSTEM SUMMARY {kind} by SUBSET (SWB = sw*, CallHome = en*)\n\n"
        + _table(Path(report.hyp).name, "SET", list(report.subsets.items()), percent, with_speakers=True)
    )


def format_alignments(report: ScoreReport) -> str:
    """sclite .pra-like text: per segment its id, counts and REF/HYP/Eval lines."""
    blocks = []
    index: Counter[str] = Counter()
    for segment in report.segments:
        seg_id = f"({segment.speaker}-{index[segment.speaker]:03d})"
        index[segment.speaker] += 1
        refs, hyps, evals = [], [], []
        for step in segment.alignment:
            ref = step.ref if step.ref is not None else "*" * len(step.hyp or "")
            hyp = step.hyp if step.hyp is not None else "*" * len(step.ref or "")
            if step.op != "C":
                ref, hyp = ref.upper(), hyp.upper()
            width = max(len(ref), len(hyp))
            refs.append(f"{ref:<{width}}")
            hyps.append(f"{hyp:<{width}}")
            evals.append(f"{'' if step.op == 'C' else step.op:<{width}}")
        counts = " ".join(str(segment.count(op)) for op in "CSDI")
        blocks.append(
            f"id: {seg_id}\n"
            f"File: {segment.file}  Channel: {segment.channel}  Times: {segment.start:.3f} {segment.end:.3f}"
            f"  Labels: {segment.labels or ''}\n"
            f"Scores: (#C #S #D #I) {counts}\n"
            f"REF:  {' '.join(refs)}\nHYP:  {' '.join(hyps)}\nEval: {' '.join(evals)}\n"
        )
    return "\n".join(blocks)


def _ranked(counter: Counter, indent: str = "   ") -> list[str]:
    return [f"{indent}{count:5d}: {item}" for item, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def format_details(report: ScoreReport) -> str:
    """Per speaker (and overall): counts, confusion pairs, insertions and deletions."""
    sections = []
    groups: dict[str, list[SegmentResult]] = {"(all speakers)": report.segments}
    for segment in report.segments:
        groups.setdefault(segment.speaker, []).append(segment)
    for name, segments in groups.items():
        c = Counts.of(segments)
        steps = [step for segment in segments for step in segment.alignment]
        pairs = Counter(f"{s.ref} ==> {s.hyp}" for s in steps if s.op == "S")
        inserted = Counter(s.hyp for s in steps if s.op == "I")
        deleted = Counter(s.ref for s in steps if s.op == "D")
        sections.append(
            "\n".join(
                [
                    f"DETAILED REPORT FOR SPEAKER {name}",
                    f"  segments {c.segments}, with errors {c.segment_errors}",
                    f"  words {c.words}: correct {c.correct}, substitutions {c.substitutions}, "
                    f"deletions {c.deletions}, insertions {c.insertions}, WER {c.wer:.2f}%",
                    f"  CONFUSION PAIRS ({sum(pairs.values())})",
                    *_ranked(pairs),
                    f"  INSERTIONS ({sum(inserted.values())})",
                    *_ranked(inserted),
                    f"  DELETIONS ({sum(deleted.values())})",
                    *_ranked(deleted),
                ]
            )
            + "\n"
        )
    return "\n".join(sections)


def write_report(report: ScoreReport, out_dir: str | os.PathLike, prefix: str | None = None) -> list[Path]:
    """Write PREFIX.sys/.raw/.pra/.dtl/.json (PREFIX defaults to the hypothesis file name)."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    prefix = prefix or Path(report.hyp).name
    contents = {
        "sys": format_summary(report, percent=True),
        "raw": format_summary(report, percent=False),
        "pra": format_alignments(report),
        "dtl": format_details(report),
        "json": report.to_json(),
    }
    paths = []
    for suffix, text in contents.items():
        path = root / f"{prefix}.{suffix}"
        write_text_atomic(path, text)
        paths.append(path)
    return paths
