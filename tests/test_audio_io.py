"""Reading wav.scp entries (files and pipes) and cutting segments (blspeech.data.audio)."""

import numpy as np
import pytest
import soundfile

from blspeech.data.audio import AudioError, cut_segment, load_recording

RATE = 8000


@pytest.fixture()
def wav(tmp_path):
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    path = tmp_path / "tone.wav"
    soundfile.write(path, samples, RATE, subtype="PCM_16")
    return path, samples


def test_a_path_is_read_with_soundfile(wav):
    path, samples = wav
    got, rate = load_recording(str(path))
    assert rate == RATE and got.dtype == np.float32
    np.testing.assert_allclose(got, samples, atol=1 / 32768)


def test_a_command_ending_in_a_pipe_is_run(wav):
    path, samples = wav
    got, rate = load_recording(f"sox {path} -t wav - trim 0 1 |")
    assert rate == RATE
    np.testing.assert_allclose(got, samples[:RATE], atol=1 / 32768)


def test_a_failing_command_is_named_with_its_stderr(tmp_path):
    with pytest.raises(AudioError) as err:
        load_recording(f"sox {tmp_path / 'missing.wav'} -t wav - |")
    assert "missing.wav" in str(err.value) and "sox" in str(err.value)
    assert "can't open" in str(err.value).lower() or "no such file" in str(err.value).lower()


def test_a_failing_stage_before_the_last_fails_the_command(wav, tmp_path):
    path, _ = wav
    # The last stage alone succeeds, on a cut input: without pipefail this read 0.5 s as the recording.
    with pytest.raises(AudioError, match="exit code 1"):
        load_recording(f"head -c 8044 {path} | (cat; false) | cat |")
    with pytest.raises(AudioError, match="missing.wav"):
        load_recording(f"cat {tmp_path / 'missing.wav'} | sox -t wav - -t wav - |")


def test_a_command_printing_no_audio_is_named():
    with pytest.raises(AudioError, match="echo hello"):
        load_recording("echo hello |")


def test_an_unreadable_file_is_named(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="noise.wav"):
        load_recording(str(path))


def test_cut_segment_takes_the_samples_between_the_times():
    samples = np.arange(3 * RATE, dtype=np.float32)
    cut = cut_segment(samples, RATE, 0.5, 1.25, "utt1")
    assert cut[0] == 0.5 * RATE and len(cut) == 0.75 * RATE


def test_cut_segment_clips_a_small_overshoot_like_kaldi():
    samples = np.zeros(RATE, dtype=np.float32)
    assert len(cut_segment(samples, RATE, 0.5, 1.3, "utt1")) == RATE // 2


@pytest.mark.parametrize("start, end", [(0.5, 1.6), (1.0, 1.2), (0.6, 0.4)])
def test_cut_segment_past_the_audio_names_the_utterance(start, end):
    with pytest.raises(AudioError, match="sw02001-A_000050-000160"):
        cut_segment(np.zeros(RATE, dtype=np.float32), RATE, start, end, "sw02001-A_000050-000160")
