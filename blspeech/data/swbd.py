"""Switchboard data prep: LDC97S62 + ms98 transcripts -> ``train``/``dev``; Hub5'00 -> ``eval2000``.

Follows Kaldi's swbd s5c recipe (``local/swbd1_data_prep.sh``, ``local/eval2000_data_prep.sh``,
``utils/subset_data_dir.sh --first``, ``utils/data/remove_dup_utts.sh``) so that its data dirs,
ids and text look like Kaldi's, and it runs unchanged on the real corpora:

- LDC97S62: ``*.sph`` anywhere below the given dir (``swb1_d1/data/sw02001.sph``, ...), two
  channels, side A = channel 1, side B = channel 2.
- ms98 transcripts: ``swb_ms98_transcriptions/20/2001/sw2001A-ms98-a-trans.text`` with lines
  ``sw2001A-ms98-a-0002 0.977625 11.561375 hi um yeah ...``.
- Hub5'00: speech LDC2002S09 (``hub5e_00/english/{sw_4390,en_4156}.sph`` and the segment file
  ``english/hub5e_00.pem``), transcripts LDC2002T43 (``reference/hub5e00.english.000405.stm``
  and ``reference/en20000405_hub5.glm``).

Ids as Kaldi's: recordings (= speakers) are conversation sides ``sw02001-A``; utterances
``sw02001-A_000098-001156`` (times in 10 ms). Bad input is either an error naming the file and
line, or a counted skip (``SkipLog``) naming the file: a corrupt ``.sph``, a side without its
transcript file, an empty transcript file, a segment past the end of its audio.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from blspeech.corpus.sphere import SphereError, SphereHeader, read_sphere_header
from blspeech.data.kaldi_dir import DataDir, Segment
from blspeech.data.text import IGNORE_SEGMENT, normalize_transcript
from blspeech.fileio import write_text_atomic
from blspeech.score.stm import read_stm as read_stm_segments
from blspeech.skips import SkipLog

log = logging.getLogger("blspeech")

SIDES = ("A", "B")
HUB5_PEM = "hub5e_00.pem"
HUB5_STM = "hub5e00.english.000405.stm"
HUB5_GLM = "en20000405_hub5.glm"
# Kaldi's extract-segments truncates segments that end at most this far past the audio.
MAX_OVERSHOOT = 0.5
# Kaldi's eval2000 prep widens each pem segment by this much (without creating overlaps).
EVAL_SEGMENT_EXTENSION = 0.1
SPH_READERS = ("sox", "sph2pipe")
_MS98_ID = re.compile(r"^sw(\d{4})([AB])-ms98-a-(\d{4})$")


class CorpusError(ValueError):
    """The corpus on disk is not laid out or formatted as expected; the message names the file."""


# --------------------------------------------------------------------------- LDC naming
def swb1_sph_name(conversation: int) -> str:
    """LDC97S62 file name of conversation 2001: ``sw02001.sph``."""
    return f"sw{conversation:05d}.sph"


def ms98_segment_id(conversation: int, side: str, number: int) -> str:
    """``sw2001A-ms98-a-0002``: segment ``number`` of side ``side`` of conversation 2001."""
    return f"sw{conversation:04d}{side}-ms98-a-{number:04d}"


def ms98_transcript_path(transcripts_dir: str | Path, conversation: int, side: str) -> Path:
    """``<dir>/20/2001/sw2001A-ms98-a-trans.text`` (the ISIP ms98 release layout)."""
    number = f"{conversation:04d}"
    return Path(transcripts_dir) / number[:2] / number / f"sw{number}{side}-ms98-a-trans.text"


def kaldi_recording_id(file_id: str, side: str) -> str:
    return f"{file_id}-{side}"


def kaldi_utterance_id(recording: str, start: float, end: float, *, truncate: bool = False) -> str:
    """``sw02001-A_000098-001156``; times in 10 ms, rounded (train prep) or truncated (eval2000 prep, as Kaldi)."""
    to_centiseconds = (lambda t: int(t * 100)) if truncate else (lambda t: int(100 * t + 0.5))
    return f"{recording}_{to_centiseconds(start):06d}-{to_centiseconds(end):06d}"


# --------------------------------------------------------------------------- readers
@dataclass(frozen=True)
class Ms98Segment:
    """One line of an ms98 ``-trans.text`` file."""

    segment_id: str
    start: float
    end: float
    words: str

    @property
    def conversation(self) -> int:
        return int(_MS98_ID.match(self.segment_id).group(1))

    @property
    def side(self) -> str:
        return _MS98_ID.match(self.segment_id).group(2)

    @property
    def number(self) -> int:
        return int(_MS98_ID.match(self.segment_id).group(3))


def read_ms98_transcript(path: str | Path) -> list[Ms98Segment]:
    """Parse an ms98 ``-trans.text`` file; a malformed line raises :class:`CorpusError` naming file:line."""
    segments = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) < 3 or not _MS98_ID.match(fields[0]):
                raise CorpusError(f"{where}: expected 'swNNNNX-ms98-a-NNNN start end words...', got {line.strip()!r}")
            try:
                start, end = float(fields[1]), float(fields[2])
            except ValueError:
                raise CorpusError(f"{where}: segment times are not numbers: {line.strip()!r}") from None
            if not 0 <= start <= end:
                raise CorpusError(f"{where}: segment {fields[0]} has start {start} > end {end} or a negative start")
            segments.append(Ms98Segment(fields[0], start, end, " ".join(fields[3:])))
    return segments


@dataclass(frozen=True)
class TimedLine:
    """One line of a Hub5 ``.pem`` or ``.stm`` file: file id, side, times and (stm) words."""

    file_id: str
    side: str
    start: float
    end: float
    words: str = ""


def read_pem(path: Path) -> list[TimedLine]:
    """``en_4156 A unknown_speaker 301.85 302.48`` lines; ``;;`` comments skipped."""
    lines = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or line.startswith(";;"):
            continue
        if len(fields) < 5:
            raise CorpusError(f"{path}:{lineno}: expected 'file side speaker start end', got {line.strip()!r}")
        lines.append(TimedLine(fields[0], fields[1].upper(), *_times(path, lineno, fields[3], fields[4])))
    return lines


def read_stm(path: Path) -> list[TimedLine]:
    """``en_4156 A en_4156_A 357.64 359.64 <O,en,F,en-F> words`` lines, read by the scorer's own stm parser."""
    return [TimedLine(seg.file, seg.channel.upper(), seg.start, seg.end, seg.text) for seg in read_stm_segments(path)]


