"""FeatureDataset, FrameBucketSampler, collate and the loader, over feature dirs made in tmp dirs."""

import kaldi_native_io
import numpy as np
import pytest
import torch

from blspeech.data.kaldi_dir import DataDir, DataDirError, write_table
from blspeech.decode.recognize import compute_log_probs
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import CmvnAccumulator, apply_cmvn, cmvn_stats, write_cmvn_stats
from blspeech.features.deltas import add_deltas
from blspeech.features.specaugment import SpecAugmentConfig
from blspeech.loader import FeatureDataset, FrameBucketSampler, Utterance, collate, make_loader, padding_mask
from blspeech.models import build_model

BINS = 6


def make_feature_dir(root, lengths: dict[str, int], *, speakers: int = 2, frames_table: bool = True) -> dict[str, np.ndarray]:
    """A data dir whose feats.scp/cmvn.scp we wrote; utterance i belongs to speaker i % speakers."""
    rng = np.random.default_rng(len(lengths))
    feats = {utt: (5.0 + 3.0 * rng.standard_normal((frames, BINS))).astype(np.float32) for utt, frames in lengths.items()}
    utt2spk = {utt: f"spk{i % speakers}" for i, utt in enumerate(sorted(lengths))}
    accumulator = CmvnAccumulator()
    for utt, matrix in feats.items():
        accumulator.add(utt2spk[utt], matrix)
    DataDir(utt2spk=utt2spk, feats_scp=write_ark(root / "feats.ark", feats.items())).write(root)
    write_cmvn_stats(root, accumulator.stats)
    if frames_table:
        write_table(root / "utt2num_frames", {utt: str(n) for utt, n in lengths.items()})
    return feats


@pytest.fixture
def feature_dir(tmp_path):
    lengths = {f"utt{i:02d}": 20 + 7 * i for i in range(8)}
    return tmp_path, make_feature_dir(tmp_path, lengths)


def test_items_are_channels_bins_frames_with_speaker_cmvn(feature_dir):
    root, feats = feature_dir
    dataset = FeatureDataset(root, cmvn="speaker", norm_vars=True)
    assert len(dataset) == 8 and dataset.num_skipped == 0
    item = dataset[3]
    speaker_utts = [u for i, u in enumerate(sorted(feats)) if i % 2 == 1]
    stats = cmvn_stats(np.concatenate([feats[u] for u in speaker_utts]))
    expected = add_deltas(apply_cmvn(torch.from_numpy(feats["utt03"]), stats, norm_vars=True))
    assert item.utt_id == "utt03" and item.target is None
    assert item.feats.shape == (3, BINS, 41) and item.feats.dtype == torch.float32
    torch.testing.assert_close(item.feats, expected)
    assert dataset.num_frames == [20 + 7 * i for i in range(8)]


