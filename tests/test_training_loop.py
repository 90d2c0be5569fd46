"""The training loop on a small featurized data dir: it learns, it is deterministic, and an
interrupted run resumes to exactly the weights of an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from blspeech.config import TrainConfig
from blspeech.data.kaldi_dir import write_table
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import CmvnAccumulator, write_cmvn_stats
from blspeech.loader import FeatureDataset
from blspeech.models import build_model
from blspeech.training.checkpoint import list_checkpoints, load_checkpoint
from blspeech.device import pick_device
from blspeech.training.distributed import leave_process_group
from blspeech.training.loop import TooManyBadSteps, Trainer

SCRIPT = Path(__file__).parent / "scripts" / "train_small.py"
NUM_UNITS = 6  # blank + 5 labels
# On the CPU also where there is a GPU: these tests compare weights bit for bit (test_cuda.py trains on a GPU).
SMALL = dict(epochs=3, max_frames=240, lr=3e-3, warmup_steps=2, validate_every_steps=1000,
             checkpoint_every_minutes=0.0, average_best=0, threads=1, device="cpu")


def make_data_dir(root: Path, utterances: int = 16, nan_utterances: tuple[int, ...] = (),
                  varied_lengths: bool = False) -> dict[str, list[int]]:
    """Features whose frames carry their label as a bump in a label-specific band of mel bins;
    60 frames each, or 60 to 81 with ``varied_lengths`` (ranks then get batches of other shapes)."""
    rng = np.random.default_rng(0)
    feats, utt2spk, targets, acc = {}, {}, {}, CmvnAccumulator()
    for index in range(utterances):
        utt, spk = f"spk{index % 2}-utt{index:03d}", f"spk{index % 2}"
        labels = rng.integers(1, NUM_UNITS, size=3).tolist()
        matrix = rng.normal(0, 0.3, size=(60 + 7 * (index % 4) * varied_lengths, 40)).astype(np.float32)
        for position, label in enumerate(labels):
            matrix[position * 20 : position * 20 + 16, label * 6 : label * 6 + 6] += 3.0
        acc.add(spk, matrix)
        if index in nan_utterances:
            matrix[5, 5] = np.nan
        feats[utt], utt2spk[utt], targets[utt] = matrix, spk, labels
    root.mkdir(parents=True)
    write_table(root / "feats.scp", write_ark(root / "feats.ark", feats.items()))
    write_table(root / "utt2spk", utt2spk)
    write_cmvn_stats(root, acc.stats)
    (root / "targets.json").write_text(json.dumps(targets))
    return targets


def make_trainer(root: Path, run: str, nan_utterances: tuple[int, ...] = (), **settings) -> Trainer:
    data = root / "data"
    if not data.exists():
        make_data_dir(data, nan_utterances=nan_utterances)
    targets = json.loads((data / "targets.json").read_text())
    torch.manual_seed(0)
    model = build_model("bl-vgg-small", num_outputs=NUM_UNITS, in_channels=1, num_mel_bins=40)
    train_set = FeatureDataset(data, targets=targets, cmvn="speaker", channels=1)
    cfg = TrainConfig(**{**SMALL, **settings})
    return Trainer(model, train_set, None, cfg, root / run, objective="ctc", seed=3)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_training_lowers_the_loss_and_writes_its_records(tmp_path):
    trainer = make_trainer(tmp_path, "run", epochs=6)
    final = trainer.fit()
    assert final.exists()
    rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    losses = [float(row[3]) for row in rows if row[2] == "train"]
    assert len(losses) == trainer.total_steps
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


def test_same_seed_same_weights(tmp_path):
    make_trainer(tmp_path, "a").fit()
    make_trainer(tmp_path, "b").fit()
    assert_same_weights(weights(tmp_path / "a" / "final.pt"), weights(tmp_path / "b" / "final.pt"))


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    make_trainer(tmp_path, "whole").fit()

    interrupted = make_trainer(tmp_path, "cut")
    original = Trainer._train_batch
    stop_at = interrupted.steps_per_epoch + 2  # in the middle of the second epoch

    def crash_at(self, batch):
        if self.step == stop_at:
            raise KeyboardInterrupt("simulated kill")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "_train_batch", crash_at)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    monkeypatch.undo()
    assert not (tmp_path / "cut" / "final.pt").exists()
    last = load_checkpoint(list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])
    assert last["step"] == stop_at
    assert last["cuda_rng"] is None  # a CPU run has no GPU generator to keep

    resumed = make_trainer(tmp_path, "cut")
    resumed.fit()
    assert resumed.step == resumed.total_steps
    assert_same_weights(weights(tmp_path / "whole" / "final.pt"), weights(tmp_path / "cut" / "final.pt"))
    rows = [line.split(",") for line in (tmp_path / "cut" / "metrics.csv").read_text().splitlines()[1:]]
    train = [row for row in rows if row[2] == "train"]
    assert [int(row[0]) for row in train] == list(range(1, resumed.total_steps + 1))
    # each step in the epoch it belongs to, and the training time counted on across the resume
    assert [int(row[1]) for row in train] == [(step - 1) // resumed.steps_per_epoch
                                              for step in range(1, resumed.total_steps + 1)]
    elapsed = [float(row[7]) for row in train]
    assert elapsed == sorted(elapsed)


def test_a_nan_batch_is_skipped_and_counted(tmp_path):
    trainer = make_trainer(tmp_path, "run", nan_utterances=(3,), epochs=2)
    trainer.fit()
    assert trainer.skipped_batches == 2  # the batch holding utterance 3, once per epoch
    assert trainer.step == trainer.total_steps


def test_nan_in_every_batch_stops_the_run(tmp_path):
    trainer = make_trainer(tmp_path, "run", nan_utterances=tuple(range(16)), max_bad_steps=3)
    with pytest.raises(TooManyBadSteps, match="3 consecutive"):
        trainer.fit()


@pytest.mark.parametrize("setting", [{"validate_every_steps": 0}, {"epochs": 0}])
def test_settings_that_leave_nothing_to_do_are_named(tmp_path, setting):
    with pytest.raises(ValueError, match="train.validate_every_steps and train.epochs must be >= 1"):
        make_trainer(tmp_path, "run", **setting)


def test_consecutive_bad_batches_are_counted_across_a_resume(tmp_path):
    trainer = make_trainer(tmp_path, "run")
    trainer.bad_in_a_row = 7
    trainer.save()
    resumed = make_trainer(tmp_path, "run")
    assert resumed.restore() and resumed.bad_in_a_row == 7  # max_bad_steps stops it where a whole run would stop


def test_snapshots_are_deleted_only_once_a_checkpoint_no_longer_lists_them(tmp_path):
    trainer = make_trainer(tmp_path, "run", average_best=1)
    snapshots = tmp_path / "run" / "snapshots"
    trainer.step = 100
    trainer._snapshot(0.9)
    trainer.save()  # lists step 100
    trainer.step = 200
    trainer._snapshot(0.8)  # better: step 100 leaves the list, but a resume from the last checkpoint needs its file
    assert sorted(p.name for p in snapshots.iterdir()) == ["step-00000100.pt", "step-00000200.pt"]
    trainer.save()
    assert sorted(p.name for p in snapshots.iterdir()) == ["step-00000200.pt"]
    (snapshots / "step-00000200.pt").unlink()  # lost: final.pt must not claim to average it
    assert load_checkpoint(trainer.finalize())["averaged_steps"] == []


def train_losses(run_dir: Path) -> list[float]:
    rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    return [float(row[3]) for row in rows if row[2] == "train"]


def test_two_process_ddp_matches_one_process(tmp_path):
    """torchrun with 2 gloo ranks splits each global batch; the loss curve matches a single process.

    BatchNorm normalises over each rank's half batch (SyncBatchNorm needs a GPU), so the curves
    agree within a tolerance, not bit for bit: the first step (same weights, same global batch)
    closely, the whole curve on average.
    """
    make_trainer(tmp_path, "single", epochs=2).fit()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29531",
                    str(SCRIPT), str(tmp_path), "ddp", "2"], check=True, timeout=300,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    single, ddp = train_losses(tmp_path / "single"), train_losses(tmp_path / "ddp")
    assert len(single) == len(ddp) > 0
    assert abs(ddp[0] - single[0]) < 0.02 * single[0], (single, ddp)  # same weights, same global batch
    assert abs(np.mean(ddp) - np.mean(single)) < 0.15 * np.mean(single), (single, ddp)
    assert ddp[-1] < 0.6 * ddp[0]
    assert (tmp_path / "ddp" / "final.pt").exists()


def test_a_two_process_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    """Each rank draws its own dropout masks (batches of other shapes use their generators differently):
    a resume must give every rank its own generator back."""
    make_data_dir(tmp_path / "data", varied_lengths=True)

    def torchrun(run: str, port: int, stop_at: int = 0) -> int:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
                   str(SCRIPT), str(tmp_path), run, "2"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "STOP_AT_STEP": str(stop_at or "")}
        return subprocess.run(command, timeout=300, env=env, capture_output=True).returncode

    assert torchrun("whole", 29532) == 0
    assert torchrun("cut", 29533, stop_at=3) != 0 and not (tmp_path / "cut" / "final.pt").exists()
    assert load_checkpoint(list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])["step"] == 3
    assert torchrun("cut", 29534) == 0
    assert_same_weights(weights(tmp_path / "whole" / "final.pt"), weights(tmp_path / "cut" / "final.pt"))


def test_ten_random_kills_always_resume_to_the_uninterrupted_weights(tmp_path):
    """SIGKILL ten times at random moments after the run has made progress (mid-step or
    mid-checkpoint-write); every restart finds an intact checkpoint and the final weights equal
    those of a run never interrupted."""
    epochs = 60
    make_trainer(tmp_path, "whole", epochs=epochs).fit()
    rng = np.random.default_rng(7)
    command = [sys.executable, str(SCRIPT), str(tmp_path), "killed", str(epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    checkpoints = tmp_path / "killed" / "checkpoints"

    def newest_step() -> int:
        found = list_checkpoints(checkpoints)
        return int(found[-1].name[5:13]) if found else 0

    kills = 0
    for _ in range(10):
        before = newest_step()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while newest_step() <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        assert not (tmp_path / "killed" / "final.pt").exists(), "training finished before ten kills"
    assert kills == 10
    subprocess.run(command, env=env, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert_same_weights(weights(tmp_path / "whole" / "final.pt"), weights(tmp_path / "killed" / "final.pt"))


def test_a_rank_without_a_gpu_of_its_own_is_an_error(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "64")
    with pytest.raises(ValueError, match="needs GPU 64, but this machine has"):
        pick_device("cuda")
    assert pick_device("cpu") == torch.device("cpu")


def test_leaving_the_process_group_shuts_it_down(tmp_path):
    leave_process_group()  # no group: nothing to do
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    assert torch.distributed.is_initialized()
    leave_process_group()
    assert not torch.distributed.is_initialized()
