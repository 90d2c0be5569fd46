"""Lexicon from cmudict and the lang dir, checked against a lang dir made by Kaldi's prepare_lang.sh."""

from pathlib import Path

import kaldi_hmm_gmm  # noqa: F401  (before kaldifst)
import kaldifst
import pytest

from blspeech.hybrid_system.fst_equivalence import difference
from blspeech.hybrid_system.fst_map import map_arcs
from blspeech.hybrid_system.lang import LangDir, disambiguate, position_dependent, prepare_lang, topology_text
from blspeech.hybrid_system.lexicon import (
    OOV_WORD,
    PhoneSets,
    build_lexicon,
    cmudict_pronunciations,
    phone_sets,
    read_lexicon,
    write_dict_dir,
)

KALDI = Path(__file__).resolve().parents[2] / "shared" / "kaldi-fixtures"
needs_kaldi = pytest.mark.skipif(not KALDI.is_dir(), reason="real-Kaldi fixtures not present")


def fixture_phone_sets(lexicon):
    """The dict dir the fixture was made from: SIL/SPN silence, other phones in order of first use."""
    order = []
    for prons in lexicon.values():
        for pron in prons:
            order += [p for p in pron if p not in order and p not in ("SIL", "SPN")]
    return PhoneSets(silence=("SIL", "SPN"), nonsilence=tuple(order), optional_silence="SIL")


@pytest.fixture(scope="module")
def kaldi_like_lang(tmp_path_factory):
    lexicon = read_lexicon(KALDI / "lang" / "lexicon.txt")
    return prepare_lang(lexicon, fixture_phone_sets(lexicon), "<UNK>", tmp_path_factory.mktemp("lang") / "lang")


@pytest.fixture(scope="module")
def cmu():
    return cmudict_pronunciations()


def test_cmudict_pronunciations_are_lowercase_without_stress(cmu):
    assert cmu["the"] == [("dh", "ah"), ("dh", "iy")]
    assert cmu["read"] == [("r", "eh", "d"), ("r", "iy", "d")]


def test_lexicon_counts_what_it_cannot_pronounce(cmu):
    counts = {"yes": 3, "[laughter]": 2, "ab-": 1, "-y": 1, "zzyzzyqx": 4}
    lexicon, report = build_lexicon(counts, cmu)
    assert lexicon["yes"] == [("y", "eh", "s")]
    assert lexicon["[laughter]"] == [("lau",)] and lexicon["[noise]"] == [("nsn",)]
    assert lexicon["[vocalized-noise]"] == [("spn",)] and lexicon[OOV_WORD] == [("spn",)]
    assert dict(report.partial_words) == {"ab-": 1, "-y": 1}
    assert dict(report.missing_words) == {"zzyzzyqx": 4}
    assert "ab-" not in lexicon and "zzyzzyqx" not in lexicon
    assert "2 of 5 words pronounced" in report.summary()


def test_hyphenated_compounds_are_pronounced_by_their_parts(cmu):
    lexicon, report = build_lexicon({"um-hum": 2, "huh-uh": 1, "zzyzz-uh": 1, "uh-": 1}, cmu)
    assert lexicon["um-hum"] == [(*cmu["um"][0], *cmu["hum"][0])]
    assert dict(report.compounds) == {"um-hum": 2, "huh-uh": 1}
    assert dict(report.missing_words) == {"zzyzz-uh": 1} and dict(report.partial_words) == {"uh-": 1}


def test_extra_lexicon_supplies_and_overrides_pronunciations(cmu):
    extra = {"ab-": [("ae", "b")], "yes": [("y", "ae", "s")]}
    lexicon, report = build_lexicon({"ab-": 1, "yes": 1}, cmu, extra)
    assert lexicon["ab-"] == [("ae", "b")] and lexicon["yes"] == [("y", "ae", "s")]
    assert not report.excluded


def test_phone_sets_put_non_speech_phones_with_silence(cmu):
    lexicon, _ = build_lexicon({"yes": 1, "[noise]": 1}, cmu)
    phones = phone_sets(lexicon)
    assert phones.silence == ("sil", "spn", "nsn", "lau") and phones.optional_silence == "sil"
    assert phones.nonsilence == ("eh", "s", "y")
    with pytest.raises(ValueError, match="both silence and nonsilence"):
        PhoneSets(silence=("sil",), nonsilence=("sil",), optional_silence="sil")


def test_dict_dir_round_trips(cmu, tmp_path):
    lexicon, _ = build_lexicon({"the": 1}, cmu)
    write_dict_dir(lexicon, phone_sets(lexicon), tmp_path)
    assert read_lexicon(tmp_path / "lexicon.txt") == lexicon
    assert (tmp_path / "optional_silence.txt").read_text() == "sil\n"


def test_position_dependent_marks():
    assert position_dependent(("a",)) == ("a_S",)
    assert position_dependent(("a", "b", "c", "d")) == ("a_B", "b_I", "c_I", "d_E")


def test_homophones_and_prefixes_get_disambiguation_symbols():
    entries = [("red", ("r", "eh", "d")), ("read", ("r", "eh", "d")), ("re", ("r", "eh")), ("redo", ("r", "eh", "d", "uw"))]
    marked, highest = disambiguate(entries)
    assert marked == [
        ("red", ("r", "eh", "d", "#1")),
        ("read", ("r", "eh", "d", "#2")),
        ("re", ("r", "eh", "#1")),
        ("redo", ("r", "eh", "d", "uw")),
    ]
    assert highest == 2


