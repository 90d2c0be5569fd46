"""CTC decoding on hand-made emission matrices: greedy, lexicon beam search with a real ARPA LM, LM tuning."""

from __future__ import annotations

import logging
import math

import kaldialign
import pytest
import torch

from blspeech.decode.alignment import collapse_ctc_path, word_times
from blspeech.decode.ctc import BeamSearchDecoder, beam_search, greedy_decode
from blspeech.decode.lexicon import build_lexicon, read_lexicon, write_lexicon
from blspeech.decode.lm import build_arpa
from blspeech.decode.tuning import GridPoint, tune_lm_params
from blspeech.skips import SkipLog
from blspeech.tokenizer import BLANK, KINDS, Tokenizer, train_tokenizer

TEXTS = ["the cat sat"] * 8 + ["a bat sat too"] * 2 + ["the mat [laughter]"] * 2
PERIOD = 0.04  # 10 ms frames x subsampling 4


def emissions(tok: Tokenizer, frames: list) -> torch.Tensor:
    """``(1, T, V)`` log-probs; a frame is a unit name (p=0.9) or ``{name: p}``; the rest is spread evenly."""
    rows = []
    for frame in frames:
        probs = {frame: 0.9} if isinstance(frame, str) else frame
        rest = (1.0 - sum(probs.values())) / (tok.vocab_size - len(probs))
        row = torch.full((tok.vocab_size,), rest)
        for name, p in probs.items():
            row[tok.tokens.index(name)] = p
        rows.append(row.log())
    return torch.stack(rows).unsqueeze(0)


def flat(times: list[tuple[float, float]]) -> list[float]:
    return [value for pair in times for value in pair]


def clean_path(tok: Tokenizer, text: str) -> list[str]:
    """Each unit of ``text`` as a one-frame spike between blanks, as a peaky CTC model emits it."""
    frames = [BLANK]
    for unit in tok.encode(text):
        frames += [tok.tokens[unit], BLANK]
    return frames


@pytest.fixture(scope="module")
def char_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    tok = train_tokenizer(TEXTS, root / "tokenizer", kind="char")
    write_lexicon(build_lexicon(TEXTS, tok, SkipLog("lexicon")), root / "lexicon.txt")
    build_arpa(TEXTS, root / "lm.arpa", order=3)
    return tok, root


def test_greedy_merges_repeats_drops_blanks_and_times_words(char_setup):
    tok, _ = char_setup
    path = [BLANK, "\u2581", "t", "t", BLANK, "h", "e", BLANK, "\u2581", "c", "a", "t", BLANK,
            "\u2581", "t", "o", BLANK, "o", "o", BLANK]
    (hyp,) = greedy_decode(emissions(tok, path), [len(path)], tok, subsampling=4)
    assert hyp.words == ["the", "cat", "too"]
    assert hyp.token_frames == [1, 2, 5, 6, 8, 9, 10, 11, 13, 14, 15, 17]
    expected = [(2 * PERIOD, 5 * PERIOD), (9 * PERIOD, 3 * PERIOD), (14 * PERIOD, 4 * PERIOD)]
    assert flat(hyp.word_times) == pytest.approx(flat(expected))
    assert hyp.score == pytest.approx(len(path) * math.log(0.9), rel=1e-5)


def test_greedy_respects_lengths_in_a_padded_batch(char_setup):
    tok, _ = char_setup
    long_path, short_path = clean_path(tok, "the cat sat"), clean_path(tok, "a bat")
    garbage = ["t"] * (len(long_path) - len(short_path))
    batch = torch.cat([emissions(tok, long_path), emissions(tok, short_path + garbage)])
    hyps = greedy_decode(batch, torch.tensor([len(long_path), len(short_path)]), tok, subsampling=1)
    assert [h.text for h in hyps] == ["the cat sat", "a bat"]
    (empty,) = greedy_decode(batch[:1], [0], tok, subsampling=1)
    assert empty.words == [] and empty.word_times == []


