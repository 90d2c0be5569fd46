"""ARPA language model: normalised probabilities, readable by KenLM (flashlight) and kaldilm."""

from __future__ import annotations

import re

import kaldilm
import pytest
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary

from blspeech.decode.lm import build_arpa, main

TEXTS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ran after the dog",
    "the dog ran away",
    "a dog and a cat",
    "",
    "yeah [laughter] the cat",
]
WORDS = sorted({word for text in TEXTS for word in text.split()})


def arpa_sections(path) -> tuple[dict[int, int], dict[int, list[str]]]:
    """Declared n-gram counts from ``\\data\\`` and the n-gram lines of each section."""
    declared, sections, order = {}, {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"ngram (\d+)=(\d+)", line):
            declared[int(match[1])] = int(match[2])
        elif match := re.fullmatch(r"\\(\d+)-grams:", line):
            order = int(match[1])
            sections[order] = []
        elif line.strip() and order is not None and not line.startswith("\\"):
            sections[order].append(line)
    return declared, sections


@pytest.mark.parametrize("order", [2, 3, 4])
def test_arpa_is_well_formed(tmp_path, order):
    path = build_arpa(TEXTS, tmp_path / "lm.arpa", order=order)
    declared, sections = arpa_sections(path)
    assert sorted(declared) == list(range(1, order + 1))
    assert {n: len(lines) for n, lines in sections.items()} == declared
    unigrams = {line.split("\t")[1] for line in sections[1]}
    assert unigrams == set(WORDS) | {"<s>", "</s>"}
    assert not any(line.split("\t")[1] == "<s> </s>" for line in sections[2])  # the empty line is left out


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("history", [[], ["the"], ["the", "cat"], ["cat", "the"], ["[laughter]"], ["mat", "yeah"]])
def test_conditional_probabilities_sum_to_one(tmp_path, order, history):
    """Sum over the vocabulary (plus </s>) of p(w | <s> history) from KenLM, an independent reader."""
    path = build_arpa(TEXTS, tmp_path / "lm.arpa", order=order)
    vocabulary = Dictionary(WORDS + ["<unk>"])
    lm = KenLM(str(path), vocabulary)
    state = lm.start(False)
    for word in history:
        state, _ = lm.score(state, vocabulary.get_index(word))
    total = sum(10 ** lm.score(state, vocabulary.get_index(word))[1] for word in WORDS)
    total += 10 ** lm.finish(state)[1]
    assert total == pytest.approx(1.0, abs=1e-4)


def test_likely_sequence_scores_higher(tmp_path):
    path = build_arpa(TEXTS, tmp_path / "lm.arpa", order=3)
    vocabulary = Dictionary(WORDS + ["<unk>"])
    lm = KenLM(str(path), vocabulary)

    def log10_prob(sentence: str) -> float:
        state, total = lm.start(False), 0.0
        for word in sentence.split():
            state, score = lm.score(state, vocabulary.get_index(word))
            total += score
        return total + lm.finish(state)[1]

    assert log10_prob("the cat sat on the mat") > log10_prob("mat the on sat cat the")


def test_kaldilm_arpa2fst_reads_it(tmp_path):
    path = build_arpa(TEXTS, tmp_path / "lm.arpa", order=3)
    fst_text = kaldilm.arpa2fst(str(path), "", disambig_symbol="#0", write_symbol_table=str(tmp_path / "words.txt"))
    assert len(fst_text.splitlines()) > len(WORDS)
    symbols = {line.split()[0] for line in (tmp_path / "words.txt").read_text(encoding="utf-8").splitlines()}
    assert set(WORDS) <= symbols


def test_same_text_gives_the_same_file(tmp_path):
    build_arpa(TEXTS, tmp_path / "a.arpa")
    build_arpa(iter(TEXTS), tmp_path / "b.arpa")
    assert (tmp_path / "a.arpa").read_bytes() == (tmp_path / "b.arpa").read_bytes()


def test_bad_arguments(tmp_path):
    for order in (1, 6, 2.5):
        with pytest.raises(ValueError, match="order"):
            build_arpa(TEXTS, tmp_path / "lm.arpa", order=order)
    with pytest.raises(ValueError, match="no non-empty"):
        build_arpa(["", "   "], tmp_path / "lm.arpa")
    assert not (tmp_path / "lm.arpa").exists()


def test_cli_reads_kaldi_text(tmp_path):
    text = tmp_path / "text"
    text.write_text("".join(f"utt{i} {t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    main([str(text), str(tmp_path / "lm.arpa"), "--order", "2"])
    declared, sections = arpa_sections(tmp_path / "lm.arpa")
    assert sorted(declared) == [1, 2]
    assert not any("utt" in line for line in sections[1])


def test_text_without_repeated_ngrams_still_gives_seen_ngrams_probability(tmp_path):
    """Every bigram seen once: KN's D would be 1 and give them probability 0; the cap keeps them likely."""
    from blspeech.decode.lm import build_arpa

    arpa = build_arpa(["we went to the shop", "they like green tea"], tmp_path / "lm.arpa", order=3)
    text = arpa.read_text()
    bigrams = text[text.index("\\2-grams:"):text.index("\\3-grams:")].splitlines()[1:]
    logprobs = [float(line.split()[0]) for line in bigrams if line.strip()]
    assert logprobs and all(lp > -5 for lp in logprobs), logprobs
