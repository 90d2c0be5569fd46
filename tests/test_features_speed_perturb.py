"""Speed-perturbed data-dir copies (Kaldi's perturb_data_dir_speed) and combining data dirs."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from blspeech.data.audio import load_recording
from blspeech.data.kaldi_dir import DataDir, DataDirError, Segment, read_table, write_table
from blspeech.features.combine import combine_data_dirs
from blspeech.features.compute import compute_features
from blspeech.features.speed_perturb import main, perturb_data_dir_speed, sox_speed_command, speed_perturb_data_dir

RATE = 8000


@pytest.fixture
def source_dir(tmp_path):
    root = tmp_path / "train"
    root.mkdir()
    t = np.arange(2 * RATE) / RATE
    soundfile.write(root / "rec1.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, subtype="PCM_16")
    DataDir(
        wav_scp={"rec1": str(root / "rec1.wav")},
        utt2spk={"spkA-rec1-0000": "spkA", "spkA-rec1-0001": "spkA", "spkA-rec1-0002": "spkA"},
        segments={
            "spkA-rec1-0000": Segment("rec1", 0.0, 0.9),
            "spkA-rec1-0001": Segment("rec1", 1.0, 1.99),
            "spkA-rec1-0002": Segment("rec1", 1.99, 2.0),  # 10 ms: under Kaldi's 10 ms minimum at speed 1.1
        },
        text={"spkA-rec1-0000": "one", "spkA-rec1-0001": "two", "spkA-rec1-0002": "three"},
        reco2file_and_channel={"rec1": ("sw0001", "A")},
    ).write(root)
    write_table(root / "utt2dur", {"spkA-rec1-0000": "0.9", "spkA-rec1-0001": "0.99", "spkA-rec1-0002": "0.01"})
    return root


def test_perturbed_copy_follows_kaldis_conventions(source_dir, tmp_path):
    assert perturb_data_dir_speed(source_dir, tmp_path / "fast", 1.1).utterances == ["sp1.1-spkA-rec1-0000", "sp1.1-spkA-rec1-0001"]
    data = perturb_data_dir_speed(source_dir, tmp_path / "sp", 0.9)
    assert data.utterances == ["sp0.9-spkA-rec1-0000", "sp0.9-spkA-rec1-0001", "sp0.9-spkA-rec1-0002"]
    assert data.utt2spk["sp0.9-spkA-rec1-0000"] == "sp0.9-spkA"
    assert data.text["sp0.9-spkA-rec1-0001"] == "two"
    assert data.reco2file_and_channel == {"sp0.9-rec1": ("sw0001", "A")}
    written = DataDir.read(tmp_path / "sp")
    assert written.segments["sp0.9-spkA-rec1-0001"] == Segment("sp0.9-rec1", 1.11, 2.21)
    assert written.wav_scp["sp0.9-rec1"] == f"sox {source_dir / 'rec1.wav'} -t wav - speed 0.9 |"
    assert read_table(tmp_path / "sp" / "utt2uniq")["sp0.9-spkA-rec1-0001"] == "spkA-rec1-0001"
    assert float(read_table(tmp_path / "sp" / "utt2dur")["sp0.9-spkA-rec1-0000"]) == pytest.approx(1.0)


def test_sox_command_changes_the_duration(source_dir):
    samples, rate = load_recording(sox_speed_command(str(source_dir / "rec1.wav"), 1.1, "test"))
    assert rate == RATE
    assert abs(samples.shape[0] - 2 * RATE / 1.1) <= 2
    piped, _ = load_recording(sox_speed_command(f"sox {source_dir / 'rec1.wav'} -t wav - |", 0.9, "test"))
    assert abs(piped.shape[0] - 2 * RATE / 0.9) <= 2


def test_ark_offsets_cannot_be_perturbed():
    with pytest.raises(DataDirError, match="ark offset"):
        sox_speed_command("/data/wav.ark:1234", 0.9, "wav.scp: rec1")


def test_three_way_copy_keeps_original_ids_and_gets_features(source_dir, tmp_path):
    data = speed_perturb_data_dir(source_dir, tmp_path / "train_sp")
    assert len(data.utt2spk) == 3 + 3 + 2  # the 10 ms segment is dropped from the 1.1 copy
    assert "spkA-rec1-0000" in data.utt2spk and "sp1.1-spkA-rec1-0000" in data.utt2spk
    assert sorted(data.wav_scp) == ["rec1", "sp0.9-rec1", "sp1.1-rec1"]
    uniq = read_table(tmp_path / "train_sp" / "utt2uniq")
    assert uniq["spkA-rec1-0000"] == uniq["sp1.1-spkA-rec1-0000"] == "spkA-rec1-0000"
    log = compute_features(tmp_path / "train_sp", jobs=1)
    frames = {utt: int(n) for utt, n in read_table(tmp_path / "train_sp" / "utt2num_frames").items()}
    assert frames["sp0.9-spkA-rec1-0000"] > frames["spkA-rec1-0000"] > frames["sp1.1-spkA-rec1-0000"]
    assert log.done == len(frames)


def test_existing_destination_needs_overwrite(source_dir, tmp_path):
    perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1)
    with pytest.raises(FileExistsError, match="overwrite"):
        perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1)
    perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))]


def test_replacing_a_destination_killed_while_deleting_leaves_a_whole_one(source_dir, tmp_path, monkeypatch):
    import shutil

    perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1)

    def killed_midway(path, *args, **kwargs):
        (Path(path) / "text").unlink()  # the deletion got as far as one file
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        perturb_data_dir_speed(source_dir, tmp_path / "sp", 0.9, overwrite=True)
    assert DataDir.read(tmp_path / "sp").utterances[0].startswith("sp0.9-")  # the new one, complete
    assert (tmp_path / "sp" / "text").is_file()
    monkeypatch.undo()
    assert [p.suffix for p in tmp_path.iterdir() if p.name.startswith(".sp.")] == [".old"]  # the kill's leftover
    perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sp.")]  # cleared by the next write


def test_combine_rejects_duplicate_utterances_and_conflicting_recordings(source_dir, tmp_path):
    with pytest.raises(DataDirError, match="spkA-rec1-0000 is in both"):
        combine_data_dirs([source_dir, source_dir], tmp_path / "twice")
    other = tmp_path / "other"
    DataDir(wav_scp={"rec1": "/elsewhere/rec1.wav"}, utt2spk={"x": "spkB"}, segments={"x": Segment("rec1", 0.0, 1.0)}).write(other)
    with pytest.raises(DataDirError, match="wav_scp: key 'rec1' differs"):
        combine_data_dirs([source_dir, other], tmp_path / "both")
    assert not (tmp_path / "both").exists()


def test_bad_factors(source_dir, tmp_path):
    with pytest.raises(ValueError, match="speed factor must be positive, got 0.0"):
        perturb_data_dir_speed(source_dir, tmp_path / "sp", 0.0)
    with pytest.raises(ValueError, match="distinct"):
        speed_perturb_data_dir(source_dir, tmp_path / "sp", [0.9, 0.9])


def test_command_line(source_dir, tmp_path):
    main([str(source_dir), str(tmp_path / "sp"), "--factors", "0.9", "1.1"])
    assert sorted(DataDir.read(tmp_path / "sp").wav_scp) == ["sp0.9-rec1", "sp1.1-rec1"]


def test_a_destination_whose_replacement_fails_is_put_back(source_dir, tmp_path, monkeypatch):
    import os

    perturb_data_dir_speed(source_dir, tmp_path / "sp", 1.1)
    real_replace = os.replace

    def renaming_into_place_fails(source, target):
        if Path(target) == tmp_path / "sp" and Path(source).name.endswith(".tmp"):  # the new dir taking its name
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", renaming_into_place_fails)
    with pytest.raises(OSError):
        perturb_data_dir_speed(source_dir, tmp_path / "sp", 0.9, overwrite=True)
    monkeypatch.undo()
    assert DataDir.read(tmp_path / "sp").utterances[0].startswith("sp1.1-")  # the old one, under its name
