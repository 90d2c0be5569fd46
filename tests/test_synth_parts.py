"""Pieces of the corpus synthesizer: text to pieces, sounds, telephone channel, casting, layout, engines."""

import random

import numpy as np
import pytest

from blspeech.corpus import sentence_grammar
from blspeech.corpus.conversation import lay_out, plan_conversation
from blspeech.corpus.ldc_layout import TranscriptLine, fill_silences, hub5_reference_words, retime
from blspeech.corpus.sentences import SentencePools, load_sentences, split_sentences
from blspeech.corpus.sounds import NON_SPEECH_SOUNDS
from blspeech.corpus.telephone import RATE, add_noise, band_pass, trim_silence
from blspeech.corpus.tts import EspeakNg, TtsError, Voice, detect_engines, engine_by_name
from blspeech.corpus.utterances import Piece, plan_pieces, render_utterances
from blspeech.corpus.voices import TRAIN_RATES, TRAIN_WARPS, cast_speakers, engine_quotas
from blspeech.data.text import normalize_transcript


def tone(frequency: float, seconds: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency * np.arange(int(seconds * RATE)) / RATE).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


# --------------------------------------------------------------------------- text -> pieces
def test_markup_becomes_sounds_and_is_never_spoken():
    pieces = plan_pieces("[noise] um i was [laughter] ab[out]- about [vocalized-noise] [silence]")
    assert pieces == (
        Piece(sound="[noise]"),
        Piece(text="um i was"),
        Piece(sound="[laughter]"),
        Piece(text="ab about"),  # the partial word is spoken as its fragment
        Piece(sound="[vocalized-noise]"),
    )


def test_alternates_and_laughing_words_say_what_was_said():
    assert plan_pieces("[laughter-yes] [it'n/isn't] {yuppiedom} <b_aside>") == (Piece(text="yes it'n yuppiedom"),)


def test_silence_alone_has_nothing_to_say():
    assert plan_pieces("[silence]") == ()


# --------------------------------------------------------------------------- sounds and channel
@pytest.mark.parametrize("word", sorted(NON_SPEECH_SOUNDS))
def test_non_speech_sounds_are_audible_and_deterministic(word):
    make = NON_SPEECH_SOUNDS[word]
    first = make(np.random.default_rng(3), 120.0)
    again = make(np.random.default_rng(3), 120.0)
    assert first.dtype == np.float32 and 0.02 * RATE < len(first) < 1.5 * RATE
    assert np.all(np.isfinite(first)) and 0.01 < rms(first) < 0.3
    np.testing.assert_array_equal(first, again)


def test_band_pass_keeps_the_telephone_band_only():
    assert rms(band_pass(tone(1000))) == pytest.approx(rms(tone(1000)), rel=0.01)
    assert rms(band_pass(tone(100))) < 0.01 * rms(tone(100))
    assert rms(band_pass(tone(3800))) < 0.01 * rms(tone(3800))
    with pytest.raises(ValueError, match="high=5000"):
        band_pass(tone(1000), 300, 5000)


def test_noise_is_added_at_the_requested_snr():
    speech = np.zeros(4 * RATE, dtype=np.float32)
    speech[RATE : 2 * RATE] = 0.1 * tone(500)
    mask = speech != 0
    noisy = add_noise(speech, mask, 20.0, np.random.default_rng(0))
    noise = noisy - speech
    snr = 10 * np.log10(np.mean(speech[mask] ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.1)


def test_trim_silence_cuts_quiet_edges():
    padded = np.concatenate([np.zeros(800), tone(300, 0.5), np.zeros(1600)]).astype(np.float32)
    trimmed = trim_silence(padded)
    assert abs(len(trimmed) - 0.5 * RATE) <= 80


# --------------------------------------------------------------------------- casting
def test_speakers_are_spread_over_engines():
    assert engine_quotas(["espeak-ng", "flite", "festival"], 40) == {"espeak-ng": 22, "flite": 10, "festival": 8}
    assert sum(engine_quotas(["espeak-ng", "flite", "festival"], 5).values()) == 5
    assert min(engine_quotas(["espeak-ng", "flite", "festival"], 3).values()) == 1


def test_unseen_speakers_are_never_heard_in_training():
    engines = detect_engines()
    train, unseen = cast_speakers(engines, 40, 12, seed=5)
    assert len({v.id for v in train}) == 40 and len({v.id for v in unseen}) == 12
    assert not {v.id for v in train} & {v.id for v in unseen}
    assert all(v.rate in TRAIN_RATES and v.warp in TRAIN_WARPS for v in train)
    assert all(v.rate not in TRAIN_RATES and v.warp not in TRAIN_WARPS for v in unseen)
    assert {v.engine for v in train} == {e.name for e in engines}
    assert cast_speakers(engines, 40, 12, seed=5) == (train, unseen)
    with pytest.raises(ValueError, match="at least 2"):
        cast_speakers(engines, 1, 0, seed=5)


# --------------------------------------------------------------------------- engines
def test_unknown_or_missing_engines_fail_clearly(monkeypatch):
    with pytest.raises(ValueError, match="unknown TTS engine 'sam'"):
        engine_by_name("sam")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TtsError, match="no TTS engine found.*apt-get install"):
        detect_engines()


