"""Unit tests of blspeech.score: file formats and their errors, GLM rules, the hub5 text filter,
the sclite alignment, writers, the API and the CLI. Counts against SCTK are in test_score_cases.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import jiwer
import kaldialign
import pytest

from blspeech.data.kaldi_dir import Segment
from blspeech.score import ScoreInputError, read_ctm, read_stm, read_trn, sclite_backend, score, write_ctm, write_trn
from blspeech.score.__main__ import main
from blspeech.score.align import Alternation, Word, align, make_word, parse_transcript, words_equal
from blspeech.score.glm import parse_glm
from blspeech.score.rules import TimedAlternation, expand_ctm_word, filter_text
from blspeech.score.trn import pair_with_segments

CASES = Path(__file__).parent / "score_cases"
LABELS = ';; LABEL "O" "Overall" "Overall"\n'


def counts(steps) -> tuple[int, int, int, int]:
    return tuple(sum(step.op == op for step in steps) for op in "CSDI")


def plain(text: str):
    return parse_transcript(text, optional_deletions=False, fragments=False)


# ---------------------------------------------------------------- file formats


def test_read_stm_parses_labels_and_skips_comments(tmp_path):
    path = tmp_path / "ref.stm"
    path.write_text(f"{LABELS};; comment\nsw_1 A sw_1_A 0.50 1.25 <O,sw> hello  world\n\nsw_1 B sw_1_B 0 1\n")
    first, second = read_stm(path)
    assert (first.file, first.channel, first.speaker, first.start, first.end, first.labels, first.text, first.line) == (
        "sw_1", "A", "sw_1_A", 0.5, 1.25, "<O,sw>", "hello world", 3)
    assert (second.labels, second.text) == (None, "")


@pytest.mark.parametrize(
    "line, message",
    [("sw_1 A sw_1_A 0.5", "needs 'file channel speaker start end"), ("sw_1 A sw_1_A zero 1.0 hi", "not numbers"),
     ("sw_1 A sw_1_A 2.0 1.0 hi", "ends"), ("sw_1 A sw_1_A 0 1 <O hi", "does not end with '>'")],
)
def test_malformed_stm_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.stm"
    path.write_text(f"{LABELS}{line}\n")
    with pytest.raises(ScoreInputError, match=message) as error:
        read_stm(path)
    assert f"{path}:2:" in str(error.value)


@pytest.mark.parametrize(
    "line, message",
    [("sw_1 A 0.1 0.2", "needs 'file channel start duration word"), ("sw_1 A x 0.2 hi", "start time is not a number"),
     ("sw_1 A 0.1 -0.2 hi", ">= 0"), ("sw_1 A 0.1 0.2 hi high", "confidence is not a number"), ("sw_1 A 0.1 0.2 hi 0.5 extra", "needs")],
)
def test_malformed_ctm_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.ctm"
    path.write_text(f";; comment\nsw_1 A 0.0 0.1 ok NA\n{line}\n")
    with pytest.raises(ScoreInputError, match=message) as error:
        read_ctm(path)
    assert f"{path}:3:" in str(error.value)


def test_malformed_trn_lines(tmp_path):
    path = tmp_path / "bad.trn"
    path.write_text("hello (spk-1)\nno id here\n")
    with pytest.raises(ScoreInputError, match=r"bad.trn:2: trn line must end with '\(utterance-id\)'"):
        read_trn(path)
    path.write_text("a (spk-1)\nb (spk-1)\n")
    with pytest.raises(ScoreInputError, match="already used on line 1"):
        read_trn(path)


def test_write_ctm_makes_times_absolute_and_sorts_like_hubscr(tmp_path):
    path = tmp_path / "hyp.ctm"
    words = {"u2": [("later", 0.1, 0.2)], "u1": [("b", 0.30, 0.10), ("a", 0.0, 0.25)], "u3": [("other", 0.0, 0.5)]}
    segments = {"u1": Segment("rec1", 1.0, 2.0), "u2": Segment("rec1", 3.0, 4.0), "u3": Segment("rec2", 0.5, 1.0)}
    r2fc = {"rec1": ("sw_1", "B"), "rec2": ("sw_1", "A")}
    assert write_ctm(path, words, segments, r2fc, confidence={"u1": [0.9, 0.8], "u2": [1.0], "u3": [0.5]}) == 4
    assert path.read_text().splitlines() == [
        "sw_1 A 0.50 0.50 other 0.500", "sw_1 B 1.00 0.25 a 0.800", "sw_1 B 1.30 0.10 b 0.900", "sw_1 B 3.10 0.20 later 1.000"]
    assert [w.word for w in read_ctm(path)] == ["other", "a", "b", "later"]


def test_write_ctm_rejects_inconsistent_input(tmp_path):
    with pytest.raises(ValueError, match="'u9' has no entry in segments"):
        write_ctm(tmp_path / "x.ctm", {"u9": [("a", 0, 1)]}, {}, None)
    with pytest.raises(ValueError, match="recording 'r' of utterance 'u'"):
        write_ctm(tmp_path / "x.ctm", {"u": [("a", 0, 1)]}, {"u": Segment("r", 0, 1)}, {})
    with pytest.raises(ValueError, match="2 words but 1 confidence"):
        write_ctm(tmp_path / "x.ctm", {"u": [("a", 0, 1), ("b", 1, 1)]}, None, None, confidence={"u": [0.5]})
    with pytest.raises(ValueError, match="whitespace"):
        write_ctm(tmp_path / "x.ctm", {"u": [("a b", 0, 1)]}, None, None)


def test_write_trn_round_trip_with_speaker_prefix(tmp_path):
    path = tmp_path / "hyp.trn"
    write_trn(path, {"sw_1_A-0002": ["yes", "(uh)"], "7": ["hi"], "sw_1_A-0001": []}, {"sw_1_A-0002": "sw_1_A", "7": "spk", "sw_1_A-0001": "sw_1_A"})
    assert path.read_text().splitlines() == ["hi (spk-7)", "(sw_1_A-0001)", "yes (uh) (sw_1_A-0002)"]
    assert [(u.utt_id, u.text) for u in read_trn(path)] == [("spk-7", "hi"), ("sw_1_A-0001", ""), ("sw_1_A-0002", "yes (uh)")]


def test_trn_pairing_by_speaker_prefix_and_order(tmp_path):
    utterances = read_trn_text(tmp_path, "b (sw_1_A-002)\na (sw_1_A-001)\nc (sw_1_AB-001)\n")
    pairs = pair_with_segments(utterances, {"sw_1_A": ["s1", "s2"], "sw_1_AB": ["s3"]}, "hyp.trn", str)
    assert [(segment, u.text) for segment, u in pairs] == [("s1", "a"), ("s2", "b"), ("s3", "c")]
    with pytest.raises(ScoreInputError, match="speaker 'sw_1_A' has 3 scored reference segments but 2 trn utterances"):
        pair_with_segments(utterances, {"sw_1_A": ["s1", "s2", "s4"], "sw_1_AB": ["s3"]}, "hyp.trn", str)
    with pytest.raises(ScoreInputError, match="hyp.trn:3: utterance id 'sw_1_AB-001' does not start with any reference speaker"):
        pair_with_segments(utterances, {"sw_1_A": ["s1", "s2"], "sw_1_X": []}, "hyp.trn", str)


def test_kaldi_eval2000_speaker_ids_pair_with_the_hub5_stm_speakers(tmp_path):
    utterances = read_trn_text(tmp_path, "b (en_4156-A_000857-001155)\na (en_4156-A_000306-000847)\n"
                                         "c (en_4156-B_000100-000200)\n")
    pairs = pair_with_segments(utterances, {"en_4156_A": ["s1", "s2"], "en_4156_B": ["s3"]}, "hyp.trn", str)
    assert [(segment, u.text) for segment, u in pairs] == [("s1", "a"), ("s2", "b"), ("s3", "c")]


def test_trn_ids_with_unpadded_numbers_pair_in_time_order(tmp_path):
    utterances = read_trn_text(tmp_path, "good morning (sw_1_A-10)\nhello there (sw_1_A-2)\n")
    pairs = pair_with_segments(utterances, {"sw_1_A": ["at 2 s", "at 10 s"]}, "hyp.trn", str)
    assert [(segment, u.text) for segment, u in pairs] == [("at 2 s", "hello there"), ("at 10 s", "good morning")]


def read_trn_text(tmp_path, text):
    path = tmp_path / "pairs.trn"
    path.write_text(text)
    return read_trn(path)


# ---------------------------------------------------------------- GLM and the hub5 text filter


def glm_from(text: str, input_type: str = "stm", purpose: str = "ref"):
    return parse_glm(text.splitlines(keepends=True), "test.glm", input_type, purpose)


def test_glm_rule_syntax():
    glm = glm_from(
        ';; header line: its first token is the comment marker\n* case_sensitive = "F"\n'
        "UH => %HESITATION / [ ] __ [ ] ;; a comment\n"
        "[ ALL RIGHT ] => [ ALRIGHT ]\n"
        '"NEW YORK" => NEWYORK\n'
        "[THAT'S] => [{THAT'S / THAT IS}] / [ ] __ [ ]\n"
        "POST => [POST OFFICE] / [THE ] __\n"
        "%BREATH => [] / [ ] __ [ ]\n"
    )
    rules = [(r.source, r.target, r.left, r.right) for r in glm.rules]
    assert rules == [
        ("UH", "%HESITATION", " ", " "), (" ALL RIGHT ", " ALRIGHT ", "", ""), ("NEW YORK", "NEWYORK", "", ""),
        ("THAT'S", "{THAT'S / THAT IS}", " ", " "), ("POST", "POST OFFICE", "THE ", ""), ("%BREATH", "", " ", " "),
    ]
    assert not glm.case_sensitive
    assert glm.apply(" uh uhm THE post post %breath ") == " %HESITATION uhm THE POST OFFICE post  "


def test_glm_sections_apply_by_input_type_and_purpose():
    text = ";; glm\nUM => %HESITATION\n;; INPUT_DEPENDENT_APPLICATION = \"ctm\"\n[I'M] => [{I'M / I AM}]\n"
    assert len(glm_from(text, "stm", "ref").rules) == 1
    assert len(glm_from(text, "ctm", "hyp").rules) == 2


@pytest.mark.parametrize(
    "text, message",
    [(";; glm\nUH %HESITATION\n", "test.glm:2: GLM rule has no '=>'"), (";; glm\n* name\n", "test.glm:2: GLM header line has no quoted value"),
     (";; glm\n  ;; indented comment\n", "test.glm:2: GLM line is blank"), (";; glm\n* max_nrules = '1'\nA => B\nC => D\n", "test.glm:4: more GLM rules"),
     (";; glm\n* format = 'NIST2'\nA => B\n", "format 'NIST2' is not supported")],
)
def test_malformed_glm_names_file_and_line(text, message):
    with pytest.raises(ScoreInputError, match=message):
        glm_from(text)


def test_filter_text_applies_csrfilt_steps():
    glm = glm_from(";; glm\n* case_sensitive = 'F'\nUH => %HESITATION / [ ] __ [ ]\nGONNA => GOING TO\n")
    assert filter_text(" Uh we're gonna (go there) well-known ab- -ing ", glm) == "%HESITATION WE'RE GOING TO (GO) (THERE) WELL KNOWN AB- -ING"
    assert filter_text("(uh)", glm) == "(%HESITATION)"
    with pytest.raises(ValueError, match="optional deletion"):
        filter_text(" ((nested)) ", glm)


def test_ctm_word_expansion_shares_the_duration():
    assert [(w.text, w.start, w.duration) for w in expand_ctm_word("GOING TO", 0.8, 0.4)] == [("GOING", 0.8, 0.2), ("TO", 1.0, 0.2)]
    assert expand_ctm_word("", 0.8, 0.4) == []
    (alternation,) = expand_ctm_word("{ I'M / I AM }", 1.0, 0.3)
    assert isinstance(alternation, TimedAlternation)
    assert [[(w.text, w.start, w.duration) for w in option] for option in alternation.alternatives] == [
        [("I'M", 1.0, 0.3)], [("I", 1.0, 0.15), ("AM", 1.15, 0.15)]]
    assert alternation.midpoint == pytest.approx(1.225)


# ---------------------------------------------------------------- alignment


def test_ties_prefer_substitutions_unlike_kaldialign():
    ref, hyp = "d a e".split(), "b c d".split()
    assert counts(align(plain("d a e"), plain("b c d"))) == (0, 3, 0, 0)  # what sclite reports
    assert kaldialign.edit_distance(ref, hyp, sclite_mode=True)["sub"] == 0  # 2 del + 2 ins: why align.py exists


def test_optional_words_fragments_and_nulls():
    assert counts(align(parse_transcript("(the) cat (uh)"), parse_transcript("cat"))) == (3, 0, 0, 0)
    assert counts(align(parse_transcript("ab- about -ing"), parse_transcript("absolutely about going"))) == (3, 0, 0, 0)
    assert counts(align(parse_transcript("going"), parse_transcript("go-"))) == (1, 0, 0, 0)
    assert counts(align(parse_transcript("going"), parse_transcript("go-", fragments=False))) == (0, 1, 0, 0)
    assert counts(align(parse_transcript("{ uh / @ } yes"), parse_transcript("yes"))) == (1, 0, 0, 0)
    assert counts(align(parse_transcript("cat"), parse_transcript("(uh) cat"))) == (2, 0, 0, 0)


def test_alternations_in_the_hypothesis():
    hyp = [Alternation(((make_word("i'm"),), (make_word("i"), make_word("am")))), make_word("here")]
    steps = align(parse_transcript("i am here"), hyp)
    assert [(s.op, s.ref, s.hyp) for s in steps] == [("C", "i", "i"), ("C", "am", "am"), ("C", "here", "here")]


def test_word_parsing_follows_sclite():
    assert make_word("HeLLo*") == Word("hello")
    assert make_word("(ab-)") == Word("(ab-)", optional=True, fragment=True)
    assert make_word("a\\;b;tag") == Word("a;b")
    assert words_equal(make_word("-ing"), make_word("going")) and not words_equal(make_word("-ing"), make_word("ng"))
    with pytest.raises(ValueError, match="unbalanced"):
        parse_transcript("{ a / b")


REALISTIC_PAIRS = [
    ("i think that we should go to the store today", "i think we should go to a store to day"),
    ("so how long have you lived in dallas", "so how long have you been living in dallas"),
    ("the weather here is usually pretty nice", "weather is usually very nice here"),
    ("we have two kids and a dog", "we have to kids and the dogs"),
    ("it depends on the situation really", "it depends on situation"),
    ("one two three four five", "five four three two one"),
    ("yeah i know what you mean", "yeah i know what you mean"),
]


@pytest.mark.parametrize("ref, hyp", REALISTIC_PAIRS)
def test_plain_text_agrees_with_jiwer(ref, hyp):
    expected = jiwer.process_words(ref, hyp)
    assert counts(align(plain(ref), plain(hyp))) == (expected.hits, expected.substitutions, expected.deletions, expected.insertions)


def test_never_fewer_errors_than_levenshtein():
    rng = random.Random(0)
    for _ in range(300):
        ref = " ".join(rng.choice("abcdef") for _ in range(rng.randint(1, 8)))
        hyp = " ".join(rng.choice("abcdef") for _ in range(rng.randint(1, 8)))
        c, s, d, i = counts(align(plain(ref), plain(hyp)))
        out = jiwer.process_words(ref, hyp)
        assert c + s + d == len(ref.split()) and c + s + i == len(hyp.split())
        assert s + d + i >= out.substitutions + out.deletions + out.insertions


# ---------------------------------------------------------------- scoring API, reports, CLI


def write_case(tmp_path, stm: str, ctm: str) -> tuple[Path, Path]:
    ref, hyp = tmp_path / "ref.stm", tmp_path / "hyp.ctm"
    ref.write_text(LABELS + stm)
    hyp.write_text(ctm)
    return ref, hyp


def test_score_writes_reports(tmp_path):
    ref, hyp = write_case(tmp_path, "sw_1 A sw_1_A 0 2 <O> hello world\nen_2 B en_2_B 0 2 <O> bye now\n",
                          "sw_1 A 0.1 0.3 hello\nsw_1 A 0.5 0.3 word\nen_2 B 0.1 0.3 bye\n")
    report = score(ref, hyp, out_dir=tmp_path / "out", backend="builtin")
    assert report.summary().startswith("%WER 50.00 [ 2 / 4, 0 ins, 1 del, 1 sub ] SWB 50.00 CallHome 50.00")
    summary = json.loads(report.to_json())
    assert summary["total"]["errors"] == 2 and set(summary["subsets"]) == {"Overall", "SWB", "CallHome"}
    assert summary["speakers"]["sw_1_a"]["substitutions"] == 1
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["hyp.ctm.dtl", "hyp.ctm.json", "hyp.ctm.pra", "hyp.ctm.raw", "hyp.ctm.sys"]
    pra = (tmp_path / "out" / "hyp.ctm.pra").read_text()
    assert "REF:  hello WORLD\nHYP:  hello WORD \nEval:       S    " in pra
    assert "WORLD ==> WORD" not in (tmp_path / "out" / "hyp.ctm.dtl").read_text()
    assert "world ==> word" in (tmp_path / "out" / "hyp.ctm.dtl").read_text()
    assert "| SWB      |    1     1       2 |  50.0   50.0    0.0    0.0   50.0  100.0 |" in (tmp_path / "out" / "hyp.ctm.sys").read_text()


@pytest.mark.parametrize(
    "stm, ctm, message",
    [("sw_1 A sw_1_A 0 2 <X> hi\n", "sw_1 A 0.1 0.3 hi\n", "ref.stm:2: label 'X' is not defined"),
     ("sw_1 A sw_1_A 0 2 <O,O> hi\n", "", "ref.stm:2: label 'O' is at position 2 of <O,O> but at 1"),
     ("sw_1 A sw_1_A 0 2 <O> hi\n", "sw_1 B 0.1 0.3 hi\n", "hyp.ctm:1: words for file 'sw_1' channel 'b', which the reference"),
     ("sw_1 A sw_1_A 0 2 <O> IGNORE_TIME_SEGMENT_IN_SCORING\n", "", "no segment to score"),
     ("sw_1 A sw_1_A 0 2 <O> hi (there\n", "", "ref.stm:2: illegally formatted optional deletion"),
     ("sw_1 A sw_1_A 0 2 <O> hi\n", "sw_1 A 0.1 0.3 hi)\n", "hyp.ctm:1: illegally formatted optional deletion")],
)
def test_score_input_errors(tmp_path, stm, ctm, message):
    ref, hyp = write_case(tmp_path, stm, ctm)
    with pytest.raises(ScoreInputError, match=message):
        score(ref, hyp, backend="builtin")


def test_score_argument_checks(tmp_path):
    ref, hyp = write_case(tmp_path, "sw_1 A sw_1_A 0 2 <O> hi\n", "sw_1 A 0.1 0.3 hi\n")
    with pytest.raises(ValueError, match="backend must be one of"):
        score(ref, hyp, backend="nist")
    with pytest.raises(ValueError, match="hyp_format must be one of"):
        score(ref, hyp, hyp_format="txt")


def test_auto_backend_without_sctk_is_builtin(tmp_path, monkeypatch):
    ref, hyp = write_case(tmp_path, "sw_1 A sw_1_A 0 2 <O> hi\n", "sw_1 A 0.1 0.3 hi\n")
    monkeypatch.setattr(sclite_backend, "find_sctk", lambda: None)
    assert score(ref, hyp).backend == "builtin"
    with pytest.raises(RuntimeError, match="SCTK .* was not found"):
        score(ref, hyp, backend="sclite")


def test_cli_scores_and_reports_errors(tmp_path, capsys):
    ref, hyp = write_case(tmp_path, "sw_1 A sw_1_A 0 2 <O> hi there\n", "sw_1 A 0.1 0.3 hi\n")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--backend", "builtin", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["total"]["deletions"] == 1 and out.err.startswith("%WER 50.00")
    hyp.write_text("sw_1 A 0.1 hi\n")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--backend", "builtin"]) == 1
    assert "hyp.ctm:1: ctm line needs" in capsys.readouterr().err


def test_module_help_and_no_torch():
    done = subprocess.run([sys.executable, "-m", "blspeech.score", "--help"], capture_output=True, text=True, check=True)
    assert "--glm" in done.stdout and "--backend" in done.stdout
    check = "import sys, blspeech.score; assert 'torch' not in sys.modules, 'blspeech.score imported torch'"
    subprocess.run([sys.executable, "-c", check], check=True)
