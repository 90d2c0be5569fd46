"""Two-sided conversations: who says what when, and the two telephone channels that result.

A conversation is planned before any audio exists (:func:`plan_conversation`): turns of one to
three sentences, pauses inside a turn, gaps (or small overlaps) between turns, and listener
backchannels ("uh-huh") dropped into long utterances, all timed from an estimate of each
utterance's length. Once the audio exists, :func:`lay_out` keeps the planned rhythm but uses the
real lengths: every utterance keeps its planned gap after whatever ended last, and never
overlaps the previous segment of its own side. :func:`render_channels` then mixes each side
into its own channel (side A = channel 1, side B = channel 2) through the telephone channel.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from blspeech.corpus.sentences import SentencePools
from blspeech.corpus.telephone import RATE, add_noise, band_pass, set_level
from blspeech.corpus.tts import Voice
from blspeech.corpus.utterances import Piece, estimated_duration, plan_pieces

SIDES = ("A", "B")
SPEECH_RMS = 0.08  # about -22 dBFS while talking, a typical telephone level
SEGMENT_PADDING = (0.05, 0.2)  # seconds of silence a transcript segment keeps around its speech, each side


@dataclass(frozen=True)
class PlannedUtterance:
    """One utterance of a plan; ``start``/``end`` are planned seconds (estimates, or ms98 times)."""

    side: str
    transcript: str
    pieces: tuple[Piece, ...]
    start: float
    end: float
    ms98_number: int | None = None  # kept from a real ms98 transcript, else numbered on writing


@dataclass(frozen=True)
class ConversationPlan:
    """Everything needed to synthesize one conversation, deterministic in ``seed``."""

    conversation: str  # file id: sw02001 (training), sw_4390 / en_4156 (evaluation)
    voices: tuple[Voice, Voice]  # sides A and B
    snr_db: float
    seed: int
    utterances: tuple[PlannedUtterance, ...]

    def voice(self, side: str) -> Voice:
        return self.voices[SIDES.index(side)]


@dataclass(frozen=True)
class Placement:
    """Where an utterance's audio sits (``start``, ``end``) and its transcript segment around it."""

    start: float
    end: float
    segment_start: float
    segment_end: float


def plan_conversation(
    conversation: str,
    voices: tuple[Voice, Voice],
    pools: SentencePools,
    speech_seconds: float,
    snr_db: float,
    seed: int,
) -> ConversationPlan:
    """Plan turns until about ``speech_seconds`` of (estimated) speech, both sides together."""
    if not pools.long:
        raise ValueError(f"{conversation}: no sentences to plan a conversation from")
    rng = random.Random(seed)
    utterances: list[PlannedUtterance] = []
    side = rng.choice(SIDES)
    cursor = rng.uniform(0.3, 1.2)
    speech = 0.0

    # Segments are counted with their mean padding (before + after), as data prep will count them.
    padding = sum(SEGMENT_PADDING)

    def add(side_: str, transcript: str, start: float) -> PlannedUtterance | None:
        pieces = plan_pieces(transcript)
        if not pieces:
            return None
        voice = voices[SIDES.index(side_)]
        duration = estimated_duration(pieces, voice.rate) / voice.warp
        utterance = PlannedUtterance(side_, transcript, pieces, start, start + duration)
        utterances.append(utterance)
        return utterance

    turns_without_speech = 0
    while speech < speech_seconds:
        before = speech
        if pools.backchannels and rng.random() < 0.12:
            sentences = [rng.choice(pools.backchannels)]
        else:
            sentences = [rng.choice(pools.long) for _ in range(rng.choices((1, 2, 3), (0.5, 0.35, 0.15))[0])]
        for i, sentence in enumerate(sentences):
            if i:
                cursor += rng.uniform(0.15, 0.6)
            said = add(side, sentence, cursor)
            if said is None:
                continue
            speech += said.end - said.start + padding
            other = SIDES[1 - SIDES.index(side)]
            if pools.backchannels and said.end - said.start > 2.0 and rng.random() < 0.3:
                heard = add(other, rng.choice(pools.backchannels), said.start + rng.uniform(0.3, 0.6) * (said.end - said.start))
                if heard is not None:
                    speech += heard.end - heard.start + padding
            cursor = said.end
        cursor += rng.uniform(-0.15, 0.9)
        side = SIDES[1 - SIDES.index(side)]
        turns_without_speech = turns_without_speech + 1 if speech == before else 0
        if turns_without_speech > 100:
            raise ValueError(f"{conversation}: the sentences have nothing to say (only markup such as [silence])")
    ordered = tuple(sorted(utterances, key=lambda u: u.start))
    return ConversationPlan(conversation, voices, snr_db, seed, ordered)


def lay_out(plan: ConversationPlan, durations: Sequence[float]) -> list[Placement]:
    """Place each utterance (in plan order) given its real duration in seconds.

    Each utterance keeps its planned distance from the latest end so far (negative = overlap),
    starts no earlier than the utterance before it, and leaves its side's previous segment
    alone. Segments extend the audio by :data:`SEGMENT_PADDING` each way, rounded outward to 10 ms, the
    resolution of Kaldi utterance ids.
    """
    if len(durations) != len(plan.utterances):
        raise ValueError(f"{plan.conversation}: {len(durations)} durations for {len(plan.utterances)} utterances")
    rng = random.Random(plan.seed + 1)
    placements: list[Placement] = []
    planned_latest_end = actual_latest_end = previous_start = 0.0
    side_free = {side: 0.0 for side in SIDES}
    for utterance, duration in zip(plan.utterances, durations):
        before, after = rng.uniform(*SEGMENT_PADDING), rng.uniform(*SEGMENT_PADDING)
        start = actual_latest_end + (utterance.start - planned_latest_end)
        start = max(start, previous_start + 0.05, side_free[utterance.side] + before + 0.02, before + 0.01)
        end = start + duration
        segment_start = math.floor((start - before) * 100) / 100
        segment_end = math.ceil((end + after) * 100) / 100
        placements.append(Placement(start, end, segment_start, segment_end))
        side_free[utterance.side] = segment_end
        planned_latest_end = max(planned_latest_end, utterance.end)
        actual_latest_end = max(actual_latest_end, end)
        previous_start = start
    return placements


def render_channels(plan: ConversationPlan, waves: Sequence[np.ndarray], placements: Sequence[Placement]) -> np.ndarray:
    """Mix utterances into two telephone channels: shape ``(T, 2)``, float32, 8 kHz.

    Each side gets the 300-3400 Hz band limit, a speech level of its own (as two handsets on
    two lines would), then in-band line noise at the conversation's SNR over that side's speech.
    """
    tail = random.Random(plan.seed + 2).uniform(0.5, 1.5)
    length = int(round((max(p.segment_end for p in placements) + tail) * RATE))
    channels = np.zeros((length, 2), dtype=np.float32)
    rng = np.random.default_rng(plan.seed)
    for index, side in enumerate(SIDES):
        signal = np.zeros(length, dtype=np.float32)
        speech = np.zeros(length, dtype=bool)
        for utterance, wave, placement in zip(plan.utterances, waves, placements):
            if utterance.side == side:
                first = int(round(placement.start * RATE))
                signal[first : first + len(wave)] += wave
                speech[first : first + len(wave)] = True
        signal = set_level(band_pass(signal), SPEECH_RMS * rng.uniform(0.7, 1.4), speech)
        channels[:, index] = np.clip(add_noise(signal, speech, plan.snr_db, rng), -1.0, 1.0)
    return channels