@pytest.mark.parametrize("mode", ["global", "utterance", "none"])
def test_other_cmvn_modes(feature_dir, mode):
    root, feats = feature_dir
    item = FeatureDataset(root, cmvn=mode, norm_vars=False, channels=1)[2]
    raw = torch.from_numpy(feats["utt02"])
    if mode == "global":
        expected = apply_cmvn(raw, cmvn_stats(np.concatenate(list(feats.values()))), False)
    elif mode == "utterance":
        expected = apply_cmvn(raw, cmvn_stats(feats["utt02"]), False)
    else:
        expected = raw
    assert item.feats.shape == (1, BINS, 34)
    torch.testing.assert_close(item.feats[0], expected.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "method",
    [
        kaldi_native_io.CompressionMethod.kSpeechFeature,  # Kaldi's "CM" (copy-feats --compress=true default)
        kaldi_native_io.CompressionMethod.kTwoByteAuto,  # "CM2"
        kaldi_native_io.CompressionMethod.kOneByteAuto,  # "CM3"
    ],
)
def test_kaldi_compressed_features_load(tmp_path, method):
    """Compressed matrices written by kaldi-native-io, whose CompressedMatrix is Kaldi's C++ code."""
    rng = np.random.default_rng(0)
    lengths = {"c1": 30, "c2": 45}
    with kaldi_native_io.CompressedMatrixWriter(f"ark,scp:{tmp_path / 'raw.ark'},{tmp_path / 'raw.scp'}") as writer:
        for utt, frames in lengths.items():
            writer.write(utt, (10 + 4 * rng.standard_normal((frames, BINS))).astype(np.float32), method)
    data = DataDir(utt2spk={"c1": "s", "c2": "s"})
    data.feats_scp = {line.split()[0]: line.split()[1] for line in (tmp_path / "raw.scp").read_text().splitlines()}
    data.write(tmp_path)  # no utt2num_frames: lengths come from the compressed headers
    assert (tmp_path / "raw.ark").read_bytes()[3:7] == b"\x00BCM"

    dataset = FeatureDataset(tmp_path, cmvn="none", channels=1)
    decompressed = kaldi_native_io.RandomAccessFloatMatrixReader(f"scp:{tmp_path / 'feats.scp'}")
    assert dataset.num_frames == [30, 45]
    for index, utt in enumerate(["c1", "c2"]):
        np.testing.assert_allclose(dataset[index].feats[0].T.numpy(), np.asarray(decompressed[utt]), rtol=0, atol=1e-5)


def test_missing_feats_and_targets_are_counted_skips(tmp_path):
    make_feature_dir(tmp_path, {"a": 10, "b": 12, "c": 14, "d": 16})
    utt2spk = (tmp_path / "utt2spk").read_text() + "e spk0\n"
    (tmp_path / "utt2spk").write_text(utt2spk)
    dataset = FeatureDataset(tmp_path, targets={"a": [1, 2], "b": [3], "c": [4, 5, 6]})
    assert dataset.utt_ids == ["a", "b", "c"]
    assert dataset.num_skipped == 2
    assert dataset.skips.reasons == {"missing from feats.scp": 1, "no target": 1}
    assert "done 3 of 5" in dataset.skips.summary()
    assert dataset[2].target.tolist() == [4, 5, 6] and dataset[2].target.dtype == torch.long


@pytest.mark.parametrize("frames_table", [True, False])
def test_an_empty_feature_matrix_is_a_counted_skip(tmp_path, frames_table):
    make_feature_dir(tmp_path, {"a": 10, "b": 0, "c": 14}, frames_table=frames_table)
    dataset = FeatureDataset(tmp_path, cmvn="none")
    assert dataset.utt_ids == ["a", "c"] and dataset.num_frames == [10, 14]
    assert dataset.skips.reasons == {"its feature matrix has no frames": 1}


def test_unreadable_ark_names_the_utterance(tmp_path):
    make_feature_dir(tmp_path, {"a": 10, "b": 12})
    (tmp_path / "feats.ark").write_bytes(b"")
    dataset = FeatureDataset(tmp_path, cmvn="none")
    with pytest.raises(DataDirError, match="utterance a: cannot read"):
        dataset[0]


def test_features_of_another_dimension_than_the_model_takes_are_named(feature_dir):
    root, feats = feature_dir
    dataset = FeatureDataset(root, cmvn="speaker", channels=3)
    dataset.check_num_mel_bins(BINS)
    with pytest.raises(DataDirError, match=rf"{root / 'feats.scp'} holds {BINS}-dimensional features "
                                           rf"\(utterance utt00\) but the model takes 40 mel bins"):
        dataset.check_num_mel_bins(40)
    model = build_model("vgg-small", num_outputs=5, in_channels=3, num_mel_bins=40)
    with pytest.raises(DataDirError, match="but the model takes 40 mel bins"):  # before the network sees them
        compute_log_probs(model, dataset)


