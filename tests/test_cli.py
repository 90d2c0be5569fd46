"""Entry points report bad input as one line on stderr with exit status 1, not a traceback."""

from __future__ import annotations

import importlib

import pytest

from blspeech.cli import report_errors


@pytest.mark.parametrize("module, arguments, message", [
    ("blspeech.features.compute", ["{tmp}/none"], "{tmp}/none: not a Kaldi data dir (no utt2spk)"),
    ("blspeech.tokenizer", ["{tmp}/text", "{tmp}/tok"], "no non-empty training text"),
    ("blspeech.corpus.synth", ["--out", "{tmp}/corpus", "--hours", "0"], "hours must be positive, got 0.0"),
    ("blspeech.data.prep", ["--swb1", "{tmp}/none", "--transcripts", "{tmp}", "--out", "{tmp}/data"],
     "{tmp}/none: audio directory not found"),
    ("blspeech.hybrid_system.__main__", ["{tmp}/none", "{tmp}/gmm"], "{tmp}/none: not a Kaldi data dir"),
    ("blspeech.results", ["{tmp}"], "{tmp}/results.json: no results"),
])
def test_bad_input_is_one_line_naming_it(tmp_path, capsys, module, arguments, message):
    (tmp_path / "text").write_text("utt1\n")  # a Kaldi text file whose one transcript is empty
    main = importlib.import_module(module).main
    assert main([argument.format(tmp=tmp_path) for argument in arguments]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"python -m {module.removesuffix('.__main__')}: error: ")
    assert message.format(tmp=tmp_path) in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "gmm").exists()  # the GMM system refuses a bad data dir before writing anything


def test_errors_that_are_not_about_the_input_keep_their_traceback():
    def broken() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        report_errors("prog", broken)
