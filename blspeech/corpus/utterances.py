"""From a transcript line to audio: what gets spoken, what gets inserted as a sound, and the waveform.

A transcript in ms98 markup is split into :class:`Piece` s: runs of words for the TTS engine and
non-speech events (``[laughter]``, ``[noise]``, ``[vocalized-noise]``) that become sounds. The
words go through the same normalization data prep uses (:func:`blspeech.data.text.normalize_word`),
so the audio says exactly what the prepared ``text`` file will say; partial words are spoken as
the fragment (``ab-`` -> "ab").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from blspeech.corpus.sounds import NON_SPEECH_SOUNDS
from blspeech.corpus.telephone import RATE, set_level, trim_silence
from blspeech.corpus.tts import Voice, engine_by_name
from blspeech.data.text import is_partial_word, normalize_word

UTTERANCE_RMS = 0.1  # per-utterance speech level before the channel; events are mixed relative to it
# Nominal fundamental frequency of each gender, for laughs and hums that match the talker.
NOMINAL_F0 = {"m": 115.0, "f": 205.0}
# Rough speaking time of one letter at rate 1.0, and the fixed cost of an utterance (seconds),
# measured on the shipped sentence bank across the engines; used to plan, never to report.
SECONDS_PER_LETTER = 0.068
SECONDS_PER_EVENT = 0.45


@dataclass(frozen=True)
class Piece:
    """Either words for the TTS engine (``sound`` is None) or one non-speech event."""

    text: str = ""
    sound: str | None = None


def plan_pieces(transcript: str) -> tuple[Piece, ...]:
    """Split an ms98-markup transcript into speech runs and events; empty if nothing is audible."""
    pieces: list[Piece] = []
    words: list[str] = []
    for raw in transcript.split():
        word = normalize_word(raw)
        if not word:
            continue
        if word in NON_SPEECH_SOUNDS:
            if words:
                pieces.append(Piece(text=" ".join(words)))
                words = []
            pieces.append(Piece(sound=word))
        else:
            spoken = word.strip("-") if is_partial_word(word) else word
            if spoken:
                words.append(spoken)
    if words:
        pieces.append(Piece(text=" ".join(words)))
    return tuple(pieces)


def estimated_duration(pieces: Sequence[Piece], rate: float) -> float:
    """A planning estimate of the seconds ``pieces`` take at speaking ``rate``."""
    letters = sum(len(p.text.replace(" ", "")) for p in pieces if p.sound is None)
    events = sum(1 for p in pieces if p.sound is not None)
    return SECONDS_PER_LETTER * letters / rate + SECONDS_PER_EVENT * events + 0.1


def render_utterances(voice: Voice, utterances: Sequence[tuple[Piece, ...]], seeds: Sequence[int]) -> list[np.ndarray]:
    """Audio for each utterance of one talker: float32 ``(T,)`` at 8 kHz, speech level normalized.

    All speech runs go to the engine in one batch (festival starts once). Pauses between pieces
    and the event sounds are drawn from ``np.random.default_rng(seed)`` per utterance, so an
    utterance's audio depends only on its own seed. An utterance with a speech piece the engine
    left silent comes back empty, as one the caller skips: its transcript would name words
    nobody says.
    """
    if len(utterances) != len(seeds):
        raise ValueError(f"got {len(utterances)} utterances but {len(seeds)} seeds")
    texts = [piece.text for pieces in utterances for piece in pieces if piece.sound is None]
    spoken = iter(engine_by_name(voice.engine).synthesize(texts, voice) if texts else [])
    f0 = NOMINAL_F0[voice.gender] * voice.warp
    waves = []
    for pieces, seed in zip(utterances, seeds):
        rng = np.random.default_rng(seed)
        parts: list[np.ndarray] = []
        silent_speech = False
        for piece in pieces:
            if parts:
                parts.append(np.zeros(int(rng.uniform(0.06, 0.2) * RATE), dtype=np.float32))
            if piece.sound is None:
                speech = trim_silence(next(spoken))
                silent_speech |= len(speech) == 0
                parts.append(set_level(speech, UTTERANCE_RMS))
            else:
                parts.append(NON_SPEECH_SOUNDS[piece.sound](rng, f0))
        audible = parts and not silent_speech
        waves.append(np.concatenate(parts).astype(np.float32) if audible else np.zeros(0, dtype=np.float32))
    return waves
