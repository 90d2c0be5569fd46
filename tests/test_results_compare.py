"""``python -m blspeech.results``: several recipes' scored models in one table."""

from __future__ import annotations

import json

import pytest

from blspeech.results import ModelResult, format_comparison, main, read_results


def scored(tmp_path, name, results):
    directory = tmp_path / name
    directory.mkdir()
    (directory / "results.json").write_text(json.dumps([r.__dict__ for r in results]))
    return directory


CTC = [ModelResult("bl-vgg-small", 818550, 0.2, {"dev/lm": {"Overall": 61.4, "SWB": 61.4},
                                                  "eval2000/lm": {"Overall": 57.7, "SWB": 55.9, "CallHome": 59.3},
                                                  "eval2000/greedy": {"Overall": 85.2, "SWB": 85.0, "CallHome": 85.5}}),
       ModelResult("vgg-small", 785754, 0.4, {"eval2000/lm": {"Overall": 59.5, "SWB": 59.2, "CallHome": 59.7}})]
HYBRID = [ModelResult("bl-vgg-small", 830000, 0.6, {"eval2000/graph": {"Overall": 40.1, "SWB": 30.2, "CallHome": 50.3}})]


def test_one_row_per_experiment_model_and_decoding(tmp_path):
    table = format_comparison({"exp/ctc": read_results(scored(tmp_path, "ctc", CTC)),
                               "exp/hybrid": read_results(scored(tmp_path, "hybrid", HYBRID))})
    lines = table.splitlines()
    assert lines[0] == ("| experiment | model | decoding | params | GFLOPs/s audio | FLOPs vs baseline | dev | "
                        "eval2000 SWB | eval2000 CallHome | eval2000 |")
    rows = [line.split(" | ") for line in lines[2:]]
    assert [(row[0].strip("| "), row[1], row[2]) for row in rows] == [
        ("exp/ctc", "bl-vgg-small", "CTC, greedy"), ("exp/ctc", "bl-vgg-small", "CTC, lexicon + LM beam search"),
        ("exp/ctc", "vgg-small", "CTC, lexicon + LM beam search"), ("exp/hybrid", "bl-vgg-small", "hybrid, HCLG")]
    assert rows[1][5:] == ["0.500", "61.4", "55.9", "59.3", "57.7 |"]  # FLOPs against vgg-small of the same recipe
    assert rows[0][6] == "-"  # no greedy dev score
    assert rows[3][5:] == ["-", "-", "30.2", "50.3", "40.1 |"]  # no baseline in that recipe


def test_an_unscored_experiment_is_named(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 1
    assert "missing/results.json: no results" in capsys.readouterr().err


def test_a_set_without_segments_is_scored_one_recording_per_utterance(tmp_path):
    from blspeech.data.kaldi_dir import DataDir
    from blspeech.results import write_reference_stm
    from blspeech.score import score, write_ctm

    data = DataDir(wav_scp={"s1-a": "a.wav", "s1-b": "b.wav", "s1-c": "c.wav"},
                   text={"s1-a": "hello world", "s1-b": "good morning", "s1-c": "too short"},
                   utt2spk={"s1-a": "s1", "s1-b": "s1", "s1-c": "s1"})
    # s1-c has no features (too short for a window), so no duration and no hypothesis.
    write_reference_stm(data, tmp_path / "dev.stm", {"s1-a": 2.0, "s1-b": 1.5})
    lines = (tmp_path / "dev.stm").read_text().splitlines()[1:]
    assert lines == ["s1-a A s1 0.00 2.00 <O> hello world", "s1-b A s1 0.00 1.50 <O> good morning",
                     "s1-c A s1 0.00 0.01 <O> too short"]
    hyps = {"s1-a": [("hello", 0.2, 0.4), ("world", 0.8, 0.5)], "s1-b": [("good", 0.1, 0.3), ("morning", 0.5, 0.6)]}
    write_ctm(tmp_path / "hyp.ctm", hyps, None, None)  # as decoding writes it for such a set
    report = score(tmp_path / "dev.stm", tmp_path / "hyp.ctm", out_dir=tmp_path / "score")
    assert (report.total.correct, report.total.deletions, report.total.errors) == (4, 2, 2)


def test_a_set_without_segments_scored_as_trn_pairs_utterances_by_id(tmp_path):
    from blspeech.data.kaldi_dir import DataDir
    from blspeech.results import write_reference_stm
    from blspeech.score import score, sctk_available, write_trn

    utts = {"s1-2": "hello there", "s1-10": "good morning"}  # unpadded: byte order is not number order
    data = DataDir(wav_scp={u: f"{u}.wav" for u in utts}, text=dict(utts), utt2spk={u: "s1" for u in utts})
    write_reference_stm(data, tmp_path / "dev.stm", {u: 2.0 for u in utts})
    write_trn(tmp_path / "hyp.trn", {u: text.split() for u, text in utts.items()}, data.utt2spk)
    for backend in ["builtin"] + (["sclite"] if sctk_available() else []):
        report = score(tmp_path / "dev.stm", tmp_path / "hyp.trn", out_dir=tmp_path / backend, backend=backend)
        assert (report.total.correct, report.total.errors) == (4, 0), backend


def test_reference_of_a_data_dir_is_its_stm_else_its_text_which_must_cover_every_utterance(tmp_path):
    from blspeech.data.kaldi_dir import DataDir
    from blspeech.results import reference_stm

    utts = {"s1-a": "hello there", "s1-b": "good morning"}
    DataDir(wav_scp={u: f"{u}.wav" for u in utts}, utt2spk={u: "s1" for u in utts}).write(tmp_path / "untranscribed")
    assert reference_stm(tmp_path / "untranscribed", tmp_path / "ref.stm", 10.0) is None
    DataDir(wav_scp={u: f"{u}.wav" for u in utts}, utt2spk={u: "s1" for u in utts},
            text={"s1-a": "hello there"}).write(tmp_path / "partial")
    with pytest.raises(ValueError, match=r"partial/text has no transcript for 1 of 2 utterances \(first: s1-b\)"):
        reference_stm(tmp_path / "partial", tmp_path / "ref.stm", 10.0)
    DataDir(wav_scp={u: f"{u}.wav" for u in utts}, utt2spk={u: "s1" for u in utts},
            text=dict(utts)).write(tmp_path / "dev")
    assert reference_stm(tmp_path / "dev", tmp_path / "ref.stm", 10.0) == tmp_path / "ref.stm"
    assert "s1-b A s1 0.00 0.01 <O> good morning" in (tmp_path / "ref.stm").read_text()
    (tmp_path / "dev" / "stm").write_text("s1-a A s1 0.00 1.00 hello there\n")
    assert reference_stm(tmp_path / "dev", tmp_path / "other.stm", 10.0) == tmp_path / "dev" / "stm"


def test_the_flops_column_counts_a_second_of_audio_at_the_recipes_frame_shift():
    from blspeech.config import FeatureConfig
    from blspeech.models import build_model
    from blspeech.results import gflops_per_second_of_audio

    model = build_model("bl-vgg-small", num_outputs=30)
    at_10_ms = gflops_per_second_of_audio(model, FeatureConfig(frame_shift_ms=10.0))
    assert gflops_per_second_of_audio(model, FeatureConfig(frame_shift_ms=20.0)) == pytest.approx(at_10_ms / 2, rel=0.05)