def test_bad_dataset_arguments(feature_dir):
    root, _ = feature_dir
    with pytest.raises(ValueError, match="cmvn"):
        FeatureDataset(root, cmvn="spk")
    with pytest.raises(ValueError, match="channels"):
        FeatureDataset(root, channels=2)
    (root / "cmvn.scp").unlink()
    with pytest.raises(DataDirError, match="cmvn.scp"):
        FeatureDataset(root, cmvn="speaker")


def test_bucketing_never_exceeds_the_frame_cap_and_covers_everything():
    rng = np.random.default_rng(0)
    for trial in range(30):
        lengths = rng.integers(1, 500, size=int(rng.integers(1, 300))).tolist()
        cap = int(rng.integers(400, 5000))
        sampler = FrameBucketSampler(lengths, max_frames=cap, shuffle=bool(trial % 2), seed=trial)
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        for batch in batches:
            assert max(lengths[i] for i in batch) * len(batch) <= cap
        assert len(batches) == len(sampler)


def test_too_long_utterance_is_a_batch_of_its_own():
    sampler = FrameBucketSampler([10, 10, 500, 10], max_frames=100, shuffle=False, seed=0)
    assert list(sampler) == [[0, 1, 3], [2]]


def test_drop_last_drops_only_an_unfilled_final_batch():
    assert list(FrameBucketSampler([10] * 5, max_frames=30, shuffle=False, seed=0, drop_last=True)) == [[0, 1, 2]]
    assert list(FrameBucketSampler([10] * 6, max_frames=30, shuffle=False, seed=0, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]


def test_order_is_a_function_of_seed_and_epoch():
    lengths = np.random.default_rng(1).integers(5, 100, size=200).tolist()

    def epoch(seed, number):
        sampler = FrameBucketSampler(lengths, max_frames=400, shuffle=True, seed=seed)
        sampler.set_epoch(number)
        return list(sampler)

    assert epoch(3, 0) == epoch(3, 0)
    assert epoch(3, 0) != epoch(3, 1)
    assert epoch(3, 0) != epoch(4, 0)
    sampler = FrameBucketSampler(lengths, max_frames=400, shuffle=True, seed=3)
    assert list(sampler) == epoch(3, 0) and list(sampler) == epoch(3, 1)  # finishing an epoch moves on


def test_resume_mid_epoch_gives_the_remaining_batches():
    lengths = np.random.default_rng(2).integers(5, 100, size=150).tolist()
    sampler = FrameBucketSampler(lengths, max_frames=300, shuffle=True, seed=9)
    sampler.set_epoch(4)
    iterator = iter(sampler)
    seen = [next(iterator) for _ in range(5)]
    state = sampler.state_dict()
    remaining = list(iterator)

    resumed = FrameBucketSampler(lengths, max_frames=300, shuffle=True, seed=9)
    resumed.load_state_dict(state)
    assert list(resumed) == remaining
    assert len(seen) + len(remaining) == len(sampler)
    with pytest.raises(ValueError, match="seed"):
        FrameBucketSampler(lengths, max_frames=300, shuffle=True, seed=10).load_state_dict(state)
    # Another packing of the same utterances: position 5 would name other batches.
    for other in (FrameBucketSampler(lengths, max_frames=200, shuffle=True, seed=9),
                  FrameBucketSampler(lengths[::-1], max_frames=300, shuffle=True, seed=9),
                  FrameBucketSampler(lengths, max_frames=300, shuffle=True, seed=9, drop_last=True)):
        with pytest.raises(ValueError, match="max_frames or drop_last changed"):
            other.load_state_dict(state)


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_frames"):
        FrameBucketSampler([1, 2], max_frames=0, shuffle=False, seed=0)
    with pytest.raises(ValueError, match="index 1 has 0 frames"):
        FrameBucketSampler([3, 0], max_frames=10, shuffle=False, seed=0)


def test_collate_pads_features_and_targets():
    items = [
        Utterance("a", torch.ones(3, BINS, 4), torch.tensor([1, 2, 3])),
        Utterance("b", torch.full((3, BINS, 6), 2.0), torch.tensor([4])),
    ]
    batch = collate(items)
    assert batch.utt_ids == ["a", "b"]
    assert batch.feats.shape == (2, 3, BINS, 6)
    assert batch.lengths.tolist() == [4, 6]
    assert batch.feats[0, :, :, 4:].abs().sum() == 0
    assert batch.targets.tolist() == [[1, 2, 3], [4, -1, -1]]
    assert batch.target_lengths.tolist() == [3, 1]
    assert batch.padding_mask.tolist() == [[False] * 4 + [True] * 2, [False] * 6]
    assert torch.equal(padding_mask(torch.tensor([1, 3]), 3), torch.tensor([[False, True, True], [False, False, False]]))
    assert collate([Utterance("c", torch.ones(1, BINS, 2), None)]).targets is None
    with pytest.raises(ValueError, match="with and without targets"):
        collate([items[0], Utterance("c", torch.ones(3, BINS, 2), None)])


def batches_as_tuples(loader):
    return [(tuple(b.utt_ids), b.feats.clone(), b.targets.clone()) for b in loader]


def test_specaugment_masks_items_differently_per_epoch(tmp_path):
    make_feature_dir(tmp_path, {"a": 40, "b": 50})
    plain = FeatureDataset(tmp_path, cmvn="none")
    config = SpecAugmentConfig(freq_masks=1, freq_width=4, time_masks=1, time_width=8)
    augmented = FeatureDataset(tmp_path, cmvn="none", specaugment=config, seed=1)
    masks = []
    for epoch in (0, 1, 2):
        augmented.set_epoch(epoch)
        item, reference = augmented[1].feats, plain[1].feats
        masked = (item == 0) & (reference != 0)
        assert masked.any() and torch.equal(item[~masked], reference[~masked])
        masks.append(masked)
    assert not (torch.equal(masks[0], masks[1]) and torch.equal(masks[1], masks[2]))


def test_loader_is_deterministic_across_worker_counts_and_resumes_exactly(tmp_path):
    lengths = {f"u{i:02d}": int(n) for i, n in enumerate(np.random.default_rng(3).integers(10, 60, size=24))}
    make_feature_dir(tmp_path, lengths)
    targets = {utt: list(range(1, n % 7 + 2)) for utt, n in lengths.items()}
    config = SpecAugmentConfig(freq_masks=1, freq_width=2, time_masks=1, time_width=5)

    def loader(workers):
        dataset = FeatureDataset(tmp_path, targets=targets, specaugment=config, seed=1)
        sampler = FrameBucketSampler(dataset.num_frames, max_frames=150, shuffle=True, seed=1)
        return make_loader(dataset, sampler, num_workers=workers)

    inline, parallel = loader(0), loader(2)
    orders = []
    for epoch in (0, 1):
        inline.set_epoch(epoch)
        parallel.set_epoch(epoch)
        first, second = batches_as_tuples(inline), batches_as_tuples(parallel)
        assert [b[0] for b in first] == [b[0] for b in second]
        for (_, feats_a, targets_a), (_, feats_b, targets_b) in zip(first, second):
            assert torch.equal(feats_a, feats_b) and torch.equal(targets_a, targets_b)
        orders.append([b[0] for b in first])
    assert orders[0] != orders[1]

    # Stop after 3 batches (workers have prefetched more), checkpoint, resume in a new loader.
    parallel.set_epoch(5)
    expected = batches_as_tuples(parallel)
    parallel.set_epoch(5)
    for count, _ in enumerate(parallel, 1):
        if count == 3:
            break
    state = parallel.state_dict()
    resumed = loader(2)
    resumed.load_state_dict(state)
    rest = batches_as_tuples(resumed)
    assert [b[0] for b in rest] == [b[0] for b in expected[3:]]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(rest, expected[3:]))
    assert resumed.state_dict()["epoch"] == 6 and resumed.state_dict()["position"] == 0
