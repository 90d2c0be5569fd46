"""Synthesize a small Switchboard-style corpus in the exact on-disk layout of the LDC corpora.

Usage::

    python -m blspeech.corpus.synth --out corpora/swbd_mini --hours 2 --speakers 40 \\
        --eval-minutes 15 --seed 1 --jobs 2 [--text sentences.txt | --ms98 swb_ms98_transcriptions]

Training conversations (like LDC97S62 + ms98 transcripts) pair training speakers saying
sentences from the shipped bank (or ``--text``), or re-say the exact utterances of real ms98
transcripts (``--ms98``, ids kept). The evaluation set mirrors Hub5'00's halves: ``sw_*``
conversations by training speakers saying sentences held out from training, ``en_*``
conversations by speakers never heard in training. Every utterance goes through a TTS engine,
non-speech events become sounds, and each conversation side becomes one telephone channel of a
two-channel mu-law SPHERE file. The result depends only on the arguments (not on ``--jobs``).
See :mod:`blspeech.corpus.ldc_layout` for the files written.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import random
import shutil
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from blspeech.cli import report_errors
from blspeech.corpus.conversation import SIDES, ConversationPlan, PlannedUtterance, lay_out, plan_conversation, render_channels
from blspeech.corpus.sentences import SentencePools, load_sentences, split_sentences
from blspeech.corpus.ldc_layout import CorpusLayout, EvalSegment, TranscriptLine, fill_silences, retime, write_hub5_references, write_ms98_side
from blspeech.corpus.sphere import write_sphere_ulaw
from blspeech.corpus.telephone import RATE
from blspeech.corpus.tts import TtsEngine, Voice, detect_engines
from blspeech.corpus.utterances import Piece, plan_pieces, render_utterances
from blspeech.corpus.voices import cast_speakers
from blspeech.data.swbd import Ms98Segment, read_ms98_transcript
from blspeech.fileio import write_text_atomic
from blspeech.skips import SkipLog

log = logging.getLogger("blspeech")

MARKER = "synthesis.json"
TRAIN_CONVERSATION_SPEECH = 150.0  # seconds of speech (both sides) per training conversation
EVAL_CONVERSATION_SPEECH = 90.0
SNR_RANGE_DB = (12.0, 30.0)
FIRST_TRAIN_CONVERSATION = 2001
FIRST_SWB_EVAL, FIRST_CH_EVAL = 4390, 4156


@dataclass(frozen=True)
class CorpusSummary:
    """What was synthesized; ``speech`` counts transcript segments, ``audio`` the .sph files' length."""

    out_dir: str
    seed: int
    engines: tuple[str, ...]
    train_conversations: int
    train_utterances: int
    train_speech_hours: float
    train_audio_hours: float
    train_speakers: int
    eval_conversations: int
    eval_utterances: int
    eval_speech_minutes: float
    eval_seen_speakers: int
    eval_unseen_speakers: int
    skipped_utterances: int
    seconds: float

    @property
    def layout(self) -> CorpusLayout:
        return CorpusLayout(Path(self.out_dir))

    def __str__(self) -> str:
        return (
            f"corpus {self.out_dir} (seed {self.seed}, engines {', '.join(self.engines)}), synthesized in {self.seconds:.0f} s\n"
            f"  train: {self.train_speech_hours:.2f} h of speech ({self.train_audio_hours:.2f} h of conversation audio), "
            f"{self.train_utterances} utterances, {self.train_conversations} conversations, {self.train_speakers} speakers\n"
            f"  eval:  {self.eval_speech_minutes:.1f} min of speech, {self.eval_utterances} utterances, "
            f"{self.eval_conversations} conversations, {self.eval_seen_speakers} training speakers (sw_*), "
            f"{self.eval_unseen_speakers} unseen speakers (en_*)\n"
            f"  skipped utterances (no audible TTS output): {self.skipped_utterances}"
        )


@dataclass(frozen=True)
class _Conversation:
    """A planned conversation and where its files go."""

    plan: ConversationPlan
    part: str  # "train" or "eval"
    original: dict[str, tuple[TranscriptLine, ...]] = field(default_factory=dict)  # ms98 lines per side

    @property
    def number(self) -> int:
        """Training conversation number: sw02001 -> 2001."""
        return int(self.plan.conversation[2:])


