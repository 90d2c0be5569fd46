"""Filterbank parity with torchaudio's and with kaldi-native-fbank's (a C++ port of Kaldi's) output."""

import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi_compliance

from blspeech.features.fbank import FbankOptions, fbank, measure_feature_speed


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Noise plus a wandering tone, in [-1, 1], as soundfile would return it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def kaldi_native(samples: np.ndarray, rate: int, options: FbankOptions) -> np.ndarray:
    """Reference features from kaldi-native-fbank, configured option by option."""
    ref = knf.FbankOptions()
    ref.frame_opts.samp_freq = rate
    ref.frame_opts.dither = 0.0
    ref.frame_opts.frame_length_ms = options.frame_length_ms
    ref.frame_opts.frame_shift_ms = options.frame_shift_ms
    ref.frame_opts.snip_edges = options.snip_edges
    ref.mel_opts.num_bins = options.num_mel_bins
    ref.mel_opts.low_freq = options.low_freq
    ref.mel_opts.high_freq = options.high_freq
    computer = knf.OnlineFbank(ref)
    computer.accept_waveform(rate, (samples * 32768.0).tolist())
    computer.input_finished()
    return np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)])


@pytest.mark.parametrize(
    "rate, options",
    [
        (8000, FbankOptions()),
        (16000, FbankOptions(num_mel_bins=64)),
        (8000, FbankOptions(snip_edges=False, high_freq=-400.0, low_freq=40.0)),
        (16000, FbankOptions(frame_length_ms=20.0, frame_shift_ms=8.0)),
    ],
)
def test_fbank_matches_kaldi_native_fbank(rate, options):
    samples = speechlike(1.03, rate)
    ours = fbank(samples, rate, options)
    reference = kaldi_native(samples, rate, options)
    assert ours.dtype == np.float32
    assert ours.shape == reference.shape
    # float32 FFTs in two libraries: log-mel values (range about -5..25) agree to 1e-3.
    np.testing.assert_allclose(ours, reference, atol=1e-3, rtol=0)


def test_fbank_equals_torchaudio_on_int16_scaled_samples():
    samples = speechlike(0.7, 8000, seed=3)
    options = FbankOptions(num_mel_bins=40)
    expected = kaldi_compliance.fbank(
        torch.from_numpy(samples * 32768.0).unsqueeze(0), num_mel_bins=40, sample_frequency=8000.0, dither=0.0
    ).numpy()
    np.testing.assert_array_equal(fbank(samples, 8000, options), expected)


def test_frame_count_follows_kaldi_framing():
    rate = 8000
    samples = speechlike(0.5, rate)  # 4000 samples, 200-sample window, 80-sample shift
    assert fbank(samples, rate, FbankOptions()).shape[0] == 1 + (4000 - 200) // 80
    assert fbank(samples, rate, FbankOptions(snip_edges=False)).shape[0] == (4000 + 40) // 80


def test_dither_is_reproducible_per_seed_and_independent_of_global_rng():
    samples = speechlike(0.5, 8000)
    options = FbankOptions(dither=1.0)
    first = fbank(samples, 8000, options, dither_seed=7)
    torch.manual_seed(123)
    torch.rand(10)
    again = fbank(samples, 8000, options, dither_seed=7)
    other = fbank(samples, 8000, options, dither_seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_digital_silence_stays_finite_at_the_log_floor():
    feats = fbank(np.zeros(4000, dtype=np.float32), 8000, FbankOptions())
    np.testing.assert_allclose(feats, np.log(np.finfo(np.float32).eps), rtol=1e-6)


def test_audio_shorter_than_a_window_is_a_clear_error():
    with pytest.raises(ValueError, match="shorter than one 200-sample window"):
        fbank(np.ones(199, dtype=np.float32), 8000, FbankOptions())


@pytest.mark.parametrize("kwargs, message", [
    ({"num_mel_bins": 200}, "29 of 200 mel bins hold no FFT bin at 8000 Hz"),
    ({"high_freq": 6000.0}, "--high-freq 6000 do not fit audio at 8000 Hz"),
    ({"high_freq": -4000.0}, "need 0 <= low < high <= 4000"),
])
def test_options_that_cannot_make_features_at_the_audios_rate_are_refused_as_kaldi_does(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fbank(np.ones(800, dtype=np.float32), 8000, FbankOptions(**kwargs))
    fbank(np.ones(1600, dtype=np.float32), 16000, FbankOptions(num_mel_bins=80))  # fine at 16 kHz


@pytest.mark.parametrize(
    "kwargs, word",
    [({"num_mel_bins": 0}, "num_mel_bins"), ({"frame_shift_ms": 30.0}, "frame_shift_ms"), ({"dither": -1.0}, "dither")],
)
def test_bad_options_name_the_value(kwargs, word):
    with pytest.raises(ValueError, match=word):
        FbankOptions(**kwargs)


def test_kaldi_config_lists_options_in_kaldi_syntax():
    lines = FbankOptions(num_mel_bins=64, snip_edges=False).kaldi_config().splitlines()
    assert "--num-mel-bins=64" in lines
    assert "--frame-length=25" in lines
    assert "--snip-edges=false" in lines


def test_measure_feature_speed_reports_the_audio_it_processed(monkeypatch):
    import sys

    fbank_module = sys.modules[measure_feature_speed.__module__]  # the package exports a function of that name
    processed, real_fbank = [], fbank_module.fbank
    monkeypatch.setattr(fbank_module, "fbank", lambda samples, *a, **k: processed.append(len(samples)) or real_fbank(samples, *a, **k))
    speed = measure_feature_speed(audio_seconds=2.0, utterance_seconds=1.0, repeats=1)
    assert sum(processed) == 2 * 8000  # the audio it reports is the audio it featurized
    assert speed.audio_seconds == 2.0
    assert speed.compute_seconds > 0
    assert speed.realtime_factor == speed.audio_seconds / speed.compute_seconds