@pytest.mark.parametrize("kind", KINDS)
def test_beam_search_matches_greedy_on_a_clean_emission(kind, tmp_path):
    tok = train_tokenizer(TEXTS, tmp_path / "tok", kind=kind, vocab_size=20)
    write_lexicon(build_lexicon(TEXTS, tok, SkipLog("lexicon")), tmp_path / "lexicon.txt")
    build_arpa(TEXTS, tmp_path / "lm.arpa")
    path = clean_path(tok, "the mat [laughter]")
    log_probs = emissions(tok, path)
    (greedy,) = greedy_decode(log_probs, [len(path)], tok, subsampling=4)
    (beam,) = beam_search(log_probs, [len(path)], tok, tmp_path / "lexicon.txt", tmp_path / "lm.arpa",
                          lm_weight=1.0, word_score=0.0, subsampling=4)
    assert beam.words == greedy.words == ["the", "mat", "[laughter]"]
    assert beam.tokens == greedy.tokens
    assert beam.token_frames == greedy.token_frames
    assert flat(beam.word_times) == pytest.approx(flat(greedy.word_times))


def test_beam_search_with_units_held_for_several_frames(char_setup):
    """flashlight ends a word on one frame of its last unit and scores its other frames as blank.

    Here, as in a trained model, blank is the runner-up on a held unit's second frame.
    """
    tok, root = char_setup
    path = [BLANK]
    for unit in tok.encode("the mat"):
        path += [tok.tokens[unit], {tok.tokens[unit]: 0.6, BLANK: 0.3}, BLANK]
    log_probs = emissions(tok, path)
    (greedy,) = greedy_decode(log_probs, [len(path)], tok, subsampling=1)
    (beam,) = beam_search(log_probs, [len(path)], tok, root / "lexicon.txt", root / "lm.arpa",
                          lm_weight=1.0, word_score=0.0, subsampling=1)
    assert beam.words == greedy.words == ["the", "mat"]
    assert [start for start, _ in beam.word_times] == pytest.approx([start for start, _ in greedy.word_times])


def ambiguous_the_cat_sat(tok: Tokenizer) -> torch.Tensor:
    """"the ?at sat" where the acoustics slightly prefer b over c."""
    path = clean_path(tok, "the cat sat")
    path[path.index("c")] = {"b": 0.5, "c": 0.4}
    return emissions(tok, path)


def test_lm_prefers_the_likely_word_sequence(char_setup):
    tok, root = char_setup
    log_probs = ambiguous_the_cat_sat(tok)
    lengths = [log_probs.shape[1]]
    (greedy,) = greedy_decode(log_probs, lengths, tok, subsampling=4)
    no_lm = BeamSearchDecoder(tok, root / "lexicon.txt")
    with_lm = BeamSearchDecoder(tok, root / "lexicon.txt", root / "lm.arpa")
    assert greedy.text == "the bat sat"
    assert no_lm(log_probs, lengths, lm_weight=0.0, word_score=0.0, subsampling=4)[0].text == "the bat sat"
    assert with_lm(log_probs, lengths, lm_weight=0.0, word_score=0.0, subsampling=4)[0].text == "the bat sat"
    assert with_lm(log_probs, lengths, lm_weight=1.0, word_score=0.0, subsampling=4)[0].text == "the cat sat"


def test_beam_search_only_outputs_lexicon_words(char_setup):
    tok, root = char_setup
    path = clean_path(tok, "the cab")  # "cab" is not a word of the lexicon
    (hyp,) = beam_search(emissions(tok, path), [len(path)], tok, root / "lexicon.txt", root / "lm.arpa",
                         lm_weight=1.0, word_score=0.0, subsampling=4)
    lexicon = read_lexicon(root / "lexicon.txt", tok)
    assert hyp.words[0] == "the" and all(word in lexicon for word in hyp.words)


