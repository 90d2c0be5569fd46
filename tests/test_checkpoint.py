"""Checkpoints: atomic, pruned, safe to load, never picked up half-written; the experiment lock."""

import os
import subprocess
import sys

import pytest
import torch

from blspeech.training.checkpoint import (DamagedCheckpoint, average_state_dicts, latest_checkpoint, list_checkpoints,
                                          load_checkpoint, save_checkpoint)
from blspeech.training.lock import ExperimentLock, ExperimentLocked


def test_save_prune_and_latest(tmp_path):
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((2,), float(step))}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000030.pt", "ckpt-00000040.pt"]
    assert latest_checkpoint(tmp_path)["step"] == 40


def test_half_written_checkpoint_is_never_picked_up(tmp_path):
    save_checkpoint(tmp_path, 10, {"step": 10})
    (tmp_path / ".ckpt-00000020.pt.abc.tmp").write_bytes(b"partial")
    assert latest_checkpoint(tmp_path)["step"] == 10
    assert not (tmp_path / ".ckpt-00000020.pt.abc.tmp").exists()  # the killed writer's leftover is cleaned up


def test_truncated_newest_checkpoint_falls_back(tmp_path):
    save_checkpoint(tmp_path, 10, {"step": 10})
    path = save_checkpoint(tmp_path, 20, {"step": 20, "w": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:100])
    assert latest_checkpoint(tmp_path)["step"] == 10


def test_a_damaged_newest_checkpoint_is_set_aside_so_pruning_keeps_the_new_ones(tmp_path):
    save_checkpoint(tmp_path, 10, {"step": 10})
    path = save_checkpoint(tmp_path, 30, {"step": 30, "w": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:100])
    assert latest_checkpoint(tmp_path)["step"] == 10  # the run goes on from step 10 ...
    save_checkpoint(tmp_path, 20, {"step": 20}, keep=1)  # ... and its next checkpoint is the one kept
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000020.pt"]
    assert latest_checkpoint(tmp_path)["step"] == 20
    assert (tmp_path / "ckpt-00000030.pt.damaged").is_file()


def test_only_the_writer_sets_a_damaged_checkpoint_aside_and_unreadable_is_not_damaged(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 10, {"step": 10})
    path = save_checkpoint(tmp_path, 30, {"step": 30, "w": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:100])
    assert latest_checkpoint(tmp_path, writer=False)["step"] == 10 and path.exists()  # another rank's view
    good = save_checkpoint(tmp_path, 40, {"step": 40})

    real_load, failures = torch.load, []

    def io_error_once(*args, **kwargs):
        if not failures:
            failures.append(args[0])
            raise OSError(5, "Input/output error")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", io_error_once)  # a passing read failure must not condemn the file
    assert latest_checkpoint(tmp_path)["step"] == 40 and good.exists() and failures == [good]


def test_a_checkpoint_torch_reports_as_an_os_error_is_damaged_when_its_bytes_read_back(tmp_path):
    save_checkpoint(tmp_path, 10, {"step": 10})
    path = save_checkpoint(tmp_path, 30, {"step": 30, "w": torch.zeros(100_000)})
    path.write_bytes(path.read_bytes()[:20_000])  # torch: "[Errno 22] Invalid argument"
    with pytest.raises(DamagedCheckpoint, match=rf"cannot load checkpoint {path}: .*Errno 22"):
        load_checkpoint(path)
    assert latest_checkpoint(tmp_path)["step"] == 10 and (tmp_path / "ckpt-00000030.pt.damaged").is_file()
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "gone.pt")):
        load_checkpoint(tmp_path / "gone.pt")


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 10, {"step": 10})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(tmp_path, 20, {"step": 20})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000010.pt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_permission_error_keeps_previous(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 10, {"step": 10})

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError):
        save_checkpoint(tmp_path, 20, {"step": 20})
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path)["step"] == 10
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


def test_checkpoints_with_code_are_refused(tmp_path):
    path = tmp_path / "ckpt-00000001.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(RuntimeError, match="cannot load checkpoint"):
        load_checkpoint(path)


def test_average_state_dicts():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(1)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(2)}
    out = average_state_dicts([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0]))
    assert out["n"].item() == 2


def test_second_writer_is_refused(tmp_path):
    with ExperimentLock(tmp_path):
        with pytest.raises(ExperimentLocked, match="in use by pid"):
            with ExperimentLock(tmp_path):
                pass
    with ExperimentLock(tmp_path):
        pass


def test_lock_from_another_process_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom blspeech.training.lock import ExperimentLock\n"
        f"with ExperimentLock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ExperimentLocked, match=str(holder.pid)):
            with ExperimentLock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ExperimentLock(tmp_path):  # released by the kernel after kill
        pass