def _times(path: Path, lineno: int, start: str, end: str) -> tuple[float, float]:
    try:
        return float(start), float(end)
    except ValueError:
        raise CorpusError(f"{path}:{lineno}: segment times are not numbers: {start!r} {end!r}") from None


# --------------------------------------------------------------------------- audio
def wav_scp_command(sph: Path, channel: int, reader: str) -> str:
    """The wav.scp command that writes channel ``channel`` (1 or 2) of ``sph`` as 16-bit WAV to stdout."""
    path = shlex.quote(str(sph.resolve()))
    if reader == "sph2pipe":
        return f"sph2pipe -f wav -p -c {channel} {path} |"
    if reader == "sox":
        return f"sox -t sph {path} -t wav -e signed-integer -b 16 - remix {channel} |"
    raise ValueError(f"sph reader must be one of {SPH_READERS}, got {reader!r}")


def _find_sph(directory: Path, skips: SkipLog, reader: str) -> dict[str, SphereHeader]:
    """file id (``sw02001``) -> checked header of every ``.sph`` below ``directory``; corrupt ones are skipped."""
    if not directory.is_dir():
        raise CorpusError(f"{directory}: audio directory not found")
    headers: dict[str, SphereHeader] = {}
    for path in sorted(p for p in directory.rglob("*") if p.suffix.lower() == ".sph" and p.is_file()):
        file_id = path.stem
        if file_id in headers:
            raise CorpusError(f"{path}: conversation {file_id} also found at {headers[file_id].path}")
        try:
            header = read_sphere_header(path)
        except SphereError as err:
            skips.skip(str(err), "corrupt .sph file")
            continue
        if header.channel_count != 2:
            skips.skip(f"{path} ({header.channel_count} channels)", "not a two-sided conversation")
            continue
        if header.compressed and reader != "sph2pipe":
            raise CorpusError(f"{path}: {header.sample_coding} audio needs sph2pipe; use sph_reader='sph2pipe'")
        headers[file_id] = header
    if reader == "sph2pipe" and shutil.which("sph2pipe") is None:
        log.warning("sph2pipe is not on PATH here; the wav.scp commands will only run where it is")
    return headers