def test_beam_search_empty_utterance_and_bad_input(char_setup):
    tok, root = char_setup
    decoder = BeamSearchDecoder(tok, root / "lexicon.txt", root / "lm.arpa", beam_size=8)
    log_probs = emissions(tok, clean_path(tok, "the cat"))
    (empty,) = decoder(log_probs, [0], lm_weight=1.0, word_score=0.0, subsampling=4)
    assert empty.words == [] and empty.tokens == []
    with pytest.raises(ValueError, match="units"):
        decoder(log_probs[..., :-1], [3], lm_weight=1.0, word_score=0.0, subsampling=4)
    with pytest.raises(ValueError, match="lengths"):
        decoder(log_probs, [log_probs.shape[1] + 1], lm_weight=1.0, word_score=0.0, subsampling=4)
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        greedy_decode(log_probs[0], [3], tok, subsampling=4)
    with pytest.raises(ValueError, match="batch"):
        greedy_decode(log_probs, [3, 3], tok, subsampling=4)
    with pytest.raises(ValueError, match="subsampling"):
        greedy_decode(log_probs, [3], tok, subsampling=0)
    with pytest.raises(ValueError, match="beam_size"):
        BeamSearchDecoder(tok, root / "lexicon.txt", beam_size=0)
    with pytest.raises(FileNotFoundError):
        BeamSearchDecoder(tok, root / "lexicon.txt", root / "missing.arpa")


def test_lexicon_spellings_and_counted_skips(char_setup, tmp_path):
    tok, root = char_setup
    skips = SkipLog("lexicon", logger=logging.getLogger("test"))
    lexicon = build_lexicon(["the cat", "caf\u00e9 the", "caf\u00e9"], tok, skips)
    assert lexicon == {"the": ["\u2581", "t", "h", "e"], "cat": ["\u2581", "c", "a", "t"]}
    assert (skips.done, skips.skipped) == (2, 1)
    write_lexicon(lexicon, tmp_path / "lexicon.txt")
    assert (tmp_path / "lexicon.txt").read_text(encoding="utf-8") == "cat \u2581 c a t\nthe \u2581 t h e\n"
    assert read_lexicon(tmp_path / "lexicon.txt", tok) == lexicon
    assert read_lexicon(root / "lexicon.txt", tok)["[laughter]"] == ["\u2581[laughter]"]


