"""The feature stage on small synthetic data dirs: parity, Kaldi-readable output, skips, resumability."""

import logging
import kaldi_io
import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import torchaudio.compliance.kaldi as kaldi_compliance

from blspeech.data.audio import AudioError, cut_segment
from blspeech.data.kaldi_dir import DataDir, DataDirError, Segment, read_table
from blspeech.features.cmvn import cmvn_stats
from blspeech.features.compute import compute_features, main
from blspeech.features.extract import DIGITAL_SILENCE, NON_FINITE, TOO_SHORT

RATE = 8000


def tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def make_data_dir(root, *, silent_gap: bool = True) -> DataDir:
    """Two 16-bit recordings, five segments: three good, one 10 ms long, one in digital silence."""
    recordings = {}
    for index, name in enumerate(["recA", "recB"]):
        samples = tone(3.0, index)
        if silent_gap and name == "recB":
            samples[int(2.0 * RATE) : int(3.0 * RATE)] = 0.0
        path = root / f"{name}.wav"
        soundfile.write(path, samples, RATE, subtype="PCM_16")
        recordings[name] = str(path)
    segments = {
        "spk1-recA-0000": Segment("recA", 0.0, 1.2),
        "spk1-recA-0001": Segment("recA", 1.3, 2.9),
        "spk1-recA-0002": Segment("recA", 2.95, 2.96),
        "spk2-recB-0000": Segment("recB", 0.1, 1.9),
        "spk2-recB-0001": Segment("recB", 2.2, 2.8),
    }
    data = DataDir(
        wav_scp=recordings,
        utt2spk={utt: utt.split("-")[0] for utt in segments},
        segments=segments,
        text={utt: "hello world" for utt in segments},
    )
    data.write(root)
    return data


def expected_feats(root, data: DataDir, utt: str) -> np.ndarray:
    """torchaudio's Kaldi fbank on the int16 samples of the segment, read independently."""
    segment = data.segments[utt]
    pcm, rate = soundfile.read(root / f"{segment.recording}.wav", dtype="int16")
    samples = cut_segment(pcm.astype(np.float32), rate, segment.start, segment.end, utt)
    return kaldi_compliance.fbank(torch.from_numpy(samples).unsqueeze(0), num_mel_bins=40, sample_frequency=rate, dither=0.0).numpy()


def test_features_match_torchaudio_and_kaldi_io_reads_them(tmp_path):
    data = make_data_dir(tmp_path)
    log = compute_features(tmp_path, jobs=1)
    assert (log.done, log.skipped) == (3, 2)
    assert log.reasons == {TOO_SHORT: 1, DIGITAL_SILENCE: 1}

    scp = read_table(tmp_path / "feats.scp")
    assert list(scp) == ["spk1-recA-0000", "spk1-recA-0001", "spk2-recB-0000"]
    independent = dict(kaldi_io.read_mat_scp(str(tmp_path / "feats.scp")))
    frames = read_table(tmp_path / "utt2num_frames")
    for utt in scp:
        reference = expected_feats(tmp_path, data, utt)
        assert independent[utt].dtype == np.float32
        np.testing.assert_array_equal(independent[utt], kaldiio.load_mat(scp[utt]))
        np.testing.assert_allclose(independent[utt], reference, rtol=0, atol=1e-4)
        assert int(frames[utt]) == reference.shape[0]

    stats = dict(kaldi_io.read_mat_scp(str(tmp_path / "cmvn.scp")))
    assert sorted(stats) == ["spk1", "spk2"]
    np.testing.assert_allclose(stats["spk1"], cmvn_stats(np.concatenate([independent["spk1-recA-0000"], independent["spk1-recA-0001"]])))
    assert (tmp_path / "fbank.conf").read_text().startswith("--num-mel-bins=40\n")