@pytest.mark.parametrize("engine", [engine.name for engine in detect_engines()])
def test_every_installed_engine_speaks_at_8khz(engine):
    base = engine_by_name(engine).base_voices()[0]
    voice = Voice(engine, base.name, base.gender, base.pitches[-1], 1.1, 1.05)
    [wave] = render_utterances(voice, [plan_pieces("well uh i think so [laughter]")], [7])
    assert wave.dtype == np.float32 and 0.8 * RATE < len(wave) < 5 * RATE
    assert np.all(np.isfinite(wave)) and np.abs(wave).max() <= 1.0


def median_f0(wave: np.ndarray) -> float:
    """Median autocorrelation pitch (Hz) over the loud 40 ms frames."""
    frame, estimates = 320, []
    for start in range(0, len(wave) - frame, frame // 2):
        x = wave[start : start + frame] - wave[start : start + frame].mean()
        if rms(x) < 0.3 * rms(wave):
            continue
        corr = np.correlate(x, x, "full")[frame - 1 :]
        lag = 20 + int(np.argmax(corr[20:134]))  # 60-400 Hz
        estimates.append(RATE / lag)
    return float(np.median(estimates))


@pytest.mark.parametrize("low, high, warp", [(20, 80, 1.0), (50, 50, 1.15)])
def test_pitch_and_warp_raise_the_voice(low, high, warp):
    text = ["well i think that is about right"]
    base = EspeakNg().synthesize(text, Voice("espeak-ng", "en-us+m3", "m", low, 1.0, 1.0))[0]
    raised = EspeakNg().synthesize(text, Voice("espeak-ng", "en-us+m3", "m", high, 1.0, warp))[0]
    assert median_f0(raised) > 1.1 * median_f0(base)


# --------------------------------------------------------------------------- conversation plans
def test_plans_alternate_sides_and_layout_keeps_sides_apart():
    voices = (Voice("espeak-ng", "en-us+m1", "m", 50, 1.0, 1.0), Voice("espeak-ng", "en-us+f2", "f", 50, 1.0, 1.0))
    pools = SentencePools(("we went camping last summer", "i think the schools are pretty good"), ("uh-huh", "yeah"))
    plan = plan_conversation("sw02001", voices, pools, 60.0, 20.0, seed=11)
    assert {u.side for u in plan.utterances} == {"A", "B"}
    assert [u.start for u in plan.utterances] == sorted(u.start for u in plan.utterances)
    # Real durations differ from the plan's estimates; layout must still keep each side's segments apart.
    durations = [(u.end - u.start) * factor for u, factor in zip(plan.utterances, np.resize([0.6, 1.7, 1.1], len(plan.utterances)))]
    placements = lay_out(plan, durations)
    for side in "AB":
        spans = [(p.segment_start, p.segment_end) for u, p in zip(plan.utterances, placements) if u.side == side]
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))
    for p, duration in zip(placements, durations):
        assert p.segment_start >= 0 and p.segment_start < p.start and p.end == pytest.approx(p.start + duration)
        assert p.segment_end > p.end and round(p.segment_start * 100, 6).is_integer()
    assert plan_conversation("sw02001", voices, pools, 60.0, 20.0, seed=11) == plan


