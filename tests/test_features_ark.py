"""Arks we write are read back identically by kaldi_io, an independent pure-Python Kaldi reader."""

import kaldi_io
import numpy as np
import pytest

from blspeech.data.kaldi_dir import read_table, write_table
from blspeech.features.ark import write_ark


def test_float_and_double_matrices_read_back_identically(tmp_path):
    rng = np.random.default_rng(0)
    matrices = {
        "utt-b": rng.standard_normal((17, 40)).astype(np.float32),
        "utt-a": rng.standard_normal((3, 40)).astype(np.float32),
        "spk1": rng.standard_normal((2, 41)),
    }
    entries = write_ark(tmp_path / "out.ark", matrices.items())
    write_table(tmp_path / "out.scp", entries)
    assert all(value.startswith(f"{tmp_path.resolve()}/out.ark:") for value in read_table(tmp_path / "out.scp").values())

    by_scp = dict(kaldi_io.read_mat_scp(str(tmp_path / "out.scp")))
    by_ark = dict(kaldi_io.read_mat_ark(str(tmp_path / "out.ark")))
    assert list(by_ark) == list(matrices)  # written in the order given; the scp is sorted
    for key, matrix in matrices.items():
        for read in (by_scp[key], by_ark[key]):
            assert read.dtype == matrix.dtype
            np.testing.assert_array_equal(read, matrix)


@pytest.mark.parametrize("key, message", [("has space", "whitespace"), ("", "empty")])
def test_bad_keys_are_rejected_and_nothing_is_left_behind(tmp_path, key, message):
    with pytest.raises(ValueError, match=message):
        write_ark(tmp_path / "out.ark", [(key, np.zeros((1, 2), dtype=np.float32))])
    assert list(tmp_path.iterdir()) == []


def test_duplicate_keys_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicate key 'u'"):
        write_ark(tmp_path / "out.ark", [("u", np.zeros((1, 2), dtype=np.float32))] * 2)