def test_parallel_jobs_give_the_same_features(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for root in (serial, parallel):
        root.mkdir()
        make_data_dir(root)
    compute_features(serial, jobs=1, dither=1.0)
    compute_features(parallel, jobs=2, dither=1.0)
    a, b = dict(kaldiio.load_scp(str(serial / "feats.scp"))), dict(kaldiio.load_scp(str(parallel / "feats.scp")))
    assert sorted(a) == sorted(b)
    for utt in a:
        np.testing.assert_array_equal(a[utt], b[utt])


def test_complete_output_is_kept_and_option_changes_are_refused(tmp_path):
    make_data_dir(tmp_path)
    compute_features(tmp_path, jobs=1)
    ark_mtime = (tmp_path / "feats.ark").stat().st_mtime_ns
    log = compute_features(tmp_path, jobs=1)
    assert log.done == 3 and (tmp_path / "feats.ark").stat().st_mtime_ns == ark_mtime
    with pytest.raises(ValueError, match="other options.*--num-mel-bins=40.*--num-mel-bins=64"):
        compute_features(tmp_path, num_mel_bins=64, jobs=1)
    compute_features(tmp_path, num_mel_bins=64, jobs=1, overwrite=True)
    assert kaldiio.load_mat(read_table(tmp_path / "feats.scp")["spk1-recA-0000"]).shape[1] == 64


def test_sets_at_different_sample_rates_are_refused(tmp_path):
    from blspeech.features.compute import check_same_sample_rate, recorded_sample_rate

    train, test = tmp_path / "train", tmp_path / "test"
    for root in (train, test):
        root.mkdir()
        make_data_dir(root)
    data = DataDir.read(test)  # the test set's audio at 16 kHz
    for name, path in data.wav_scp.items():
        samples, _ = soundfile.read(path)
        soundfile.write(path, np.repeat(samples, 2), 2 * RATE, subtype="PCM_16")
    compute_features(train, jobs=1)
    compute_features(test, jobs=1)
    assert (recorded_sample_rate(train), recorded_sample_rate(test)) == (RATE, 2 * RATE)
    assert "--sample-frequency=8000" in (train / "fbank.conf").read_text().splitlines()
    check_same_sample_rate([train, train])
    # Same options, same bins: a model trained on one would read the other's bins as other frequencies.
    with pytest.raises(DataDirError, match=rf"{train} has features of 8000 Hz audio but {test} of 16000 Hz"):
        check_same_sample_rate([train, test])
    assert compute_features(test, jobs=1).done == 3  # the rate line does not count as another option


def test_missing_cmvn_stats_are_added_to_existing_features(tmp_path):
    make_data_dir(tmp_path)
    compute_features(tmp_path, jobs=1, cmvn=False)
    assert not (tmp_path / "cmvn.scp").exists()
    compute_features(tmp_path, jobs=1)
    assert sorted(read_table(tmp_path / "cmvn.scp")) == ["spk1", "spk2"]


def test_failure_leaves_no_partial_output_and_a_rerun_completes(tmp_path):
    make_data_dir(tmp_path)
    (tmp_path / "recB.wav").rename(tmp_path / "away.wav")
    with pytest.raises(AudioError, match=r"wav.scp: recording recB: cannot read audio from .*recB\.wav"):
        compute_features(tmp_path, jobs=1)
    assert sorted(p.name for p in tmp_path.iterdir() if "feats" in p.name or p.name.endswith(".tmp")) == []
    (tmp_path / "away.wav").rename(tmp_path / "recB.wav")
    assert compute_features(tmp_path, jobs=1).done == 3


def test_nan_audio_is_a_counted_skip(tmp_path):
    samples = tone(1.0, 0)
    samples[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", samples, RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "ok.wav", tone(1.0, 1), RATE, subtype="FLOAT")
    DataDir(wav_scp={"u-nan": str(tmp_path / "nan.wav"), "u-ok": str(tmp_path / "ok.wav")}, utt2spk={"u-nan": "s", "u-ok": "s"}).write(tmp_path)
    log = compute_features(tmp_path, jobs=1)
    assert (log.done, dict(log.reasons)) == (1, {NON_FINITE: 1})
    assert list(read_table(tmp_path / "feats.scp")) == ["u-ok"]


def test_digital_silence_is_kept_when_dithering(tmp_path):
    make_data_dir(tmp_path)
    log = compute_features(tmp_path, jobs=1, dither=1.0)
    assert log.done == 4 and dict(log.reasons) == {TOO_SHORT: 1}
    silent = kaldiio.load_mat(read_table(tmp_path / "feats.scp")["spk2-recB-0001"])
    assert np.isfinite(silent).all() and silent.std() > 0


def test_no_usable_utterance_is_an_error(tmp_path):
    soundfile.write(tmp_path / "zero.wav", np.zeros(RATE, dtype=np.float32), RATE, subtype="PCM_16")
    DataDir(wav_scp={"u": str(tmp_path / "zero.wav")}, utt2spk={"u": "s"}).write(tmp_path)
    with pytest.raises(DataDirError, match="no utterance gave features"):
        compute_features(tmp_path, jobs=1)
    assert not (tmp_path / "feats.scp").exists()


def test_bad_jobs_value():
    with pytest.raises(ValueError, match="jobs must be >= 1, got 0"):
        compute_features("unused", jobs=0)


def test_command_line(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="blspeech")
    make_data_dir(tmp_path, silent_gap=False)
    main([str(tmp_path), "--num-mel-bins", "23", "--jobs", "1", "--no-cmvn"])
    assert "compute_features: done 4 of 5" in caplog.text
    assert kaldiio.load_mat(read_table(tmp_path / "feats.scp")["spk1-recA-0000"]).shape[1] == 23
    assert not (tmp_path / "cmvn.scp").exists()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--frame-shift-ms" in capsys.readouterr().out
