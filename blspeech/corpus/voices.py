"""Casting: which synthetic voices are the training speakers and which are never heard in training.

A speaker is an engine voice with a fixed pitch, speaking rate and warp (:class:`Voice`). The
training speakers are spread over the installed engines (most from espeak-ng, which has the
most voices) so that no engine is "barely seen" in training. The unseen speakers of the
CallHome-like eval half use rates and warps that no training speaker uses, and, for engines
with many voices, a fifth of the base voices that are reserved for them alone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from blspeech.corpus.tts import BaseVoice, TtsEngine, Voice

ENGINE_SHARE = {"espeak-ng": 0.55, "flite": 0.25, "festival": 0.20}
TRAIN_RATES = (0.88, 0.96, 1.04, 1.12)
TRAIN_WARPS = (0.94, 1.0, 1.06)
UNSEEN_RATES = (0.92, 1.0, 1.08, 1.16)
UNSEEN_WARPS = (0.91, 0.97, 1.03, 1.09)
# Engines with at least this many base voices keep RESERVED_SHARE of them for unseen speakers.
RESERVE_FROM = 8
RESERVED_SHARE = 0.2


def engine_quotas(engines: Sequence[str], count: int) -> dict[str, int]:
    """Split ``count`` speakers over ``engines`` by :data:`ENGINE_SHARE`, at least one each when possible."""
    shares = {name: ENGINE_SHARE.get(name, 0.1) for name in engines}
    total = sum(shares.values())
    quotas = {name: (int(count * share / total) if count >= len(engines) else 0) for name, share in shares.items()}
    if count >= len(engines):
        for name in quotas:
            quotas[name] = max(1, quotas[name])
    order = sorted(engines, key=lambda n: -shares[n])
    i = 0
    while sum(quotas.values()) < count:
        quotas[order[i % len(order)]] += 1
        i += 1
    while sum(quotas.values()) > count:
        largest = max(order, key=lambda n: quotas[n])
        quotas[largest] -= 1
    return quotas


def _cast(base: list[BaseVoice], count: int, rates: Sequence[float], warps: Sequence[float], taken: set[str], rng: random.Random) -> list[Voice]:
    """``count`` distinct voices cycling through ``base`` (all base voices before any repeats)."""
    voices: list[Voice] = []
    attempts = 0
    while len(voices) < count:
        attempts += 1
        if attempts > 100 * (count + 1):
            raise ValueError(f"cannot cast {count} distinct voices from {len(base)} base voices")
        b = base[len(voices) % len(base)]
        voice = Voice(b.engine, b.name, b.gender, rng.choice(b.pitches), rng.choice(rates), rng.choice(warps))
        if voice.id not in taken:
            taken.add(voice.id)
            voices.append(voice)
    return voices


def cast_speakers(engines: Sequence[TtsEngine], train_count: int, unseen_count: int, seed: int) -> tuple[list[Voice], list[Voice]]:
    """``(training speakers, unseen speakers)``, disjoint, deterministic in ``seed``."""
    if train_count < 2:
        raise ValueError(f"need at least 2 training speakers for a conversation, got {train_count}")
    if unseen_count < 0:
        raise ValueError(f"unseen_count must be >= 0, got {unseen_count}")
    rng = random.Random(seed)
    names = [engine.name for engine in engines]
    train_quota = engine_quotas(names, train_count)
    unseen_quota = engine_quotas(names, unseen_count) if unseen_count else {name: 0 for name in names}
    taken: set[str] = set()
    train: list[Voice] = []
    unseen: list[Voice] = []
    for engine in engines:
        base = sorted(engine.base_voices(), key=lambda b: b.name)
        rng.shuffle(base)
        reserved = base[: int(len(base) * RESERVED_SHARE)] if len(base) >= RESERVE_FROM else []
        shared = base[len(reserved):]
        train += _cast(shared, train_quota[engine.name], TRAIN_RATES, TRAIN_WARPS, taken, rng)
        # Unseen speakers alternate between reserved base voices and new settings of shared ones.
        pool = [b for pair in zip(reserved, shared) for b in pair] + shared[len(reserved):] if reserved else shared
        unseen += _cast(pool, unseen_quota[engine.name], UNSEEN_RATES, UNSEEN_WARPS, taken, rng)
    rng.shuffle(train)
    rng.shuffle(unseen)
    return train, unseen
