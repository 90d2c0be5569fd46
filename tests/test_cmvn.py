"""CMVN stats in Kaldi's format, checked against direct numpy computations; application modes."""

import kaldi_io
import numpy as np
import pytest
import torch

from blspeech.data.kaldi_dir import DataDir, read_table
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import (
    CmvnAccumulator,
    apply_cmvn,
    cmvn_stats,
    compute_cmvn_stats,
    read_cmvn_stats,
    sum_stats,
    write_cmvn_stats,
)


def random_feats(frames: int, dim: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (3.0 + 2.0 * rng.standard_normal((frames, dim))).astype(np.float32)


def test_stats_layout_is_kaldis():
    feats = random_feats(30)
    stats = cmvn_stats(feats)
    assert stats.shape == (2, 6) and stats.dtype == np.float64
    np.testing.assert_allclose(stats[0, :5], feats.astype(np.float64).sum(0))
    np.testing.assert_allclose(stats[1, :5], (feats.astype(np.float64) ** 2).sum(0))
    assert stats[0, 5] == 30 and stats[1, 5] == 0


def test_per_speaker_stats_written_and_read_back_match_numpy(tmp_path):
    utterances = {"a1": ("spkA", random_feats(10, seed=1)), "a2": ("spkA", random_feats(7, seed=2)), "b1": ("spkB", random_feats(12, seed=3))}
    accumulator = CmvnAccumulator()
    for speaker, feats in utterances.values():
        accumulator.add(speaker, feats)
    write_cmvn_stats(tmp_path, accumulator.stats)

    table = read_table(tmp_path / "cmvn.scp")
    assert list(table) == ["spkA", "spkB"]
    independent = {key: matrix for key, matrix in kaldi_io.read_mat_scp(str(tmp_path / "cmvn.scp"))}
    for speaker in ("spkA", "spkB"):
        frames = np.concatenate([f for s, f in utterances.values() if s == speaker]).astype(np.float64)
        expected = np.stack([np.append(frames.sum(0), len(frames)), np.append((frames**2).sum(0), 0.0)])
        assert independent[speaker].dtype == np.float64
        np.testing.assert_allclose(independent[speaker], expected, rtol=1e-12)
    np.testing.assert_array_equal(read_cmvn_stats(table)["spkB"], independent["spkB"])


def test_compute_cmvn_stats_from_existing_feats_counts_missing_utterances(tmp_path):
    feats = {"u1": random_feats(8, seed=1), "u2": random_feats(9, seed=2)}
    DataDir(utt2spk={"u1": "s", "u2": "s", "u3": "s"}, feats_scp=write_ark(tmp_path / "feats.ark", feats.items())).write(tmp_path)
    log = compute_cmvn_stats(tmp_path)
    assert (log.done, log.skipped) == (2, 1)
    stats = read_cmvn_stats(read_table(tmp_path / "cmvn.scp"))["s"]
    np.testing.assert_allclose(stats, cmvn_stats(np.concatenate(list(feats.values()))))


def test_a_speaker_with_features_of_two_dimensions_is_named_with_the_utterance(tmp_path):
    feats = {"u1": random_feats(8, dim=5), "u2": random_feats(9, dim=6)}
    DataDir(utt2spk={"u1": "s", "u2": "s"}, feats_scp=write_ark(tmp_path / "feats.ark", feats.items())).write(tmp_path)
    with pytest.raises(ValueError, match=r"feats.scp: utterance u2 of speaker s: cannot add CMVN stats"):
        compute_cmvn_stats(tmp_path)


def test_apply_cmvn_means_and_variances():
    feats = torch.from_numpy(random_feats(200, seed=4))
    stats = cmvn_stats(feats.numpy())
    centred = apply_cmvn(feats, stats, norm_vars=False)
    np.testing.assert_allclose(centred.mean(0).numpy(), 0.0, atol=1e-5)
    normalized = apply_cmvn(feats, stats, norm_vars=True)
    np.testing.assert_allclose(normalized.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.double().pow(2).mean(0).numpy(), 1.0, atol=1e-4)
    assert normalized.dtype == torch.float32


def test_constant_features_stay_finite_with_variance_normalization():
    feats = torch.full((50, 4), -15.94)
    out = apply_cmvn(feats, cmvn_stats(feats.numpy()), norm_vars=True)
    assert torch.isfinite(out).all()
    assert out.abs().max() < 1e-3


def test_global_stats_are_the_sum_over_speakers():
    a, b = cmvn_stats(random_feats(5, seed=1)), cmvn_stats(random_feats(6, seed=2))
    np.testing.assert_allclose(sum_stats([a, b]), a + b)
    with pytest.raises(ValueError, match="shape"):
        sum_stats([a, np.zeros((2, 3))])


def test_bad_stats_are_errors():
    feats = torch.zeros(4, 5)
    with pytest.raises(ValueError, match=r"stats of shape \(2, 6\)"):
        apply_cmvn(feats, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="below one frame"):
        apply_cmvn(feats, np.zeros((2, 6)))