def _fit_segment(utt: str, start: float, end: float, duration: float, skips: SkipLog, where: str) -> tuple[float, float] | None:
    """Clip a segment that ends slightly past its audio (as Kaldi's extract-segments does) or skip it."""
    if start >= duration or end > duration + MAX_OVERSHOOT:
        skips.skip(f"{utt} ({where}: {start:.2f}-{end:.2f} s, audio {duration:.2f} s)", "segment past the end of the audio")
        return None
    return start, min(end, duration)


# --------------------------------------------------------------------------- train / dev
def _side_transcripts(transcripts_dir: Path) -> dict[tuple[int, str], Path]:
    if not transcripts_dir.is_dir():
        raise CorpusError(f"{transcripts_dir}: transcript directory not found")
    found = {}
    for path in sorted(transcripts_dir.rglob("*-trans.text")):
        match = re.match(r"^sw(\d{4})([AB])-ms98-a-trans\.text$", path.name)
        if match:
            found[(int(match.group(1)), match.group(2))] = path
    return found


def _add_side(data: DataDir, recording: str, segments: list[Ms98Segment], header: SphereHeader, skips: SkipLog, path: Path) -> int:
    """Add one side's utterances to ``data``; returns how many segments had no words ([silence] etc.)."""
    silent = 0
    for segment in segments:
        text = normalize_transcript(segment.words)
        if not text:
            silent += 1
            continue
        utt = kaldi_utterance_id(recording, segment.start, segment.end)
        if utt in data.utt2spk:
            skips.skip(f"{utt} ({path}: {segment.segment_id})", "repeated segment times")
            continue
        fitted = _fit_segment(utt, segment.start, segment.end, header.duration, skips, str(path))
        if fitted is None:
            continue
        # Kaldi takes segment times from the id, i.e. rounded to 10 ms.
        start, end = (int(100 * t + 0.5) / 100 for t in fitted)
        if end <= start:
            skips.skip(f"{utt} ({path}: {segment.segment_id})", "segment shorter than 10 ms")
            continue
        data.segments[utt] = Segment(recording, start, end)
        data.text[utt] = text
        data.utt2spk[utt] = recording
        skips.ok()
    return silent


