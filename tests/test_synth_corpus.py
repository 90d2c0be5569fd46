"""A real (tiny) synthesis: LDC layout, audio/transcript agreement, determinism, scoring files, prep on it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from blspeech.corpus.conversation import lay_out, plan_conversation, render_channels
from blspeech.corpus.ldc_layout import CorpusLayout, hub5_reference_words
from blspeech.corpus.sentences import SentencePools
from blspeech.corpus.sphere import read_sphere_header, write_sphere_ulaw
from blspeech.corpus.synth import MARKER, synthesize_corpus
from blspeech.corpus.telephone import RATE
from blspeech.corpus.tts import Voice
from blspeech.corpus.utterances import render_utterances
from blspeech.data.audio import cut_segment, load_recording
from blspeech.data.swbd import prepare_switchboard, read_ms98_transcript, read_pem, read_stm
from blspeech.data.text import normalize_transcript

FIXTURE = Path(__file__).parent / "fixtures" / "ldc"
TINY = dict(hours=0.008, speakers=3, eval_minutes=0.5, seed=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "tiny"
    summary = synthesize_corpus(root, jobs=2, **TINY)
    return root, summary


def energy(x: np.ndarray) -> float:
    return float(np.mean(x.astype(np.float64) ** 2))


def test_files_follow_the_ldc_naming(corpus):
    root, summary = corpus
    layout = CorpusLayout(root)
    assert summary.train_conversations == 2 and summary.eval_conversations == 2
    for n in (2001, 2002):
        assert (root / f"LDC97S62/swb1_d1/data/sw0{n}.sph").is_file()
        for side in "AB":
            assert (root / f"swb_ms98_transcriptions/20/{n}/sw{n}{side}-ms98-a-trans.text").is_file()
    assert (root / "LDC2002S09/hub5e_00/english/sw_4390.sph").is_file()
    assert (root / "LDC2002S09/hub5e_00/english/en_4156.sph").is_file()
    assert layout.pem == root / "LDC2002S09/hub5e_00/english/hub5e_00.pem" and layout.pem.is_file()
    assert layout.stm == root / "LDC2002T43/reference/hub5e00.english.000405.stm" and layout.stm.is_file()
    assert layout.glm == root / "LDC2002T43/reference/en20000405_hub5.glm" and layout.glm.is_file()
    header = read_sphere_header(layout.train_sph(2001))
    assert (header.channel_count, header.sample_rate, header.sample_coding) == (2, 8000, "ulaw")
    assert header.fields["database_id"] == "swb1" and header.fields["conversation_id"] == "2001"


def test_summary_reports_what_is_on_disk(corpus):
    root, summary = corpus
    speech = sum(
        s.end - s.start
        for path in (root / "swb_ms98_transcriptions").rglob("*-trans.text")
        for s in read_ms98_transcript(path)
        if normalize_transcript(s.words)
    )
    assert summary.train_speech_hours == pytest.approx(speech / 3600, abs=1e-3)
    assert 0.5 * TINY["hours"] < summary.train_speech_hours < 2 * TINY["hours"]
    assert summary.train_speakers == TINY["speakers"] and summary.skipped_utterances == 0
    stored = json.loads((root / MARKER).read_text())
    assert stored["summary"]["train_utterances"] == summary.train_utterances
    assert "train:" in str(summary) and "unseen speakers" in str(summary)


def test_eval_halves_have_seen_and_unseen_speakers(corpus):
    root, summary = corpus
    sides = json.loads((root / MARKER).read_text())["sides"]
    train = {voice for side, voice in sides.items() if side.startswith("sw0")}
    assert len(train) == TINY["speakers"]
    assert {voice for side, voice in sides.items() if side.startswith("sw_")} <= train
    assert not {voice for side, voice in sides.items() if side.startswith("en_")} & train
    assert summary.eval_seen_speakers == 2 and summary.eval_unseen_speakers == 2


def test_transcripts_tile_each_side_and_speech_segments_hold_the_speech(corpus):
    root, _ = corpus
    for n in (2001, 2002):
        audio, rate = soundfile.read(root / f"LDC97S62/swb1_d1/data/sw0{n}.sph", dtype="float32")
        duration = len(audio) / rate
        for channel, side in enumerate("AB"):
            segments = read_ms98_transcript(root / f"swb_ms98_transcriptions/20/{n}/sw{n}{side}-ms98-a-trans.text")
            assert [s.number for s in segments] == list(range(1, len(segments) + 1))
            assert segments[0].start == 0 and segments[-1].end == pytest.approx(duration, abs=1e-3)
            assert all(a.end == pytest.approx(b.start) for a, b in zip(segments, segments[1:]))
            speech = [s for s in segments if s.words != "[silence]"]
            silence = [s for s in segments if s.words == "[silence]"]
            assert speech and silence
            floor = np.median([energy(cut_segment(audio[:, channel], rate, s.start, s.end, s.segment_id)) for s in silence])
            for s in speech:
                assert energy(cut_segment(audio[:, channel], rate, s.start, s.end, s.segment_id)) > 10 * floor, s


def test_eval_segments_are_inside_their_files_and_hold_speech(corpus):
    root, _ = corpus
    layout = CorpusLayout(root)
    pem, stm = read_pem(layout.pem), read_stm(layout.stm)
    assert [(p.file_id, p.side, p.start, p.end) for p in pem] == [(s.file_id, s.side, s.start, s.end) for s in stm]
    for file_id in ("sw_4390", "en_4156"):
        audio, rate = soundfile.read(layout.eval_sph(file_id), dtype="float32")
        for line in (p for p in pem if p.file_id == file_id):
            cut = cut_segment(audio[:, "AB".index(line.side)], rate, line.start, line.end, file_id)
            assert energy(cut) > 1e-4
    train_text = {s.words for p in (root / "swb_ms98_transcriptions").rglob("*-trans.text") for s in read_ms98_transcript(p)}
    long_eval = {line.words for line in stm if len(line.words.split()) > 3}
    assert long_eval and not long_eval & {hub5_reference_words(t) for t in train_text}


@pytest.mark.skipif(not os.path.exists("/usr/lib/sctk/bin/hubscr.pl"), reason="SCTK (Debian package sctk) not installed")
def test_hubscr_scores_the_reference_against_itself_at_zero_errors(corpus, tmp_path):
    layout = CorpusLayout(corpus[0])
    ctm = []
    for line in read_stm(layout.stm):
        words = [w.strip("()").replace("%HESITATION", "uh") for w in line.words.split()]
        if words == ["IGNORE_TIME_SEGMENT_IN_SCORING"]:
            continue
        step = (line.end - line.start) / len(words)
        ctm += [f"{line.file_id} {line.side} {line.start + i * step:.2f} {step:.2f} {w.lower()}" for i, w in enumerate(words)]
    (tmp_path / "hyp.ctm").write_text("\n".join(ctm) + "\n")
    shutil.copy(layout.stm, tmp_path / "ref.stm")
    env = {**os.environ, "PATH": "/usr/lib/sctk/bin:" + os.environ["PATH"]}
    done = subprocess.run(
        ["hubscr.pl", "-p", "/usr/lib/sctk/bin", "-V", "-l", "english", "-h", "hub5", "-g", str(layout.glm), "-r", "ref.stm", "hyp.ctm"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = next(line for line in (tmp_path / "hyp.ctm.filt.sys").read_text().splitlines() if "Sum/Avg" in line)
    assert summary.split("|")[3].split()[:5] == ["100.0", "0.0", "0.0", "0.0", "0.0"], summary
    lur = (tmp_path / "hyp.ctm.filt.lur").read_text()
    assert "Switchboard" in lur and "CallHome" in lur


def test_same_arguments_give_the_same_bytes_whatever_the_jobs(corpus, tmp_path):
    root, summary = corpus
    again = synthesize_corpus(tmp_path / "again", jobs=1, **TINY)
    assert again.train_utterances == summary.train_utterances
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER):
        assert (tmp_path / "again" / path.relative_to(root)).read_bytes() == path.read_bytes(), path


def test_rerunning_returns_the_stored_summary_and_refuses_other_arguments(corpus):
    root, summary = corpus
    assert synthesize_corpus(root, jobs=2, **TINY) == summary
    with pytest.raises(ValueError, match="synthesized with"):
        synthesize_corpus(root, jobs=2, **{**TINY, "seed": 4})


def test_a_foreign_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "my_thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not empty"):
        synthesize_corpus(tmp_path, **TINY)


@pytest.mark.parametrize("bad, message", [({"hours": 0}, "hours"), ({"speakers": 1}, "speakers"), ({"eval_minutes": -1}, "eval_minutes")])
def test_bad_arguments_are_named(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        synthesize_corpus(tmp_path / "x", **{**TINY, **bad})


def test_an_unknown_engine_is_refused_without_claiming_the_directory(tmp_path):
    with pytest.raises(ValueError, match="bogus"):
        synthesize_corpus(tmp_path / "x", **TINY, engines=["bogus"])
    assert not (tmp_path / "x" / "synthesis.json").exists()  # the corrected command may use the directory


def test_each_side_is_on_its_own_channel_and_survives_mu_law(tmp_path):
    voices = (Voice("espeak-ng", "en-us+m1", "m", 40, 1.0, 1.0), Voice("flite", "slt", "f", 180, 1.0, 1.0))
    pools = SentencePools(("we went camping last summer", "the schools are pretty good here"), ("uh-huh",))
    plan = plan_conversation("sw02001", voices, pools, 12.0, 25.0, seed=2)
    waves = [render_utterances(plan.voice(u.side), [u.pieces], [i])[0] for i, u in enumerate(plan.utterances)]
    placements = lay_out(plan, [len(w) / RATE for w in waves])
    channels = render_channels(plan, waves, placements)
    write_sphere_ulaw(tmp_path / "sw02001.sph", channels, RATE)
    decoded, rate = soundfile.read(tmp_path / "sw02001.sph", dtype="float32")
    assert rate == RATE and decoded.shape == channels.shape
    assert np.all(np.abs(decoded - channels) <= 0.04 * np.abs(channels) + 2e-3)
    for utterance, placement in zip(plan.utterances, placements):
        own, other = "AB".index(utterance.side), 1 - "AB".index(utterance.side)
        first, last = int(placement.start * RATE), int(placement.end * RATE)
        other_talks = any(
            u.side != utterance.side and p.start < placement.end and placement.start < p.end for u, p in zip(plan.utterances, placements)
        )
        if not other_talks:
            assert energy(decoded[first:last, own]) > 30 * energy(decoded[first:last, other])


def test_prep_reads_the_synthesized_corpus(corpus, tmp_path):
    root, summary = corpus
    sets = prepare_switchboard(**CorpusLayout(root).prep_arguments(), output_dir=tmp_path / "data", dev_utterances=5, max_duplicates=300)
    train, dev, eval2000 = sets["train"], sets["dev"], sets["eval2000"]
    assert len(train.utt2spk) + len(dev.utt2spk) == summary.train_utterances
    assert len(eval2000.utt2spk) <= summary.eval_utterances
    for name in ("train", "dev", "eval2000"):
        assert (tmp_path / "data" / name / "wav.scp").is_file()
    assert (tmp_path / "data" / "eval2000" / "stm").read_text() == CorpusLayout(root).stm.read_text()
    utt = train.utterances[0]
    segment = train.segments[utt]
    samples, rate = load_recording(train.wav_scp[segment.recording])
    assert rate == 8000 and samples.ndim == 1
    assert energy(cut_segment(samples, rate, segment.start, segment.end, utt)) > 1e-4


def test_ms98_transcripts_are_resynthesized_with_their_ids(tmp_path):
    summary = synthesize_corpus(tmp_path / "c", hours=1.0, speakers=2, eval_minutes=0, seed=1, ms98_dir=FIXTURE / "swb_ms98_transcriptions")
    assert summary.train_conversations == 3 and summary.eval_conversations == 0
    for original in (FIXTURE / "swb_ms98_transcriptions").rglob("*-trans.text"):
        written = tmp_path / "c" / original.relative_to(FIXTURE)
        before, after = read_ms98_transcript(original), read_ms98_transcript(written)
        assert [(s.segment_id, s.words) for s in before] == [(s.segment_id, s.words) for s in after]
        assert all(s.start < s.end for s in after if normalize_transcript(s.words))
    assert not (tmp_path / "c" / "LDC2002S09").exists()


def test_a_users_text_file_is_said(tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text("# my sentences\nthe quick brown fox jumps over the lazy dog\nseven silver swans swam silently seaward\n"
                    "peter piper picked a peck of pickled peppers\nyeah\n")
    synthesize_corpus(tmp_path / "c", hours=0.003, speakers=2, eval_minutes=0.2, seed=1, text_file=text)
    said = {s.words for p in (tmp_path / "c").rglob("*-trans.text") for s in read_ms98_transcript(p)} - {"[silence]"}
    assert said and said <= {"the quick brown fox jumps over the lazy dog", "seven silver swans swam silently seaward",
                             "peter piper picked a peck of pickled peppers", "yeah"}


def test_command_line_help():
    done = subprocess.run([sys.executable, "-m", "blspeech.corpus.synth", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--eval-minutes" in done.stdout and "--ms98" in done.stdout
