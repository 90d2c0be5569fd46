"""Read, write and validate Kaldi data directories.

A data dir is a set of text tables keyed by utterance, recording or speaker id, sorted by key
(C locale) as Kaldi's ``utils/validate_data_dir.sh`` demands:

- ``wav.scp``      recording-id -> path, or a command ending in ``|`` (run only because the data dir says so)
- ``segments``     utt-id -> recording-id start end (seconds)
- ``text``         utt-id -> transcript
- ``utt2spk``      utt-id -> speaker-id; ``spk2utt`` is its inverse
- ``reco2file_and_channel``  recording-id -> file-id channel (A/B), for ctm/stm scoring
- ``feats.scp``, ``cmvn.scp`` (optional) Kaldi rxspecifiers read through kaldiio
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from blspeech.fileio import atomic_write

# What a feats.scp brings along (written by blspeech.features.compute): removed with it.
FEATURE_COMPANIONS = ("utt2num_frames",)


class DataDirError(ValueError):
    """A data directory is malformed; the message names the file and line or key."""


@dataclass(frozen=True)
class Segment:
    recording: str
    start: float
    end: float


def read_table(path: str | Path) -> dict[str, str]:
    """Read a Kaldi text table (``key rest-of-line``); duplicate keys and empty keys are errors."""
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, _, value = line.strip().partition(" ")
            if key in table:
                raise DataDirError(f"{path}:{lineno}: duplicate key {key!r}")
            table[key] = value.strip()
    return table


def write_table(path: str | Path, table: dict[str, str]) -> None:
    """Write a table sorted by key (byte order, as ``LC_ALL=C sort``), atomically."""
    with atomic_write(path) as handle:
        for key in sorted(table, key=lambda k: k.encode("utf-8")):
            value = table[key]
            handle.write(f"{key} {value}\n" if value != "" else f"{key}\n")


def format_seconds(seconds: float) -> str:
    """A time as ``segments`` writes it: two decimals (Kaldi's Switchboard style) when that is
    exact, else up to microseconds, so a time is never moved (and a short segment never
    collapsed to start == end) by writing it."""
    if abs(seconds * 100 - round(seconds * 100)) < 1e-6:
        return f"{seconds:.2f}"
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def invert_utt2spk(utt2spk: dict[str, str]) -> dict[str, list[str]]:
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(utt2spk, key=lambda k: k.encode("utf-8")):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return spk2utt


@dataclass
class DataDir:
    """In-memory copy of one Kaldi data directory. Optional tables are empty dicts when absent."""

    wav_scp: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    reco2file_and_channel: dict[str, tuple[str, str]] = field(default_factory=dict)
    feats_scp: dict[str, str] = field(default_factory=dict)
    cmvn_scp: dict[str, str] = field(default_factory=dict)

    @property
    def utterances(self) -> list[str]:
        return sorted(self.utt2spk, key=lambda k: k.encode("utf-8"))

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        return invert_utt2spk(self.utt2spk)

    @classmethod
    def read(cls, directory: str | Path) -> "DataDir":
        """Read every table present in ``directory`` and validate the whole (raises DataDirError)."""
        root = Path(directory)
        if not (root / "utt2spk").is_file():
            raise DataDirError(f"{root}: not a Kaldi data dir (no utt2spk)")

        def optional(name: str) -> dict[str, str]:
            return read_table(root / name) if (root / name).is_file() else {}

        segments = {}
        for utt, value in optional("segments").items():
            parts = value.split()
            if len(parts) != 3:
                raise DataDirError(f"{root / 'segments'}: utterance {utt}: expected 'recording start end', got {value!r}")
            try:
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                raise DataDirError(f"{root / 'segments'}: utterance {utt}: times are not numbers: {value!r}") from None
            segments[utt] = Segment(parts[0], start, end)
        r2fc = {}
        for reco, value in optional("reco2file_and_channel").items():
            parts = value.split()
            if len(parts) != 2:
                raise DataDirError(f"{root / 'reco2file_and_channel'}: {reco}: expected 'file channel', got {value!r}")
            r2fc[reco] = (parts[0], parts[1])
        data = cls(
            wav_scp=optional("wav.scp"),
            text=optional("text"),
            utt2spk=read_table(root / "utt2spk"),
            segments=segments,
            reco2file_and_channel=r2fc,
            feats_scp=optional("feats.scp"),
            cmvn_scp=optional("cmvn.scp"),
        )
        data.validate(root)
        return data

    def validate(self, where: str | Path = "<data dir>") -> None:
        """Check the cross-table rules the package relies on (a subset of Kaldi's validate_data_dir.sh:
        every utterance has a speaker, text and segments name known utterances and recordings,
        segment times are ordered, every utterance has audio, features and CMVN stats belong to
        this dir's utterances and speakers); raise naming the culprit. Not checked: Kaldi's rule
        that sorting by speaker keeps utterance order (speaker ids as prefixes of utterance ids),
        which only Kaldi's own tools need."""
        for utt, spk in self.utt2spk.items():
            if not spk:
                raise DataDirError(f"{where}/utt2spk: utterance {utt} has no speaker")
        for utt in self.text:
            if utt not in self.utt2spk:
                raise DataDirError(f"{where}/text: utterance {utt} is not in utt2spk")
        if self.segments:
            for utt, seg in self.segments.items():
                if utt not in self.utt2spk:
                    raise DataDirError(f"{where}/segments: utterance {utt} is not in utt2spk")
                if self.wav_scp and seg.recording not in self.wav_scp:
                    raise DataDirError(f"{where}/segments: utterance {utt} names recording {seg.recording} missing from wav.scp")
                if not 0 <= seg.start < seg.end:
                    raise DataDirError(f"{where}/segments: utterance {utt} has start {seg.start} >= end {seg.end} or negative start")
            missing = [u for u in self.utt2spk if u not in self.segments]
            if missing:
                raise DataDirError(f"{where}/segments: {len(missing)} utterances of utt2spk have no segment, e.g. {missing[0]}")
        elif self.wav_scp:
            missing = [u for u in self.utt2spk if u not in self.wav_scp]
            if missing:
                raise DataDirError(f"{where}/wav.scp: {len(missing)} utterances have no audio, e.g. {missing[0]}")
        # Features may lack utterances (too short for a window: counted skips), never add any.
        strangers = [u for u in self.feats_scp if u not in self.utt2spk]
        if strangers:
            raise DataDirError(f"{where}/feats.scp: {len(strangers)} utterances are not in utt2spk, e.g. {strangers[0]} "
                               "(features of an earlier version of this data dir? recompute them)")
        speakers = set(self.utt2spk.values())
        strangers = [s for s in self.cmvn_scp if s not in speakers]
        if strangers:
            raise DataDirError(f"{where}/cmvn.scp: {len(strangers)} speakers are not in utt2spk, e.g. {strangers[0]} "
                               "(statistics of an earlier version of this data dir? recompute them)")

    def write(self, directory: str | Path) -> None:
        """Write all non-empty tables plus spk2utt, each atomically and sorted.

        The directory then holds this data dir and no other: a table it does not have is
        removed (with what a feats.scp brings along), so a directory rewritten with other
        utterances cannot keep an earlier feats.scp, cmvn.scp or segments that no longer fit.
        """
        self.validate(directory)
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        write_table(root / "utt2spk", self.utt2spk)
        write_table(root / "spk2utt", {spk: " ".join(utts) for spk, utts in self.spk2utt.items()})
        tables = {
            "wav.scp": self.wav_scp,
            "text": self.text,
            "segments": {u: f"{s.recording} {format_seconds(s.start)} {format_seconds(s.end)}"
                         for u, s in self.segments.items()},
            "reco2file_and_channel": {r: f"{f} {c}" for r, (f, c) in self.reco2file_and_channel.items()},
            "feats.scp": self.feats_scp,
            "cmvn.scp": self.cmvn_scp,
        }
        for name, table in tables.items():
            if table:
                write_table(root / name, table)
            else:
                (root / name).unlink(missing_ok=True)
        if not self.feats_scp:
            for name in FEATURE_COMPANIONS:
                (root / name).unlink(missing_ok=True)

    def subset(self, utterances: list[str]) -> "DataDir":
        """A data dir restricted to ``utterances`` (recordings and speakers follow)."""
        keep = set(utterances)
        utt2spk = {u: s for u, s in self.utt2spk.items() if u in keep}
        segments = {u: s for u, s in self.segments.items() if u in keep}
        recordings = {s.recording for s in segments.values()} if segments else keep
        return DataDir(
            wav_scp={r: v for r, v in self.wav_scp.items() if r in recordings},
            text={u: t for u, t in self.text.items() if u in keep},
            utt2spk=utt2spk,
            segments=segments,
            reco2file_and_channel={r: v for r, v in self.reco2file_and_channel.items() if r in recordings},
            feats_scp={u: v for u, v in self.feats_scp.items() if u in keep},
            cmvn_scp={s: v for s, v in self.cmvn_scp.items() if s in set(utt2spk.values())},
        )