def prepare_train(swb1_dir: str | Path, transcripts_dir: str | Path, *, sph_reader: str = "sox") -> DataDir:
    """All of LDC97S62 with ms98 transcripts as one validated data dir (Kaldi's ``data/train``)."""
    swb1_dir, transcripts_dir = Path(swb1_dir), Path(transcripts_dir)
    audio_skips = SkipLog("swbd train audio")
    headers = _find_sph(swb1_dir, audio_skips, sph_reader)
    transcripts = _side_transcripts(transcripts_dir)
    side_skips = SkipLog("swbd train conversation sides")
    utt_skips = SkipLog("swbd train utterances")
    data = DataDir()
    silent = 0
    for file_id, header in sorted(headers.items()):
        match = re.match(r"^sw0?(\d{4})$", file_id)
        if not match:
            audio_skips.skip(str(header.path), "not a Switchboard conversation name (swNNNNN.sph)")
            continue
        audio_skips.ok()
        conversation = int(match.group(1))
        for channel, side in enumerate(SIDES, 1):
            recording = kaldi_recording_id(file_id, side)
            path = transcripts.pop((conversation, side), None)
            if path is None:
                expected = ms98_transcript_path(transcripts_dir, conversation, side)
                side_skips.skip(f"{recording} ({expected})", "missing transcript file")
                continue
            segments = read_ms98_transcript(path)
            if not segments:
                side_skips.skip(f"{recording} ({path})", "empty transcript file")
                continue
            side_skips.ok()
            silent += _add_side(data, recording, segments, header, utt_skips, path)
            data.wav_scp[recording] = wav_scp_command(header.path, channel, sph_reader)
            data.reco2file_and_channel[recording] = (file_id, side)
    for (conversation, side), path in sorted(transcripts.items()):
        side_skips.skip(f"sw{conversation:05d}-{side} ({path})", f"transcript without audio in {swb1_dir}")
    for skips in (audio_skips, side_skips, utt_skips):
        skips.summary()
    log.info("swbd train: %d segments without words ([silence] etc.) left out, as in Kaldi", silent)
    return _with_audio_only(data, swb1_dir)


def _with_audio_only(data: DataDir, where: Path) -> DataDir:
    if not data.utt2spk:
        raise CorpusError(f"{where}: no usable utterances (see the warnings above)")
    used = {segment.recording for segment in data.segments.values()}
    data.wav_scp = {r: v for r, v in data.wav_scp.items() if r in used}
    data.reco2file_and_channel = {r: v for r, v in data.reco2file_and_channel.items() if r in used}
    data.validate(where)
    return data


def split_dev(train: DataDir, dev_utterances: int) -> tuple[DataDir, DataDir]:
    """``(dev, rest)``: the first ``dev_utterances`` utterances in sorted order, as Kaldi's train_dev."""
    utterances = train.utterances
    if not 0 < dev_utterances < len(utterances):
        raise ValueError(f"dev_utterances must be between 1 and {len(utterances) - 1} (the training utterances), got {dev_utterances}")
    return train.subset(utterances[:dev_utterances]), train.subset(utterances[dev_utterances:])


def cap_duplicates(data: DataDir, max_duplicates: int) -> DataDir:
    """Keep at most ``max_duplicates`` utterances with the same text (evenly spread over their occurrences).

    Real Switchboard has thousands of identical "uh-huh"s; Kaldi thins them out the same way
    (``remove_dup_utts.sh``), with a pseudo-random choice where this takes every k-th one.
    """
    if max_duplicates < 1:
        raise ValueError(f"max_duplicates must be >= 1, got {max_duplicates}")
    by_text: dict[str, list[str]] = {}
    for utt in data.utterances:
        by_text.setdefault(data.text.get(utt, ""), []).append(utt)
    keep = []
    for utts in by_text.values():
        if len(utts) <= max_duplicates:
            keep += utts
        else:
            keep += [utts[math.floor(i * len(utts) / max_duplicates)] for i in range(max_duplicates)]
    dropped = len(data.utt2spk) - len(keep)
    if dropped:
        log.info("swbd train: capped repeated transcripts at %d copies, dropping %d utterances", max_duplicates, dropped)
    return data.subset(keep)


# --------------------------------------------------------------------------- eval2000
def hub5_speech_dir(hub5_dir: str | Path) -> Path:
    """The ``english`` dir of LDC2002S09, given the package root or its ``hub5e_00`` dir."""
    for candidate in (Path(hub5_dir) / "english", Path(hub5_dir) / "hub5e_00" / "english"):
        if candidate.is_dir():
            return candidate
    raise CorpusError(f"{hub5_dir}: no english/ or hub5e_00/english/ directory (LDC2002S09 layout)")