@dataclass(frozen=True)
class _SideJob:
    conversation: str
    side: str
    voice: Voice
    utterances: tuple[tuple[Piece, ...], ...]
    seeds: tuple[int, ...]


def _render_side(job: _SideJob) -> tuple[str, str, list[np.ndarray]]:
    """Worker: the audio of one conversation side (one TTS batch)."""
    return job.conversation, job.side, render_utterances(job.voice, job.utterances, job.seeds)


def _seed(*parts: int | str) -> int:
    """A 32-bit seed from ints and strings, stable across processes and Python runs."""
    numbers = [p if isinstance(p, int) else zlib.crc32(p.encode("utf-8")) for p in parts]
    return int(np.random.SeedSequence(numbers).generate_state(1)[0])


# --------------------------------------------------------------------------- planning
def _pairs(speakers: Sequence[Voice], count: int, rng: random.Random) -> list[tuple[Voice, Voice]]:
    """``count`` pairs of distinct speakers, using every speaker about equally often."""
    order: list[Voice] = []
    while len(order) < 2 * count:
        batch = list(speakers)
        rng.shuffle(batch)
        order += batch
    pairs = []
    for i in range(count):
        a, b = order[2 * i], order[2 * i + 1]
        if a == b:
            b = speakers[(speakers.index(a) + 1) % len(speakers)]
        pairs.append((a, b))
    return pairs


def _plan_generated(
    file_ids: Sequence[str], speakers: Sequence[Voice], pools: SentencePools, speech_seconds: float, seed: int, part: str
) -> list[_Conversation]:
    """Conversations of sentences from ``pools``, ``speech_seconds`` in all, between pairs of ``speakers``."""
    rng = random.Random(_seed(seed, part, "pairs"))
    per_conversation = speech_seconds / len(file_ids)
    conversations = []
    for file_id, voices in zip(file_ids, _pairs(speakers, len(file_ids), rng)):
        conv_seed = _seed(seed, file_id)
        snr = random.Random(conv_seed).uniform(*SNR_RANGE_DB)
        conversations.append(_Conversation(plan_conversation(file_id, voices, pools, per_conversation, snr, conv_seed), part))
    return conversations


def _read_ms98_dir(ms98_dir: Path) -> dict[int, dict[str, list[Ms98Segment]]]:
    if not ms98_dir.is_dir():
        raise FileNotFoundError(f"ms98 transcript directory {ms98_dir} not found")
    conversations: dict[int, dict[str, list[Ms98Segment]]] = {}
    for path in sorted(ms98_dir.rglob("*-trans.text")):
        segments = read_ms98_transcript(path)
        for segment in segments:
            conversations.setdefault(segment.conversation, {}).setdefault(segment.side, []).append(segment)
    if not conversations:
        raise ValueError(f"{ms98_dir}: no ms98 *-trans.text transcripts with any segment")
    return conversations


def _plan_ms98(ms98_dir: Path, speakers: Sequence[Voice], hours: float, seed: int) -> list[_Conversation]:
    """Re-say real ms98 utterances (ids kept), conversation by conversation, until ``hours`` of speech."""
    rng = random.Random(_seed(seed, "ms98 voices"))
    order = list(speakers)
    rng.shuffle(order)
    conversations, speech, side_count = [], 0.0, 0
    for number, sides in sorted(_read_ms98_dir(ms98_dir).items()):
        if speech >= hours * 3600:
            break
        voices = (order[side_count % len(order)], order[(side_count + 1) % len(order)])
        side_count += 2
        utterances, original = [], {}
        for side in SIDES:
            lines = sorted(sides.get(side, []), key=lambda s: s.number)
            original[side] = tuple(TranscriptLine(s.start, s.end, s.words, s.number) for s in lines)
            for segment in lines:
                pieces = plan_pieces(segment.words)
                if pieces:
                    utterances.append(PlannedUtterance(side, segment.words, pieces, segment.start, segment.end, segment.number))
                    speech += segment.end - segment.start
        if not utterances:
            continue
        conv_seed = _seed(seed, number)
        plan = ConversationPlan(f"sw{number:05d}", voices, random.Random(conv_seed).uniform(*SNR_RANGE_DB), conv_seed,
                                tuple(sorted(utterances, key=lambda u: u.start)))
        conversations.append(_Conversation(plan, "train", original))
    return conversations