@pytest.mark.parametrize(
    "line, message",
    [("cat \u2581 c a q\n", "not in the tokenizer"), ("cat \u2581 c a\n", "spell"),
     ("cat\n", "no spelling"), ("cat \u2581 c a t\ncat \u2581 c a t\n", "duplicate"), ("cat <blank>\n", "unit id 0")],
)
def test_read_lexicon_errors_name_the_line(char_setup, tmp_path, line, message):
    tok, _ = char_setup
    (tmp_path / "lexicon.txt").write_text(line, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_lexicon(tmp_path / "lexicon.txt", tok)


def test_collapse_and_word_times():
    assert collapse_ctc_path([0, 5, 5, 0, 5, 7, 7, 0]) == ([5, 5, 7], [1, 4, 5])
    assert collapse_ctc_path(torch.tensor([3, 0, 0])) == ([3], [0])
    times = word_times([[0], [1, 2]], [2, 10, 12], subsampling=3, frame_shift_s=0.01)
    assert flat(times) == pytest.approx([0.06, 0.03, 0.30, 0.09])
    with pytest.raises(ValueError, match="no units"):
        word_times([[]], [1], subsampling=1)
    with pytest.raises(ValueError, match="backwards"):
        word_times([[0, 1]], [5, 3], subsampling=1)
    with pytest.raises(ValueError, match="frame_shift_s"):
        word_times([[0]], [1], subsampling=1, frame_shift_s=0)


@pytest.fixture(scope="module")
def score_dev(tmp_path_factory):
    """WER (%) of "the cat sat" decoded from acoustics that slightly prefer "bat"."""
    root = tmp_path_factory.mktemp("tuning")
    tok = train_tokenizer(TEXTS, root / "tokenizer", kind="char")
    write_lexicon(build_lexicon(TEXTS, tok, SkipLog("lexicon")), root / "lexicon.txt")
    decoder = BeamSearchDecoder(tok, root / "lexicon.txt", build_arpa(TEXTS, root / "lm.arpa"))
    log_probs = ambiguous_the_cat_sat(tok)
    reference = "the cat sat".split()

    def score(lm_weight: float, word_score: float) -> float:
        (hyp,) = decoder(log_probs, [log_probs.shape[1]], lm_weight=lm_weight, word_score=word_score, subsampling=4)
        return 100.0 * kaldialign.edit_distance(reference, hyp.words)["err_rate"]

    return score


def test_grid_search_finds_an_lm_weight_that_fixes_the_error(score_dev, tmp_path):
    result = tune_lm_params(score_dev, lm_weights=[0.0, 0.5, 2.0], word_scores=[0.0, -1.0])
    assert [(p.lm_weight, p.word_score) for p in result.table] == [
        (0.0, 0.0), (0.0, -1.0), (0.5, 0.0), (0.5, -1.0), (2.0, 0.0), (2.0, -1.0)]
    assert result.table[0].wer == pytest.approx(100 / 3)
    assert result.best.wer == 0.0 and result.best.lm_weight > 0
    assert result.best == min(result.table, key=lambda p: p.wer)  # the first of any ties
    result.write(tmp_path / "tuning.txt")
    lines = (tmp_path / "tuning.txt").read_text().splitlines()
    assert lines[0] == "lm_weight word_score wer" and len(lines) == 7
    assert sum(line.endswith("<- best") for line in lines) == 1


def test_bad_grids_and_scores():
    with pytest.raises(ValueError, match="empty grid"):
        tune_lm_params(lambda w, s: 1.0, lm_weights=[], word_scores=[0.0])
    with pytest.raises(ValueError, match="lm_weight=1"):
        tune_lm_params(lambda w, s: float("nan"), lm_weights=[1.0], word_scores=[0.0])
    result = tune_lm_params(lambda w, s: 5.0, lm_weights=[1.0, 2.0], word_scores=[0.0])
    assert result.best == GridPoint(1.0, 0.0, 5.0)


def test_a_decode_is_redone_when_its_model_is_newer(tmp_path, caplog):
    import os

    from blspeech.decode.recognize import decoded_already

    caplog.set_level(logging.INFO, logger="blspeech")
    done, model = tmp_path / "decode.json", tmp_path / "final.pt"
    model.write_bytes(b"model")
    assert not decoded_already(done, model)  # never decoded
    done.write_text("{}")
    os.utime(model, ns=(1_000_000_000, 1_000_000_000))
    os.utime(done, ns=(2_000_000_000, 2_000_000_000))
    assert decoded_already(done, model) and "exists, skipping" in caplog.text
    os.utime(model, ns=(3_000_000_000, 3_000_000_000))  # trained again after that decode
    assert not decoded_already(done, model) and "decoding again" in caplog.text


def test_hypotheses_of_a_data_dir_without_segments_get_a_ctm(tmp_path):
    from blspeech.data.kaldi_dir import DataDir
    from blspeech.decode.recognize import write_hypotheses

    data = DataDir(wav_scp={"spk1-utt1": "a.wav"}, text={"spk1-utt1": "hello world"}, utt2spk={"spk1-utt1": "spk1"})
    write_hypotheses(tmp_path, {"spk1-utt1": [("hello", 0.5, 0.25), ("world", 1.0, 0.5)]}, data)
    # Scoring against an stm reads hyp.ctm: each utterance is its own recording, from 0.
    assert (tmp_path / "hyp.ctm").read_text().split("\n")[:2] == ["spk1-utt1 A 0.50 0.25 hello", "spk1-utt1 A 1.00 0.50 world"]


def test_dev_wer_of_a_hypothesis_without_reference_names_it():
    from blspeech.decode.recognize import text_wer

    assert text_wer({"u1": "a b x"}, {"u1": "a b c", "u2": "d"}) == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="1 decoded utterances have no reference text, e.g. u2"):
        text_wer({"u1": "a b", "u2": "c"}, {"u1": "a b"})


def test_a_best_point_on_the_edge_of_the_grid_is_warned_about(caplog):
    caplog.set_level(logging.INFO, logger="blspeech")
    tune_lm_params(lambda w, s: abs(w - 1.0) + abs(s - 0.5), lm_weights=[0.5, 1.0, 1.5], word_scores=[0.0, 0.5, 1.0])
    assert "on the edge of the grid" not in caplog.text  # an inside optimum
    tune_lm_params(lambda w, s: w - s, lm_weights=[0.5, 1.0, 1.5], word_scores=[0.0, 0.5, 1.0])
    assert "the best point is on the edge of the grid (lm_weight 0.5, word_score 1)" in caplog.text