def test_shipped_sentence_bank_is_what_the_grammar_writes():
    shipped = sentence_grammar.BANK_PATH.read_text(encoding="utf-8").splitlines()
    assert shipped == sentence_grammar.generate_sentences()
    assert len(set(shipped)) == sentence_grammar.BANK_SIZE
    text = " ".join(shipped)
    for markup in ("[laughter]", "[noise]", "[vocalized-noise]", "[laughter-", "]-", " uh ", " um ", "{", "/"):
        assert markup in text


# --------------------------------------------------------------------------- text pools and transcript files
def test_evaluation_sentences_are_never_training_sentences():
    sentences = load_sentences()
    train, evaluation = split_sentences(sentences, random.Random(1))
    assert not set(train.long) & set(evaluation.long)
    assert len(evaluation.long) == pytest.approx(0.1 * (len(train.long) + len(evaluation.long)), abs=1)
    assert train.backchannels == evaluation.backchannels and "uh-huh" in train.backchannels
    assert all(len(normalize_transcript(s).split()) > 2 for s in train.long)


def test_a_text_file_without_sentences_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing\n\n[silence]\n")
    with pytest.raises(ValueError, match="empty.txt: no sentences"):
        load_sentences(path)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_sentences(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="at least 2 sentences"):
        split_sentences(["yeah", "uh-huh", "we went camping"], random.Random(1))


def test_hub5_reference_words_follow_the_stm_conventions():
    assert hub5_reference_words("[noise] um i was ab[out]- about [laughter-yes] it's") == "(%HESITATION) I WAS (AB-) ABOUT YES IT'S"
    assert hub5_reference_words("[laughter]") == "IGNORE_TIME_SEGMENT_IN_SCORING"


def test_silences_fill_the_gaps_of_a_side():
    lines = fill_silences([TranscriptLine(1.0, 2.0, "hello"), TranscriptLine(2.0, 3.5, "there")], 4.0)
    assert [(line.number, line.start, line.end, line.words) for line in lines] == [
        (1, 0.0, 1.0, "[silence]"), (2, 1.0, 2.0, "hello"), (3, 2.0, 3.5, "there"), (4, 3.5, 4.0, "[silence]"),
    ]


def test_retiming_keeps_every_line_and_number():
    original = [
        TranscriptLine(0.0, 0.5, "[silence]", 1), TranscriptLine(0.5, 2.0, "hi there", 2),
        TranscriptLine(2.0, 2.2, "[silence]", 3), TranscriptLine(2.2, 2.4, "[silence]", 4), TranscriptLine(2.4, 3.0, "bye", 5),
    ]
    lines = retime(original, {2: (0.4, 2.5), 5: (3.1, 4.0)}, 4.5)
    assert [(line.number, line.words) for line in lines] == [(line.number, line.words) for line in original]
    times = [t for line in lines for t in (line.start, line.end)]
    assert times == pytest.approx([0.0, 0.4, 0.4, 2.5, 2.5, 2.8, 2.8, 3.1, 3.1, 4.0])


def test_an_utterance_with_a_speech_piece_the_engine_left_silent_comes_back_empty(monkeypatch):
    import blspeech.corpus.utterances as utterances

    class SilentOnUh:
        """Speaks every text but "uh", which it renders as silence."""

        def synthesize(self, texts, voice):
            return [np.zeros(4000, dtype=np.float32) if text == "uh" else
                    0.3 * np.sin(np.arange(4000, dtype=np.float32) / 5) for text in texts]

    monkeypatch.setattr(utterances, "engine_by_name", lambda name: SilentOnUh())
    voice = Voice("espeak-ng", "en", "m", 50, 1.0, 1.0)
    pieces = [plan_pieces("well i think so [laughter]"), plan_pieces("[laughter] uh [laughter]")]
    spoken, silent = render_utterances(voice, pieces, [1, 2])
    assert len(spoken) > 0
    assert len(silent) == 0  # laughter alone would pass for "uh": the caller skips it instead