# --------------------------------------------------------------------------- writing
@dataclass
class _Totals:
    utterances: int = 0
    speech_seconds: float = 0.0
    audio_seconds: float = 0.0
    conversations: int = 0
    speakers: set[str] = field(default_factory=set)


def _finish(conversation: _Conversation, waves: list[np.ndarray], layout: CorpusLayout, skips: SkipLog,
            eval_segments: list[EvalSegment], totals: _Totals) -> None:
    """Lay out, mix and write one conversation, and record its transcript segments."""
    plan = conversation.plan
    audible = [i for i, wave in enumerate(waves) if len(wave)]
    for i in sorted(set(range(len(waves))) - set(audible)):
        skips.skip(f"{plan.conversation}-{plan.utterances[i].side} {plan.utterances[i].transcript!r}", "no audible TTS output")
    plan = ConversationPlan(plan.conversation, plan.voices, plan.snr_db, plan.seed, tuple(plan.utterances[i] for i in audible))
    waves = [waves[i] for i in audible]
    if not waves:
        return
    skips.ok(len(waves))
    placements = lay_out(plan, [len(w) / RATE for w in waves])
    channels = render_channels(plan, waves, placements)
    side_end = len(channels) / RATE
    if conversation.part == "train":
        fields = {"database_id": "swb1", "conversation_id": str(conversation.number)}
    else:
        fields = {"database_id": "hub5e_00", "conversation_id": plan.conversation}
    path = layout.train_sph(conversation.number) if conversation.part == "train" else layout.eval_sph(plan.conversation)
    write_sphere_ulaw(path, channels, RATE, fields)
    totals.conversations += 1
    totals.audio_seconds += side_end
    totals.utterances += len(waves)
    totals.speakers.update(voice.id for voice in plan.voices)
    totals.speech_seconds += sum(p.segment_end - p.segment_start for p in placements)
    if conversation.part == "eval":
        eval_segments += [
            EvalSegment(plan.conversation, u.side, p.segment_start, p.segment_end, plan.voice(u.side).gender, u.transcript)
            for u, p in zip(plan.utterances, placements)
        ]
        return
    for side in SIDES:
        spoken = [(u, p) for u, p in zip(plan.utterances, placements) if u.side == side]
        if conversation.original:
            placed = {u.ms98_number: (p.segment_start, p.segment_end) for u, p in spoken}
            # An utterance the engine could not say leaves silence, and its line says so.
            original = [
                line if line.number in placed or not plan_pieces(line.words) else TranscriptLine(line.start, line.end, "[silence]", line.number)
                for line in conversation.original.get(side, ())
            ]
            lines = retime(original, placed, side_end)
        else:
            lines = fill_silences([TranscriptLine(p.segment_start, p.segment_end, u.transcript) for u, p in spoken], side_end)
        if lines:  # an ms98 conversation may lack one side's transcript
            write_ms98_side(layout.transcripts_dir, conversation.number, side, lines)


def _side_jobs(conversations: Sequence[_Conversation], seed: int) -> Iterator[_SideJob]:
    for conversation in conversations:
        plan = conversation.plan
        for side in SIDES:
            indices = [i for i, u in enumerate(plan.utterances) if u.side == side]
            if indices:
                yield _SideJob(
                    plan.conversation, side, plan.voice(side),
                    tuple(plan.utterances[i].pieces for i in indices),
                    tuple(_seed(seed, plan.conversation, i) for i in indices),
                )


def _synthesize_all(conversations: Sequence[_Conversation], layout: CorpusLayout, seed: int, jobs: int) -> tuple[dict[str, _Totals], list[EvalSegment], int]:
    """Render every side (in parallel), then finish each conversation as soon as its sides are in."""
    side_jobs = list(_side_jobs(conversations, seed))
    by_id = {c.plan.conversation: c for c in conversations}
    expected = {c.plan.conversation: {j.side for j in side_jobs if j.conversation == c.plan.conversation} for c in conversations}
    received: dict[str, dict[str, list[np.ndarray]]] = {}
    totals = {"train": _Totals(), "eval": _Totals()}
    eval_segments: list[EvalSegment] = []
    skips = SkipLog("synthesis")
    progress = tqdm(total=sum(len(j.seeds) for j in side_jobs), unit="utt", desc="synthesizing", dynamic_ncols=True)
    pool = multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else None
    try:
        results = pool.imap(_render_side, side_jobs) if pool else map(_render_side, side_jobs)
        for conversation_id, side, waves in results:
            progress.update(len(waves))
            received.setdefault(conversation_id, {})[side] = waves
            if set(received[conversation_id]) == expected[conversation_id]:
                conversation = by_id[conversation_id]
                side_waves = {s: iter(w) for s, w in received.pop(conversation_id).items()}
                ordered = [next(side_waves[u.side]) for u in conversation.plan.utterances]
                _finish(conversation, ordered, layout, skips, eval_segments, totals[conversation.part])
    finally:
        progress.close()
        if pool:
            pool.terminate()  # all results are in (or an error is on its way): stop the workers
    skips.summary()
    return totals, eval_segments, skips.skipped


