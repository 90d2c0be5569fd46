"""``train.device`` and ``decode.device``: what "auto" means, and a GPU the machine lacks named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from blspeech.config import load_recipe
from blspeech.decode.recognize import decoding_device
from blspeech.device import pick_device

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_cpu_is_the_cpu_everywhere():
    assert pick_device("cpu") == pick_device("cpu", "decode.device") == torch.device("cpu")


@no_gpu
def test_auto_is_the_cpu_without_a_gpu():
    assert pick_device("auto") == torch.device("cpu")
    assert decoding_device(load_recipe(RECIPE)) == torch.device("cpu")  # the default decode.device is auto


@no_gpu
def test_a_missing_gpu_is_an_error_naming_the_setting():
    with pytest.raises(ValueError, match=r"decode.device 'cuda:1' needs GPU 1, but this machine has 0"):
        decoding_device(load_recipe(RECIPE, ["decode.device=cuda:1"]))


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "meta", "mps"])
def test_a_device_name_this_package_does_not_run_on_names_the_setting(name):
    with pytest.raises(ValueError, match=f"decode.device {name!r} is not a device this package runs on"):
        pick_device(name, "decode.device")


def test_a_bad_local_rank_names_the_setting(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "x")
    with pytest.raises(ValueError, match="train.device 'cuda': LOCAL_RANK='x'"):
        pick_device("cuda")