def hub5_reference_dir(hub5_transcripts_dir: str | Path) -> Path:
    """The ``reference`` dir of LDC2002T43, given the package root or its ``2000_hub5_eng_eval_tr`` dir."""
    for candidate in (Path(hub5_transcripts_dir) / "reference", Path(hub5_transcripts_dir) / "2000_hub5_eng_eval_tr" / "reference"):
        if candidate.is_dir():
            return candidate
    raise CorpusError(f"{hub5_transcripts_dir}: no reference/ or 2000_hub5_eng_eval_tr/reference/ directory (LDC2002T43 layout)")


def _extend_segments(segments: dict[str, Segment], extension: float) -> dict[str, Segment]:
    """Widen segments by ``extension`` each way, meeting halfway where neighbours would overlap (Kaldi's extend_segments.pl)."""
    by_recording: dict[str, list[str]] = {}
    for utt, segment in segments.items():
        by_recording.setdefault(segment.recording, []).append(utt)
    times = {utt: [segment.start, segment.end] for utt, segment in segments.items()}
    for utts in by_recording.values():
        utts.sort(key=lambda u: segments[u].start)
        times[utts[0]][0] = max(0.0, times[utts[0]][0] - extension)
        times[utts[-1]][1] += extension
        for earlier, later in zip(utts, utts[1:]):
            gap = segments[later].start - segments[earlier].end
            if gap >= 0:
                step = min(extension, gap / 2)
                times[earlier][1] += step
                times[later][0] -= step
    return {utt: Segment(segments[utt].recording, round(s, 2), round(e, 2)) for utt, (s, e) in times.items()}


def _by_utterance_id(path: Path, lines: list[TimedLine]) -> dict[str, TimedLine]:
    """``lines`` keyed by their Kaldi utterance id. A line repeated word for word is kept once (as
    Kaldi's ``sort -u`` does); a side other than A/B, or two different lines with one id (times
    equal to the hundredth), is an error: one would silently replace the other."""
    keyed: dict[str, TimedLine] = {}
    for line in lines:
        where = f"{path}: segment {line.file_id} {line.side} {line.start} {line.end}"
        if line.side not in SIDES:
            raise CorpusError(f"{where}: side must be one of {', '.join(SIDES)}")
        utt = kaldi_utterance_id(kaldi_recording_id(line.file_id, line.side), line.start, line.end, truncate=True)
        if utt in keyed and keyed[utt] != line:
            raise CorpusError(f"{where}: gives utterance id {utt} as an earlier, different segment does "
                              f"({keyed[utt].start} {keyed[utt].end})")
        keyed[utt] = line
    return keyed


