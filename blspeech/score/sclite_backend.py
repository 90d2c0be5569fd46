"""The SCTK back end: run NIST's own ``hubscr.pl`` (ctm) or ``csrfilt.sh`` + ``sclite`` (trn).

Inputs are first read with this package's parsers, so malformed lines give the same clear errors
as the builtin back end. The hypothesis is cleaned the same way (noise tokens and ``<unk>``
dropped; ctm confidences dropped, which never change a count but trip csrfilt when a word is
mapped away). SCTK's per-segment alignments (its ``.sgml`` report) become the
:class:`~blspeech.score.report.SegmentResult` list, cross-checked against its ``.raw`` per-speaker
counts, so both back ends feed the same report code.

SCTK is found through ``$SCTK_BIN`` (a directory), the directory of ``hubscr.pl`` or ``sclite`` on
``PATH``, or Debian's ``/usr/lib/sctk/bin``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from blspeech.score.align import AlignedWord
from blspeech.score.ctm import parse_ctm_line
from blspeech.score.errors import ScoreInputError
from blspeech.score.glm import read_glm
from blspeech.score.report import Counts, SegmentResult
from blspeech.score.rules import drop_non_scored_words, is_non_scored_hyp_word
from blspeech.score.stm import StmSegment, parse_stm_line, read_stm, validate_reference
from blspeech.score.stm import sclite_order as stm_order
from blspeech.score.trn import pair_with_segments, read_trn

SCTK_TOOLS = ("hubscr.pl", "sclite", "csrfilt.sh", "rfilter1")
DEBIAN_SCTK_BIN = Path("/usr/lib/sctk/bin")
EMPTY_GLM = """;; no mapping rules (written by blspeech.score because no GLM was given)
* name "none"
* format = 'NIST1'
* copy_no_hit = 'T'
* case_sensitive = 'F'
;; rfilter1 crashes on an empty rule set, so keep one rule that rewrites a space into a space
[ ] => [ ]
"""
_TAG_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_STEP = re.compile(r'([CSDI]),(?:"([^"]*)")?,(?:"([^"]*)")?[^:]*(?::|$)')
_RAW_ROW = re.compile(r"^\s*\|\s*(\S+)\s*\|\s*(\d+)\s+(\d+)\s*\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|\s*$")


def find_sctk() -> Path | None:
    """The directory holding hubscr.pl, sclite, csrfilt.sh and rfilter1, or None."""
    candidates = [os.environ.get("SCTK_BIN")]
    candidates += [str(Path(found).resolve().parent) for tool in ("hubscr.pl", "sclite") if (found := shutil.which(tool))]
    candidates.append(str(DEBIAN_SCTK_BIN))
    for candidate in candidates:
        if candidate and all(os.access(Path(candidate) / tool, os.X_OK) for tool in SCTK_TOOLS):
            return Path(candidate)
    return None


def sctk_available() -> bool:
    return find_sctk() is not None


def _run(command: Sequence[str], cwd: Path, stdin: Path | None = None, stdout: Path | None = None) -> None:
    sctk = find_sctk()
    if sctk is None:
        raise RuntimeError(f"SCTK not found (need {', '.join(SCTK_TOOLS)}); install the Debian package 'sctk' or set SCTK_BIN")
    env = {**os.environ, "PATH": f"{sctk}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(stdin or os.devnull, "rb") as source, open(stdout or os.devnull, "wb") as sink:
        done = subprocess.run([str(sctk / command[0]), *command[1:]], cwd=cwd, env=env, stdin=source,
                              stdout=sink if stdout else subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        output = ((done.stdout or b"") + done.stderr).decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"{command[0]} failed with exit code {done.returncode} in {cwd}:\n{output}")


def _write_glm(glm: str | os.PathLike | None, hyp_type: str, work: Path) -> Path:
    """Copy the GLM for csrfilt after parsing it ourselves (clear errors before SCTK's cryptic ones)."""
    target = work / "rules.glm"
    if glm is None:
        target.write_text(EMPTY_GLM, encoding="utf-8")
        return target
    for input_type, purpose in (("stm", "ref"), (hyp_type, "hyp")):
        if not read_glm(glm, input_type, purpose).rules:
            raise ScoreInputError(glm, None, f"no rule applies to {input_type} input; SCTK's rfilter1 crashes on an empty rule set "
                                  "(add a rule outside the INPUT_DEPENDENT_APPLICATION sections, or use the builtin back end)")
    shutil.copyfile(glm, target)
    return target


def _sgml_word(text: str) -> str | None:
    """The word of an sgml ``value;tag1;tag2`` field (``\\;`` escapes a ``;``); None for an empty side."""
    value = re.split(r"(?<!\\);", text, maxsplit=1)[0].replace("\\;", ";")
    return value or None


def parse_sgml(path: Path) -> list[tuple[str, dict[str, str], tuple[AlignedWord, ...]]]:
    """sclite's ``.sgml`` report as (speaker, PATH attributes, alignment) per segment, in file order."""
    paths, speaker, attributes = [], "", None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("<SPEAKER "):
            speaker = dict(_TAG_ATTRIBUTE.findall(line))["id"]
        elif line.startswith("<PATH "):
            attributes = dict(_TAG_ATTRIBUTE.findall(line))
            steps: list[AlignedWord] = []
        elif line.startswith("</PATH>") and attributes is not None:
            if len(steps) != int(attributes["word_cnt"]):
                raise RuntimeError(f"{path}: could not parse the alignment of {attributes['id']}")
            paths.append((speaker, attributes, tuple(steps)))
            attributes = None
        elif attributes is not None:
            for op, ref, hyp in _STEP.findall(line):
                steps.append(AlignedWord(op, _sgml_word(ref), _sgml_word(hyp)))
    return paths


def parse_raw(path: Path) -> dict[str, Counts]:
    """Per-speaker counts (and ``Sum``) from sclite's ``.raw`` table."""
    rows = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _RAW_ROW.match(line)
        if match:
            name, snt, wrd, corr, sub, dele, ins, err, serr = match.groups()
            rows[name] = Counts(1, int(snt), int(corr), int(sub), int(dele), int(ins), int(serr))
            if rows[name].words != int(wrd) or rows[name].errors != int(err):
                raise RuntimeError(f"{path}: inconsistent row for {name}")
    return rows


def _check_against_raw(results: list[SegmentResult], raw: dict[str, Counts], where: Path) -> None:
    """SCTK's own totals must equal what its alignments add up to; anything else is a parse bug."""
    speakers: dict[str, list[SegmentResult]] = {}
    for result in results:
        speakers.setdefault(result.speaker, []).append(result)
    for speaker, segments in speakers.items():
        mine, theirs = Counts.of(segments), raw.get(speaker)
        if theirs is None or (mine.segments, mine.correct, mine.substitutions, mine.deletions, mine.insertions, mine.segment_errors) != (
            theirs.segments, theirs.correct, theirs.substitutions, theirs.deletions, theirs.insertions, theirs.segment_errors
        ):
            raise RuntimeError(f"{where}: speaker {speaker}: sgml alignments {mine} disagree with the .raw row {theirs}")


def _clean_ctm(hyp_ctm: str | os.PathLike, target: Path) -> None:
    """Copy the ctm for hubscr: validated, noise/<unk> words and confidences dropped, times kept verbatim."""
    lines = []
    with open(hyp_ctm, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(";"):
                continue
            word = parse_ctm_line(line, hyp_ctm, lineno)
            if not is_non_scored_hyp_word(word.word):
                lines.append(" ".join(stripped.split()[:5]))
    target.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def score_ctm(ref_stm: str | os.PathLike, hyp_ctm: str | os.PathLike, glm: str | os.PathLike | None,
              work_dir: str | os.PathLike | None = None) -> list[SegmentResult]:
    """Run ``hubscr.pl -V -l english -h hub5`` and read its alignments (kept in ``work_dir`` if given)."""
    validate_reference(ref_stm, read_stm(ref_stm))
    with tempfile.TemporaryDirectory(prefix="blspeech-sclite-") as scratch:
        work = Path(work_dir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ref_stm, work / "ref.stm")
        _clean_ctm(hyp_ctm, work / "hyp.ctm")
        rules = _write_glm(glm, "ctm", work)
        _run(["hubscr.pl", "-p", str(find_sctk()), "-V", "-l", "english", "-h", "hub5", "-g", rules.name, "-r", "ref.stm", "hyp.ctm"], work)
        results = [
            SegmentResult(a["file"], a["channel"], speaker, float(a["R_T1"]), float(a["R_T2"]), a.get("labels"), steps)
            for speaker, a, steps in parse_sgml(work / "hyp.ctm.filt.sgml")
        ]
        _check_against_raw(results, parse_raw(work / "hyp.ctm.filt.raw"), work)
    return results


def _csrfilt_lines(lines: list[str], input_type: str, purpose: str, rules: Path, work: Path) -> list[str]:
    source, target = work / f"{purpose}.{input_type}", work / f"{purpose}.{input_type}.filt"
    source.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    _run(["csrfilt.sh", "-i", input_type, "-t", purpose, "-dh", rules.name], work, stdin=source, stdout=target)
    filtered = target.read_text(encoding="utf-8").splitlines()
    if len(filtered) != len(lines):
        raise RuntimeError(f"csrfilt.sh turned {len(lines)} {input_type} lines into {len(filtered)} in {work}")
    return filtered


def _filtered_stm_text(segments: list[StmSegment], rules: Path, work: Path) -> dict[StmSegment, str]:
    """Each segment's text after ``csrfilt.sh -i stm -t ref``."""
    lines = [" ".join([s.file, s.channel, s.speaker, repr(s.start), repr(s.end), s.labels or "", s.text]) for s in segments]
    filtered = _csrfilt_lines(lines, "stm", "ref", rules, work)
    return {segment: parse_stm_line(line, work / "ref.stm.filt", number).text for number, (segment, line) in enumerate(zip(segments, filtered), 1)}


def score_trn(ref_stm: str | os.PathLike, hyp_trn: str | os.PathLike, glm: str | os.PathLike | None,
              work_dir: str | os.PathLike | None = None) -> list[SegmentResult]:
    """Filter both sides with ``csrfilt.sh``, pair utterances with segments, run ``sclite -F -D`` on trn files.

    sclite cannot score a trn against an stm, so the pairs are written as two trn files whose ids
    ``(sSSSSS-NNNNNN)`` (speaker number, pair number) keep sclite's speaker grouping intact.
    """
    segments = read_stm(ref_stm)
    validate_reference(ref_stm, segments)
    utterances = read_trn(hyp_trn)
    with tempfile.TemporaryDirectory(prefix="blspeech-sclite-") as scratch:
        work = Path(work_dir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        rules = _write_glm(glm, "trn", work)
        ref_text = _filtered_stm_text(segments, rules, work)
        by_speaker: dict[str, list[StmSegment]] = {}
        for segment in stm_order(segments):
            if not segment.ignored:
                by_speaker.setdefault(segment.speaker, []).append(segment)
        pairs = pair_with_segments(utterances, by_speaker, hyp_trn, lambda segment: segment.file)
        hyp_lines = _csrfilt_lines([f"{drop_non_scored_words(u.text)} ({u.utt_id})" for _, u in pairs], "trn", "hyp", rules, work)
        speaker_number = {speaker: number for number, speaker in enumerate(by_speaker)}
        by_key: dict[str, StmSegment] = {}
        refs, hyps = [], []
        for number, ((segment, _), hyp_line) in enumerate(zip(pairs, hyp_lines)):
            key = f"s{speaker_number[segment.speaker]:05d}-{number:06d}"
            by_key[f"({key})"] = segment
            refs.append(f"{ref_text[segment]} ({key})\n")
            hyps.append(f"{hyp_line[: hyp_line.rindex('(')].strip()} ({key})\n")
        (work / "sclite_ref.trn").write_text("".join(refs), encoding="utf-8")
        (work / "sclite_hyp.trn").write_text("".join(hyps), encoding="utf-8")
        _run(["sclite", "-r", "sclite_ref.trn", "trn", "-h", "sclite_hyp.trn", "trn", "-F", "-D", "-i", "spu_id",
              "-o", "sum", "rsum", "sgml", "pra", "dtl", "-O", str(work), "-n", "sclite_hyp"], work)
        results = []
        for _, attributes, steps in parse_sgml(work / "sclite_hyp.sgml"):
            s = by_key[attributes["id"]]
            labels = s.labels.lower() if s.labels else None
            results.append(SegmentResult(s.file.lower(), s.channel.lower(), s.speaker.lower(), s.start, s.end, labels, steps))
        names = {f"s{number:05d}": speaker.lower() for speaker, number in speaker_number.items()}
        _check_against_raw(results, {names.get(n, n): c for n, c in parse_raw(work / "sclite_hyp.raw").items()}, work)
    return results