@needs_kaldi
def test_lang_files_equal_prepare_lang_sh(kaldi_like_lang):
    compared = 0
    for reference in sorted((KALDI / "lang").rglob("*")):
        relative = reference.relative_to(KALDI / "lang")
        if reference.is_dir() or reference.suffix == ".fst" or relative.name in ("lexicon.txt", "lm.arpa"):
            continue
        ours = kaldi_like_lang.path / relative
        assert ours.read_bytes() == reference.read_bytes(), relative
        compared += 1
    assert compared >= 15


@needs_kaldi
def test_topology_text_is_gen_topo(kaldi_like_lang):
    silence = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert topology_text(list(range(11, 79)), silence) == (KALDI / "lang" / "topo").read_text()


@needs_kaldi
def test_lexicon_fst_is_equivalent_to_kaldis(kaldi_like_lang):
    ours = kaldifst.StdVectorFst.read(str(kaldi_like_lang.path / "L.fst"))
    kaldi = kaldifst.StdVectorFst.read(str(KALDI / "lang" / "L.fst"))
    assert difference(ours, kaldi) is None


@needs_kaldi
def test_equivalence_check_sees_a_changed_weight_or_label():
    kaldi = kaldifst.StdVectorFst.read(str(KALDI / "lang" / "L.fst"))
    heavier = map_arcs(kaldi, lambda a: (a.ilabel, a.olabel, a.weight.value + (0.1 if a.olabel == 5 else 0.0)))
    assert "weights differ" in difference(heavier, kaldi)
    relabelled = map_arcs(kaldi, lambda a: (a.ilabel, 6 if a.olabel == 5 else a.olabel, a.weight.value))
    assert "accepted by only one" in difference(relabelled, kaldi)


@needs_kaldi
def test_l_disambig_loops_word_disambig_and_marks_optional_silence(kaldi_like_lang):
    lang = kaldi_like_lang
    fst = kaldifst.StdVectorFst.read(str(lang.path / "L_disambig.fst"))
    arcs = [(s, a.ilabel, a.olabel, a.nextstate) for s in kaldifst.StateIterator(fst) for a in kaldifst.ArcIterator(fst, s)]
    assert any(i == lang.phone_disambig and o == lang.word_disambig and s == n for s, i, o, n in arcs)
    assert lang.disambig_phones == (lang.phones["#0"], lang.phones["#1"])
    assert any(i == lang.phones["#1"] for _, i, _, _ in arcs)  # the optional silence's marker


@needs_kaldi
def test_word_ids_map_unknown_words_to_the_oov_word(kaldi_like_lang):
    lang = LangDir.read(kaldi_like_lang.path)
    assert lang.word_ids(["hello", "zebra", "world"]) == [lang.words["hello"], lang.words["<UNK>"], lang.words["world"]]


def test_prepare_lang_rejects_unknown_phones_and_missing_oov(tmp_path):
    phones = PhoneSets(silence=("sil",), nonsilence=("a",), optional_silence="sil")
    with pytest.raises(ValueError, match="OOV word"):
        prepare_lang({"x": [("a",)]}, phones, "<unk>", tmp_path)
    with pytest.raises(ValueError, match="outside the phone sets"):
        prepare_lang({"x": [("b",)], "<unk>": [("sil",)]}, phones, "<unk>", tmp_path)


def test_lexicon_words_and_phones_that_the_lang_dir_reserves_are_refused(tmp_path):
    phones = PhoneSets(silence=("sil",), nonsilence=("a",), optional_silence="sil")
    for word in ("<s>", "</s>", "#0", "<eps>"):  # words.txt would give the symbol two ids
        with pytest.raises(ValueError, match=f"reserved .*'{word}'"):
            prepare_lang({"x": [("a",)], word: [("a",)], "<unk>": [("sil",)]}, phones, "<unk>", tmp_path)
    with pytest.raises(ValueError, match="phone names reserved .*'#1'"):
        prepare_lang({"x": [("#1",)], "<unk>": [("sil",)]},
                     PhoneSets(silence=("sil",), nonsilence=("#1",), optional_silence="sil"), "<unk>", tmp_path)


def test_extra_questions_ask_about_word_positions_as_prepare_lang_sh_writes_them(tmp_path):
    phones = PhoneSets(silence=("sil", "spn"), nonsilence=("a", "b"), optional_silence="sil")
    lang = prepare_lang({"ab": [("a", "b")], "<unk>": [("spn",)]}, phones, "<unk>", tmp_path)
    text = (tmp_path / "phones" / "extra_questions.txt").read_text()
    assert text == ("a_B b_B\na_E b_E\na_I b_I\na_S b_S\n"
                    "sil spn\nsil_B spn_B\nsil_E spn_E\nsil_I spn_I\nsil_S spn_S\n")
    ints = [[int(i) for i in line.split()] for line in (tmp_path / "phones" / "extra_questions.int").read_text().splitlines()]
    assert ints == [[lang.phones[p] for p in line.split()] for line in text.splitlines()]