# --------------------------------------------------------------------------- entry point
def _check_marker(out_dir: Path, parameters: dict) -> CorpusSummary | None:
    """The stored summary if ``out_dir`` already holds this corpus; clear a half-written one of ours."""
    marker = out_dir / MARKER
    if not marker.is_file():
        if out_dir.is_dir() and any(out_dir.iterdir()):
            raise ValueError(f"{out_dir} is not empty and holds no {MARKER}; synthesize into an empty or new directory")
        return None
    record = json.loads(marker.read_text(encoding="utf-8"))
    if record.get("parameters") != parameters:
        raise ValueError(f"{out_dir} holds a corpus synthesized with {record.get('parameters')}, not {parameters}; "
                         "use another output directory (--out, recipe corpus.dir)")
    if record.get("summary"):
        summary = record["summary"]
        return CorpusSummary(**{**summary, "engines": tuple(summary["engines"])})
    for directory in CorpusLayout(out_dir).owned_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    return None


def synthesize_corpus(
    out_dir: str | Path,
    *,
    hours: float,
    speakers: int,
    eval_minutes: float,
    seed: int,
    jobs: int = 1,
    text_file: str | Path | None = None,
    ms98_dir: str | Path | None = None,
    engines: Sequence[str] | None = None,
) -> CorpusSummary:
    """Write a corpus under ``out_dir`` (layout: :class:`CorpusLayout`) and return what it holds.

    ``hours`` of training speech from ``speakers`` training speakers, ``eval_minutes`` of
    evaluation speech (half by training speakers, half by unseen ones; 0 writes no eval part).
    Text: the shipped bank, ``text_file``, or for training the utterances of the ms98
    transcripts under ``ms98_dir``. ``engines`` restricts the TTS engines (default: all
    installed). Re-running with the same arguments returns the stored summary; a directory
    holding anything else is refused.
    """
    if not hours > 0:
        raise ValueError(f"hours must be positive, got {hours}")
    if speakers < 2:
        raise ValueError(f"speakers must be at least 2 (a conversation has two sides), got {speakers}")
    if eval_minutes < 0:
        raise ValueError(f"eval_minutes must be >= 0, got {eval_minutes}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out_dir = Path(out_dir)
    parameters = {
        "hours": hours, "speakers": speakers, "eval_minutes": eval_minutes, "seed": seed,
        "text_file": str(text_file) if text_file else None, "ms98_dir": str(ms98_dir) if ms98_dir else None,
        "engines": list(engines) if engines else None,
    }
    stored = _check_marker(out_dir, parameters)
    if stored is not None:
        log.info("corpus %s already synthesized with these arguments", out_dir)
        return stored
    began = time.monotonic()
    installed = detect_engines(engines)  # before the marker: bad arguments must not claim the directory
    conversations = _plan_corpus(installed, hours, speakers, eval_minutes, seed, text_file, ms98_dir)
    write_text_atomic(out_dir / MARKER, json.dumps({"parameters": parameters, "summary": None}, indent=1) + "\n")
    layout = CorpusLayout(out_dir)
    totals, eval_segments, skipped = _synthesize_all(conversations, layout, seed, jobs)
    if eval_segments:
        write_hub5_references(layout, eval_segments)
    summary = _summarize(out_dir, seed, installed, conversations, totals, skipped, time.monotonic() - began)
    # Who speaks on each conversation side, as LDC's call tables document it for the real corpus.
    sides = {f"{c.plan.conversation}-{side}": c.plan.voice(side).id for c in conversations for side in SIDES}
    record = {"parameters": parameters, "summary": asdict(summary), "sides": sides}
    write_text_atomic(out_dir / MARKER, json.dumps(record, indent=1) + "\n")
    log.info("%s", summary)
    return summary


def _plan_corpus(
    engines: Sequence[TtsEngine], hours: float, speakers: int, eval_minutes: float, seed: int,
    text_file: str | Path | None, ms98_dir: str | Path | None,
) -> list[_Conversation]:
    """Cast the speakers and plan every training and evaluation conversation."""
    train_pool, eval_pool = split_sentences(load_sentences(text_file), random.Random(_seed(seed, "sentences")))
    eval_seconds = eval_minutes * 60.0
    half_conversations = max(1, round(eval_seconds / 2 / EVAL_CONVERSATION_SPEECH)) if eval_seconds else 0
    train_voices, unseen_voices = cast_speakers(engines, speakers, 2 * half_conversations, seed)
    if ms98_dir is not None:
        conversations = _plan_ms98(Path(ms98_dir), train_voices, hours, seed)
    else:
        count = max(math.ceil(hours * 3600 / TRAIN_CONVERSATION_SPEECH), math.ceil(speakers / 2))
        if FIRST_TRAIN_CONVERSATION + count > 10000:
            raise ValueError(f"{count} training conversations do not fit Switchboard's 4-digit conversation numbers; ask for fewer hours")
        file_ids = [f"sw{FIRST_TRAIN_CONVERSATION + i:05d}" for i in range(count)]
        conversations = _plan_generated(file_ids, train_voices, train_pool, hours * 3600, seed, "train")
    if half_conversations:
        swb = [f"sw_{FIRST_SWB_EVAL + i}" for i in range(half_conversations)]
        callhome = [f"en_{FIRST_CH_EVAL + i}" for i in range(half_conversations)]
        conversations += _plan_generated(swb, train_voices, eval_pool, eval_seconds / 2, seed, "eval")
        conversations += _plan_generated(callhome, unseen_voices, eval_pool, eval_seconds / 2, seed, "eval")
    return conversations


def _summarize(
    out_dir: Path, seed: int, engines: Sequence[TtsEngine], conversations: Sequence[_Conversation],
    totals: dict[str, _Totals], skipped: int, seconds: float,
) -> CorpusSummary:
    seen = {v.id for c in conversations if c.plan.conversation.startswith("sw_") for v in c.plan.voices}
    unseen = {v.id for c in conversations if c.plan.conversation.startswith("en_") for v in c.plan.voices}
    train, evaluation = totals["train"], totals["eval"]
    return CorpusSummary(
        out_dir=str(out_dir),
        seed=seed,
        engines=tuple(engine.name for engine in engines),
        train_conversations=train.conversations,
        train_utterances=train.utterances,
        train_speech_hours=round(train.speech_seconds / 3600, 4),
        train_audio_hours=round(train.audio_seconds / 3600, 4),
        train_speakers=len(train.speakers),
        eval_conversations=evaluation.conversations,
        eval_utterances=evaluation.utterances,
        eval_speech_minutes=round(evaluation.speech_seconds / 60, 2),
        eval_seen_speakers=len(seen),
        eval_unseen_speakers=len(unseen),
        skipped_utterances=skipped,
        seconds=round(seconds, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.corpus.synth", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, help="corpus root to create (must be new or empty)")
    parser.add_argument("--hours", type=float, default=2.0, help="hours of training speech (default 2)")
    parser.add_argument("--speakers", type=int, default=40, help="number of training speakers (default 40)")
    parser.add_argument("--eval-minutes", type=float, default=15.0, help="minutes of evaluation speech, 0 for none (default 15)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes (default 2)")
    parser.add_argument("--text", type=Path, help="sentences to say instead of the shipped bank (one per line, ms98 markup allowed)")
    parser.add_argument("--ms98", type=Path, help="re-synthesize the utterances of these ms98 transcripts for training (ids kept)")
    parser.add_argument("--engines", help="comma-separated TTS engines to use (default: all installed: espeak-ng, flite, festival)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return report_errors(parser.prog, lambda: print(synthesize_corpus(
        args.out, hours=args.hours, speakers=args.speakers, eval_minutes=args.eval_minutes, seed=args.seed, jobs=args.jobs,
        text_file=args.text, ms98_dir=args.ms98, engines=args.engines.split(",") if args.engines else None,
    )))


if __name__ == "__main__":
    sys.exit(main())
