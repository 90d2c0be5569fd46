"""Completion markers hold the settings an output was made with, and refuse others."""

from __future__ import annotations

import logging

import pytest

from blspeech.hybrid_system import build_hybrid_system
from blspeech.hybrid_system.gmm import MonophoneConfig
from blspeech.markers import complete_with, mark_complete


def test_a_marker_is_complete_for_its_settings_and_refuses_others(tmp_path, caplog):
    marker = tmp_path / ".complete"
    assert not complete_with(marker, {"lm_order": 3}, "the thing")
    mark_complete(marker, {"lm_order": 3, "iters": (10, 20)})
    assert complete_with(marker, {"lm_order": 3, "iters": (10, 20)}, "the thing")  # tuples read back as lists
    with pytest.raises(ValueError, match=r"the thing was made with other settings \(lm_order 3 -> 2\)"):
        complete_with(marker, {"lm_order": 2, "iters": (10, 20)}, "the thing")
    marker.write_text("complete\n")  # an earlier version's marker
    caplog.set_level(logging.INFO, logger="blspeech")
    assert complete_with(marker, {"lm_order": 2}, "the thing")
    assert "the thing was made by an earlier version" in caplog.text


def test_a_gmm_system_built_from_other_inputs_is_refused_and_a_data_dir_without_text_named(tmp_path):
    out = tmp_path / "gmm"
    out.mkdir()
    mark_complete(out / ".complete", {"data_dir": "/elsewhere/train"})
    with pytest.raises(ValueError, match=r"the GMM system in .*gmm was made with other settings \(data_dir "):
        build_hybrid_system(tmp_path / "train", tmp_path / "train" / "text", out, monophone=MonophoneConfig())
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "utt2spk").write_text("spk-utt1 spk\n")
    with pytest.raises(ValueError, match=r"train has no text: the GMM system trains on transcribed utterances"):
        build_hybrid_system(tmp_path / "train", tmp_path / "train" / "text", tmp_path / "new", triphone=None)
    assert not (tmp_path / "new").exists()  # refused before anything was written
