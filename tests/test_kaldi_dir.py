"""DataDir writing and validation: a rewritten directory holds the new data dir and nothing stale."""

import pytest

from blspeech.data.kaldi_dir import DataDir, DataDirError, Segment, read_table


def two_utterances() -> DataDir:
    return DataDir(
        wav_scp={"rec1": "/audio/rec1.wav"},
        text={"spk1-a": "hello", "spk1-b": "world"},
        utt2spk={"spk1-a": "spk1", "spk1-b": "spk1"},
        segments={"spk1-a": Segment("rec1", 0.0, 1.5), "spk1-b": Segment("rec1", 1.5, 3.0)},
        feats_scp={"spk1-a": "feats.ark:10", "spk1-b": "feats.ark:900"},
        cmvn_scp={"spk1": "cmvn.ark:6"},
    )


def test_rewriting_a_data_dir_removes_the_tables_the_new_one_lacks(tmp_path):
    two_utterances().write(tmp_path)
    (tmp_path / "utt2num_frames").write_text("spk1-a 150\nspk1-b 150\n")
    # Prepared again with other utterances: the features of the first version must not survive.
    DataDir(wav_scp={"rec2": "/audio/rec2.wav"}, utt2spk={"rec2": "spk2"}).write(tmp_path)
    for stale in ("feats.scp", "cmvn.scp", "utt2num_frames", "segments", "text"):
        assert not (tmp_path / stale).exists(), stale
    assert DataDir.read(tmp_path).utterances == ["rec2"]


def test_features_of_utterances_the_data_dir_does_not_have_are_refused(tmp_path):
    data = two_utterances()
    data.write(tmp_path)
    (tmp_path / "feats.scp").write_text("spk1-a feats.ark:10\nspk1-c feats.ark:99\n")
    with pytest.raises(DataDirError, match=r"feats.scp: 1 utterances are not in utt2spk, e.g. spk1-c"):
        DataDir.read(tmp_path)
    data.cmvn_scp = {"spk9": "cmvn.ark:6"}
    with pytest.raises(DataDirError, match=r"cmvn.scp: 1 speakers are not in utt2spk, e.g. spk9"):
        data.validate(tmp_path)


def test_segment_times_are_written_without_moving_them(tmp_path):
    data = two_utterances()
    data.segments = {"spk1-a": Segment("rec1", 0.125, 1.375), "spk1-b": Segment("rec1", 3.333, 3.337)}
    data.write(tmp_path)
    assert read_table(tmp_path / "segments") == {"spk1-a": "rec1 0.125 1.375", "spk1-b": "rec1 3.333 3.337"}
    assert DataDir.read(tmp_path).segments == data.segments
    data.segments = {"spk1-a": Segment("rec1", 0.5, 1.5), "spk1-b": Segment("rec1", 2.0, 12.3)}
    data.write(tmp_path)  # hundredths stay in Kaldi's two-decimal form
    assert read_table(tmp_path / "segments") == {"spk1-a": "rec1 0.50 1.50", "spk1-b": "rec1 2.00 12.30"}
