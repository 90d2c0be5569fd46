"""Tokenizer: sentencepiece units with the CTC blank at id 0 and special words kept whole."""

from __future__ import annotations

import logging

import pytest

from blspeech.skips import SkipLog
from blspeech.tokenizer import BLANK, KINDS, Tokenizer, encode_transcripts, find_special_words, main, train_tokenizer

TEXTS = [
    "yeah [laughter] i think so",
    "uh-huh [noise] that's right",
    "well [vocalized-noise] you know what i mean",
    "i don't know <unk> about that",
    "we went to the lake last summer",
    "that's what i think too",
] * 5


@pytest.fixture(scope="module", params=KINDS)
def trained(request, tmp_path_factory):
    prefix = tmp_path_factory.mktemp(request.param) / "tokenizer"
    return prefix, train_tokenizer(TEXTS, prefix, kind=request.param, vocab_size=40)


def test_round_trip_and_id_range(trained):
    _, tok = trained
    assert tok.tokens[0] == BLANK and tok.vocab_size == len(tok.tokens)
    for text in set(TEXTS):
        ids = tok.encode(text)
        assert ids and all(1 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text


@pytest.mark.parametrize("word", ["[laughter]", "[noise]", "[vocalized-noise]", "<unk>"])
def test_special_words_are_single_units(trained, word):
    _, tok = trained
    for text in (word, f"i think {word} so", f"{word} yeah"):
        pieces = [tok.tokens[i] for i in tok.encode(text)]
        assert "\u2581" + word in pieces, pieces
        assert not any(word[1:-1] in piece and piece != "\u2581" + word for piece in pieces)


def test_saved_model_and_vocab_reload(trained):
    prefix, tok = trained
    reloaded = Tokenizer.load(f"{prefix}.model")
    assert reloaded.tokens == tok.tokens
    vocab_lines = (prefix.parent / "tokenizer.vocab").read_text(encoding="utf-8").splitlines()
    assert vocab_lines == [f"{token} {i}" for i, token in enumerate(tok.tokens)]


def test_char_units_are_characters(tmp_path):
    tok = train_tokenizer(TEXTS, tmp_path / "char", kind="char", vocab_size=3)
    specials = {"\u2581" + w for w in find_special_words(TEXTS)}
    plain = [t for t in tok.tokens[2:] if t not in specials]  # after <blank>, <unk>
    assert all(len(t) == 1 for t in plain), plain
    letters = {c for text in TEXTS for word in text.split() if word not in {s[1:] for s in specials} for c in word}
    assert letters <= set(plain)
    assert len(tok.encode("lake")) == 5  # ▁ l a k e


def test_training_is_deterministic(tmp_path):
    train_tokenizer(TEXTS, tmp_path / "a", kind="unigram", vocab_size=40)
    train_tokenizer(TEXTS, tmp_path / "b", kind="unigram", vocab_size=40)
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()


def test_unknown_characters_map_to_unk_and_are_skipped_in_targets(trained):
    _, tok = trained
    assert tok.unknown_characters("i think so") == []
    assert tok.unknown_characters("i think \u00e9 so") == ["\u00e9"]
    assert tok.unk_id in tok.encode("i think \u00e9 so")
    skips = SkipLog("targets", logger=logging.getLogger("test"))
    targets = encode_transcripts({"u1": "i think so", "u2": "zz\u00e9", "u3": "  "}, tok, skips)
    assert list(targets) == ["u1"] and targets["u1"] == tok.encode("i think so")
    assert skips.done == 1 and skips.skipped == 2


def test_split_words_positions_skip_bare_boundary(tmp_path):
    tok = train_tokenizer(TEXTS, tmp_path / "char", kind="char")
    ids = tok.encode("i think [laughter]")
    words = tok.split_words(ids)
    assert [w for w, _ in words] == ["i", "think", "[laughter]"]
    first_letters = [tok.tokens[ids[positions[0]]] for _, positions in words]
    assert first_letters == ["i", "t", "\u2581[laughter]"]


def test_spell_and_unit_ids(trained):
    _, tok = trained
    spelling = tok.spell("summer")
    assert tok.decode(tok.unit_ids(spelling)) == "summer"
    with pytest.raises(ValueError, match="outside the unit set"):
        tok.spell("caf\u00e9")
    with pytest.raises(ValueError, match="single word"):
        tok.spell("two words")
    with pytest.raises(ValueError, match="not in the tokenizer"):
        tok.unit_ids(["no-such-unit"])


def test_find_special_words():
    assert find_special_words(["a [noise] b", "<unk> [laughter]", "th[e]- [noise]"]) == ["<unk>", "[laughter]", "[noise]"]


def test_bad_arguments(tmp_path, trained):
    _, tok = trained
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(TEXTS, tmp_path / "x", kind="word", vocab_size=40)
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(TEXTS, tmp_path / "x", kind="bpe")
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(TEXTS, tmp_path / "x", kind="unigram", vocab_size=5)  # fewer than the characters
    with pytest.raises(ValueError, match="no non-empty"):
        train_tokenizer(["", "  "], tmp_path / "x", kind="char")
    with pytest.raises(ValueError, match="unit id 0"):
        tok.decode([tok.encode("yeah")[0], 0])
    with pytest.raises(FileNotFoundError):
        Tokenizer.load(tmp_path / "missing.model")
    (tmp_path / "bad.model").write_text("not a model")
    with pytest.raises(ValueError, match="not a sentencepiece model"):
        Tokenizer.load(tmp_path / "bad.model")


def test_cli_trains_from_kaldi_text(tmp_path):
    text = tmp_path / "text"
    text.write_text("".join(f"utt{i:03d} {t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    main([str(text), str(tmp_path / "exp" / "tokenizer"), "--kind", "bpe", "--vocab-size", "40"])
    tok = Tokenizer.load(tmp_path / "exp" / "tokenizer.model")
    assert tok.decode(tok.encode(TEXTS[0])) == TEXTS[0]
    assert "utt000" not in " ".join(tok.tokens)
