"""Switchboard transcript normalization, rule by rule (blspeech.data.text)."""

import pytest

from blspeech.data.text import NON_SPEECH_WORDS, RULES, is_partial_word, normalize_transcript, normalize_word


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_each_rule_does_what_its_example_says(rule):
    given, expected = rule.example
    assert rule.apply(given) == expected
    assert normalize_word(given) == expected


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_no_rule_touches_plain_words_or_kept_events(rule):
    for word in ("about", "uh-huh", "i'd", *NON_SPEECH_WORDS):
        assert rule.apply(word) == word


@pytest.mark.parametrize(
    "given, expected",
    [
        ("[SILENCE]", ""),  # case-insensitive, as Kaldi's modified patterns
        ("<E_ASIDE>", ""),
        ("[laughter-ab]-", "ab-"),  # a laughed partial word keeps its dash
        ("-[laughter-ing]", "-ing"),
        ("[laughter-abso[lutely]-]", "abso-"),  # a laughed partial word written inside the marker
        ("[lem[guini]-/linguini]", "lem-"),  # alternate whose first part is a partial word
        ("ab[solutely]", "ab-"),  # trailing dash optional on input
        ("[an]y", "-y"),  # leading dash optional on input
        ("them_1's", "them's"),
        ("((yeah))", "yeah"),  # doubled parentheses in the real Hub5 stm
        ("%HESITATION", ""),
        ("(%UH)", ""),
        ("YEAH", "yeah"),
    ],
)
def test_variants_seen_in_real_transcripts(given, expected):
    assert normalize_word(given) == expected


def test_transcript_drops_markers_and_keeps_events_in_order():
    text = "[silence] UH i [laughter-yes] ab[out]- about [noise] <b_aside> {yuppiedom} [yes/yeah] [vocalized-noise]"
    assert normalize_transcript(text) == "uh i yes ab- about [noise] yuppiedom yes [vocalized-noise]"


def test_only_silence_normalizes_to_nothing():
    assert normalize_transcript("[silence]") == ""
    assert normalize_transcript("  ") == ""


def test_partial_words():
    assert is_partial_word("ab-") and is_partial_word("-y")
    assert not is_partial_word("uh-huh") and not is_partial_word("-") and not is_partial_word("about")