def prepare_eval2000(hub5_dir: str | Path, hub5_transcripts_dir: str | Path | None = None, *, sph_reader: str = "sox") -> tuple[DataDir, str, str]:
    """Hub5'00 as a validated data dir, plus the text of its ``stm`` (Kaldi's fixes applied) and ``glm``.

    Segments come from the ``.pem`` file (widened by 0.1 s as Kaldi does), text from the ``.stm``;
    both must name the same segments. ``IGNORE_TIME_SEGMENT_IN_SCORING`` segments are left out.
    """
    speech_dir = hub5_speech_dir(hub5_dir)
    reference_dir = hub5_reference_dir(hub5_transcripts_dir if hub5_transcripts_dir is not None else hub5_dir)
    pem, stm, glm = speech_dir / HUB5_PEM, reference_dir / HUB5_STM, reference_dir / HUB5_GLM
    for path in (pem, stm, glm):
        if not path.is_file():
            raise CorpusError(f"{path}: missing Hub5'00 file")
    audio_skips = SkipLog("eval2000 audio")
    headers = _find_sph(speech_dir, audio_skips, sph_reader)
    audio_skips.ok(len(headers))
    utt_skips = SkipLog("eval2000 utterances")
    segments = {utt: Segment(kaldi_recording_id(line.file_id, line.side), line.start, line.end)
                for utt, line in _by_utterance_id(pem, read_pem(pem)).items()}
    texts = {utt: line.words for utt, line in _by_utterance_id(stm, read_stm(stm)).items()}
    if set(texts) != set(segments):
        only = sorted(set(texts) ^ set(segments))[0]
        raise CorpusError(f"segments of {pem} and {stm} differ, e.g. {only} is in only one of them")
    data = DataDir()
    for utt, segment in sorted(_extend_segments(segments, EVAL_SEGMENT_EXTENSION).items()):
        file_id, side = segment.recording.rsplit("-", 1)
        header = headers.get(file_id)
        if header is None:
            utt_skips.skip(f"{utt} ({speech_dir / (file_id + '.sph')})", "no usable audio")
            continue
        if texts[utt].strip().lower() == IGNORE_SEGMENT:
            continue
        fitted = _fit_segment(utt, segment.start, segment.end, header.duration, utt_skips, str(pem))
        if fitted is None:
            continue
        data.segments[utt] = Segment(segment.recording, *fitted)
        data.text[utt] = normalize_transcript(texts[utt])
        data.utt2spk[utt] = segment.recording
        data.wav_scp[segment.recording] = wav_scp_command(header.path, SIDES.index(side) + 1, sph_reader)
        data.reco2file_and_channel[segment.recording] = (file_id, side)
        utt_skips.ok()
    audio_skips.summary()
    utt_skips.summary()
    stm_text = stm.read_text(encoding="utf-8", errors="replace")
    # Kaldi's fixes for errors in the real stm that upset hubscr.pl.
    stm_text = re.sub(r"<[BE]_ASIDE>", "", stm_text.replace("((", "("), flags=re.IGNORECASE)
    return _with_audio_only(data, speech_dir), stm_text, glm.read_text(encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------- all sets
def prepare_switchboard(
    swb1_dir: str | Path,
    transcripts_dir: str | Path,
    hub5_dir: str | Path | None = None,
    hub5_transcripts_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    *,
    dev_utterances: int = 4000,
    max_duplicates: int = 300,
    sph_reader: str = "sox",
) -> dict[str, DataDir]:
    """Kaldi data dirs ``train``, ``dev`` (and ``eval2000`` when ``hub5_dir`` is given), validated.

    ``train`` is LDC97S62 minus the first ``dev_utterances`` utterances (Kaldi's ``train_dev``,
    returned as ``dev``), with repeated transcripts capped at ``max_duplicates`` (Kaldi's
    ``train_nodup``). ``hub5_transcripts_dir`` (LDC2002T43) defaults to ``hub5_dir``. wav.scp
    entries read one channel with ``sph_reader`` (``sox``, or ``sph2pipe`` as Kaldi does, which
    also reads shorten-compressed files). Nothing is written unless ``output_dir`` is given; then
    each set goes to ``output_dir/<name>`` (eval2000 also gets ``stm`` and ``glm``).
    """
    if sph_reader not in SPH_READERS:
        raise ValueError(f"sph_reader must be one of {SPH_READERS}, got {sph_reader!r}")
    full = prepare_train(swb1_dir, transcripts_dir, sph_reader=sph_reader)
    dev, rest = split_dev(full, dev_utterances)
    sets = {"train": cap_duplicates(rest, max_duplicates), "dev": dev}
    scoring_files: dict[str, str] = {}
    if hub5_dir is not None:
        sets["eval2000"], scoring_files["stm"], scoring_files["glm"] = prepare_eval2000(hub5_dir, hub5_transcripts_dir, sph_reader=sph_reader)
    for name, data in sets.items():
        data.validate(name)
        log.info("%s: %d utterances, %d speakers, %.2f hours", name, len(data.utt2spk), len(data.spk2utt), hours_of(data))
    if output_dir is not None:
        for name, data in sets.items():
            data.write(Path(output_dir) / name)
        for filename, content in scoring_files.items():
            write_text_atomic(Path(output_dir) / "eval2000" / filename, content)
    return sets


def hours_of(data: DataDir) -> float:
    """Total duration of a data dir's segments, in hours."""
    return sum(s.end - s.start for s in data.segments.values()) / 3600.0

