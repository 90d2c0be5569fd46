"""Issue 10, item by item: bad input, faults and untrusted files never lose work or pass silently.

Each test here is named after an item of the issue; where an item is already tested elsewhere it
is listed with that test, so the whole list reads in one place. Everything runs the real
components (prep on the LDC-layout fixture, sox, the feature stage and its CLI, sentencepiece,
the flashlight beam search, SCTK); nothing is mocked.

Bad input
- truncated or corrupt .sph: at prep, tests/test_prep_swbd.py::test_a_corrupt_sph_is_a_counted_skip_naming_the_file,
  tests/test_synth_sphere.py::test_truncated_file_is_named and ::test_corrupt_headers_are_named; damaged
  after prep, test_truncated_or_corrupt_sph_stops_the_feature_stage_naming_it
- wrong sample rate: test_recordings_at_another_sample_rate_are_an_error_naming_the_recording
- a wav.scp command that fails: tests/test_audio_io.py::test_a_failing_command_is_named_with_its_stderr (the
  reader); test_a_failing_wav_scp_command_stops_the_feature_stage_naming_it (the stage, worker processes)
- segments past the end of the audio or with start >= end: tests/test_audio_io.py::test_cut_segment_past_the_audio_names_the_utterance,
  tests/test_prep_swbd.py::test_skips_are_counted_and_name_the_files (prep skips them);
  test_segments_past_the_end_or_with_start_not_before_end_are_errors_naming_the_utterance (the feature stage)
- utterances missing text / speaker / features: tests/test_loader.py::test_missing_feats_and_targets_are_counted_skips
  (features); test_utterances_missing_text_or_speaker_are_counted_skips_or_errors
- empty or whitespace-only transcripts: test_empty_or_whitespace_only_transcripts_are_counted_skips
- characters outside the unit set: tests/test_tokenizer.py::test_unknown_characters_map_to_unk_and_are_skipped_in_targets;
  test_characters_outside_the_unit_set_are_counted_skips_naming_them (the train stage's targets)
- utterances too short for their CTC label sequence: test_utterances_too_short_for_their_ctc_labels_are_counted_skips
- NaN/inf features or loss: tests/test_features_compute.py::test_nan_audio_is_a_counted_skip,
  tests/test_training_loop.py::test_a_nan_batch_is_skipped_and_counted and ::test_nan_in_every_batch_stops_the_run;
  test_inf_audio_is_a_counted_skip, test_a_skipped_nan_batch_leaves_the_model_finite
- unknown recipe keys and wrong value types: tests/test_config.py::test_unknown_key_in_file_names_key_and_file,
  ::test_wrong_type_in_file, ::test_bad_overrides_name_the_key
- pdf ids >= the pdf count: tests/test_kaldi_interop.py::test_pdf_id_beyond_the_count_names_utterance_and_value,
  ::test_transition_id_beyond_the_model_names_the_utterance, tests/test_hybrid.py::test_counting_checks_pdf_ids_and_priors_are_floored

Faults
- kill -9 during training, 10 trials: tests/test_training_loop.py::test_ten_random_kills_always_resume_to_the_uninterrupted_weights,
  tests/test_end_to_end.py (the real CLI, killed and resumed)
- disk full / permission error while writing a checkpoint: tests/test_checkpoint.py::test_failed_write_keeps_previous,
  ::test_permission_error_keeps_previous, ::test_half_written_checkpoint_is_never_picked_up, ::test_truncated_newest_checkpoint_falls_back
- two runs on one experiment dir: tests/test_checkpoint.py::test_second_writer_is_refused, ::test_lock_from_another_process_is_refused
- data prep reruns safely after an interruption: test_data_prep_killed_before_each_write_reruns_to_the_same_data_dirs
- the feature stage reruns safely after an interruption: test_feature_stage_killed_mid_way_reruns_to_the_same_features

Untrusted files
- checkpoints load with weights_only: tests/test_checkpoint.py::test_checkpoints_with_code_are_refused
- YAML with safe_load: tests/test_config.py::test_yaml_is_loaded_safely
- wav.scp commands run only where the data dir says so, never built from transcript text:
  test_only_wav_scp_entries_reach_a_shell, test_shell_metacharacters_in_transcripts_are_never_executed

Determinism and scale-out: tests/test_training_loop.py::test_same_seed_same_weights,
::test_interrupted_run_resumes_to_the_same_weights, ::test_two_process_ddp_matches_one_process.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blspeech.config import load_recipe
from blspeech.ctc_training import ctc_targets
from blspeech.data.audio import AudioError
from blspeech.data.kaldi_dir import DataDir, DataDirError, read_table, write_table
from blspeech.data.prep import main as prep_main
from blspeech.data.swbd import prepare_switchboard
from blspeech.decode.ctc import BeamSearchDecoder, greedy_decode
from blspeech.decode.recognize import timed_words, write_hypotheses
from blspeech.experiment import Experiment
from blspeech.features.ark import write_ark
from blspeech.features.compute import compute_features
from blspeech.features.extract import NON_FINITE
from blspeech.loader import FeatureDataset
from blspeech.models import build_model
from blspeech.score import sclite_backend
from blspeech.score.scorer import score
from blspeech.tokenizer import Tokenizer, train_tokenizer
from blspeech.training.checkpoint import load_checkpoint
from blspeech.training.objectives import ctc_objective
from blspeech.units import prepare_units
from test_ctc_decode import clean_path, emissions
from test_training_loop import make_trainer

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "blspeech"
LDC = Path(__file__).parent / "fixtures" / "ldc"
RATE = 8000
TIME_SUBSAMPLING = 4

# Runs ``python -m MODULE ARGS`` and SIGKILLs it just before it renames a temporary onto a path
# ending in SUFFIX, i.e. with that output and the ones written after it not yet in place:
# ``python -c KILL_BEFORE_RENAME SUFFIX MODULE ARGS...``.
KILL_BEFORE_RENAME = """
import os, runpy, signal, sys
suffix, module = sys.argv[1], sys.argv[2]
rename = os.replace
def rename_or_die(source, target, *args, **kwargs):
    if os.fspath(target).endswith(suffix):
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(source, target, *args, **kwargs)
os.replace = rename_or_die
sys.argv = sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def write_wav(path: Path, seconds: float, rate: int = RATE, seed: int = 0, subtype: str = "PCM_16") -> np.ndarray:
    """A tone plus a little noise (speech-like enough for a filterbank), written as a WAV file."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    soundfile.write(path, samples, rate, subtype=subtype)
    return samples


def leftovers(directory: Path) -> list[str]:
    """Hidden temporaries of atomic_write (``.NAME.XXXXXXXX.tmp``) below ``directory``."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob(".*.tmp"))


def file_contents(directory: Path, *, hidden: bool = True) -> dict[str, bytes]:
    """Relative path -> bytes of every file below ``directory`` (dot-files only if ``hidden``)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and (hidden or not p.name.startswith("."))}


def prep_arguments(ldc: Path, out: Path) -> list[str]:
    return ["--swb1", str(ldc / "LDC97S62"), "--transcripts", str(ldc / "swb_ms98_transcriptions"),
            "--hub5", str(ldc / "LDC2002S09"), "--hub5-transcripts", str(ldc / "LDC2002T43"),
            "--out", str(out), "--dev-utterances", "1"]


@pytest.fixture()
def ldc(tmp_path):
    """A writable copy of the LDC-layout fixture."""
    shutil.copytree(LDC, tmp_path / "ldc")
    return tmp_path / "ldc"


@pytest.fixture(scope="module")
def char_tokenizer(tmp_path_factory) -> Tokenizer:
    texts = ["yes no maybe", "uh-huh [laughter]", "too good to be true"]
    return train_tokenizer(texts, tmp_path_factory.mktemp("units") / "tokenizer", kind="char")


def text_dir(root: Path, text: dict[str, str]) -> Path:
    """A data dir with ``text`` and utt2spk only (what ctc_targets reads)."""
    DataDir(text=text, utt2spk={utt: "spk" for utt in text}).write(root)
    return root


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("damage, message", [
    ("truncated", r"utterance sw02005-A_000025-000145: segment 0\.25-1\.45 s lies past the end of the audio \(0\.50 s\)"),
    ("corrupt header", r"wav\.scp command failed with exit code \d+: 'sox -t sph \S*sw02005\.sph.*Sphere header"),
])
def test_truncated_or_corrupt_sph_stops_the_feature_stage_naming_it(ldc, tmp_path, damage, message):
    """A .sph damaged after prep (prep itself skips damaged files, see above): no partial features."""
    prepare_switchboard(ldc / "LDC97S62", ldc / "swb_ms98_transcriptions", output_dir=tmp_path / "data", dev_utterances=1)
    sph = ldc / "LDC97S62/swb1_d2/data/sw02005.sph"
    content = sph.read_bytes()
    # A 1024-byte header, then two 1-byte (mu-law) channels at 8 kHz: keep 0.5 s, or break the magic word.
    sph.write_bytes(content[: 1024 + RATE] if damage == "truncated" else b"XXXX" + content[4:])
    train = tmp_path / "data" / "train"
    with pytest.raises(AudioError, match=message):
        compute_features(train, jobs=1)
    assert not (train / "feats.scp").exists() and leftovers(train) == []


def test_recordings_at_another_sample_rate_are_an_error_naming_the_recording(tmp_path):
    for name, rate in (("a", RATE), ("b", 2 * RATE), ("c", RATE)):
        write_wav(tmp_path / f"{name}.wav", 1.0, rate)
    wav_scp = {name: str(tmp_path / f"{name}.wav") for name in "abc"}
    DataDir(wav_scp=wav_scp, utt2spk={name: "spk" for name in "abc"}).write(tmp_path)
    with pytest.raises(DataDirError, match=r"wav\.scp: recording b is sampled at 16000 Hz but a at 8000 Hz"):
        compute_features(tmp_path, jobs=1)
    assert not (tmp_path / "feats.scp").exists() and leftovers(tmp_path) == []

    # The fix the message suggests: resample in wav.scp.
    write_table(tmp_path / "wav.scp", {**wav_scp, "b": f"sox {tmp_path / 'b.wav'} -r {RATE} -t wav - |"})
    assert compute_features(tmp_path, jobs=1).done == 3


def test_a_failing_wav_scp_command_stops_the_feature_stage_naming_it(tmp_path):
    write_wav(tmp_path / "a.wav", 1.0)
    missing = tmp_path / "missing.wav"
    wav_scp = {"a": str(tmp_path / "a.wav"), "b": f"sox {missing} -t wav - |"}
    DataDir(wav_scp=wav_scp, utt2spk={"a": "spk", "b": "spk"}).write(tmp_path)
    with pytest.raises(AudioError, match=rf"wav\.scp command failed with exit code \d+: 'sox {re.escape(str(missing))} .*missing\.wav"):
        compute_features(tmp_path, jobs=2)  # the error crosses from a worker process intact
    assert not (tmp_path / "feats.scp").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("segment, error, message", [
    ("rec 0.50 9.00", AudioError, "utterance utt: segment 0.50-9.00 s lies past the end of the audio (2.00 s)"),
    ("rec 2.50 2.90", AudioError, "utterance utt: segment 2.50-2.90 s lies past the end of the audio (2.00 s)"),
    ("rec 1.00 1.00", DataDirError, "segments: utterance utt has start 1.0 >= end 1.0"),
    ("rec 1.50 0.50", DataDirError, "segments: utterance utt has start 1.5 >= end 0.5"),
])
def test_segments_past_the_end_or_with_start_not_before_end_are_errors_naming_the_utterance(tmp_path, segment, error, message):
    write_wav(tmp_path / "rec.wav", 2.0)
    write_table(tmp_path / "wav.scp", {"rec": str(tmp_path / "rec.wav")})
    write_table(tmp_path / "utt2spk", {"utt": "spk"})
    write_table(tmp_path / "segments", {"utt": segment})
    with pytest.raises(error, match=re.escape(message)):
        compute_features(tmp_path, jobs=1)
    assert not (tmp_path / "feats.scp").exists()


def test_utterances_missing_text_or_speaker_are_counted_skips_or_errors(tmp_path, char_tokenizer, caplog):
    # Missing text: the utterance has features but no target; the dataset counts and names it.
    rng = np.random.default_rng(0)
    feats = {utt: rng.standard_normal((40, 40)).astype(np.float32) for utt in ("u1", "u2", "u3")}
    DataDir(utt2spk={utt: "spk" for utt in feats}, text={"u1": "yes", "u3": "no"},
            feats_scp=write_ark(tmp_path / "feats.ark", feats.items())).write(tmp_path)
    targets = ctc_targets(tmp_path, char_tokenizer, TIME_SUBSAMPLING, {u: 40 for u in feats}, "targets")
    with caplog.at_level(logging.WARNING, logger="blspeech"):
        dataset = FeatureDataset(tmp_path, targets=targets, cmvn="none", channels=1)
    assert dataset.utt_ids == ["u1", "u3"] and dataset.skips.reasons == {"no target": 1}
    assert "skipping u2: no target" in caplog.text

    # Missing speaker: an utterance of text absent from utt2spk, or an utt2spk line without a
    # speaker, is an error naming the utterance.
    (tmp_path / "text").write_text("u1 yes\nu3 no\nu4 maybe\n")
    with pytest.raises(DataDirError, match=r"text: utterance u4 is not in utt2spk"):
        FeatureDataset(tmp_path, targets=targets, cmvn="none", channels=1)
    (tmp_path / "text").write_text("u1 yes\n")
    (tmp_path / "utt2spk").write_text("u1 spk\nu2\nu3 spk\n")
    with pytest.raises(DataDirError, match=r"utt2spk: utterance u2 has no speaker"):
        FeatureDataset(tmp_path, targets=targets, cmvn="none", channels=1)


def test_empty_or_whitespace_only_transcripts_are_counted_skips(tmp_path, char_tokenizer, caplog):
    root = tmp_path / "data"
    root.mkdir()
    (root / "utt2spk").write_text("u1 spk\nu2 spk\nu3 spk\n")
    (root / "text").write_text("u1 yes\nu2\nu3 \t  \n")
    with caplog.at_level(logging.INFO, logger="blspeech"):
        targets = ctc_targets(root, char_tokenizer, TIME_SUBSAMPLING, {}, "targets")
    assert list(targets) == ["u1"]
    assert "skipping u2: empty transcript" in caplog.text and "skipping u3: empty transcript" in caplog.text
    assert "targets: done 1 of 3 (skipped 2: 2 empty transcript)" in caplog.text


def test_characters_outside_the_unit_set_are_counted_skips_naming_them(tmp_path, char_tokenizer, caplog):
    root = text_dir(tmp_path, {"u1": "yes", "u2": "mayb\u00e9 no", "u3": "x-ray"})
    with caplog.at_level(logging.INFO, logger="blspeech"):
        targets = ctc_targets(root, char_tokenizer, TIME_SUBSAMPLING, {}, "targets")
    assert list(targets) == ["u1"]
    assert "skipping u2: characters outside the unit set: \u00e9" in caplog.text
    assert "skipping u3: characters outside the unit set: x" in caplog.text


def test_utterances_too_short_for_their_ctc_labels_are_counted_skips(tmp_path, char_tokenizer, caplog):
    """"too" is 4 units (▁ t o o) with one repeat: CTC needs 5 output frames, i.e. 17 input frames at
    subsampling 4. The criterion must agree with the real model's output lengths and the real loss."""
    root = text_dir(tmp_path, {"fits": "too", "short": "too"})
    frames = {"fits": 17, "short": 16}
    with caplog.at_level(logging.INFO, logger="blspeech"):
        targets = ctc_targets(root, char_tokenizer, TIME_SUBSAMPLING, frames, "targets")
    assert list(targets) == ["fits"]
    assert "skipping short (4 frames, 4 labels): too short for its CTC label sequence" in caplog.text

    torch.manual_seed(0)
    model = build_model("bl-vgg-small", num_outputs=char_tokenizer.vocab_size, in_channels=1, num_mel_bins=40,
                        time_subsampling=TIME_SUBSAMPLING).eval()
    labels = torch.tensor([char_tokenizer.encode("too")] * 2)
    with torch.no_grad():
        logits, out_lengths = model(torch.randn(2, 1, 40, 17), torch.tensor([17, 16]))
        assert out_lengths.tolist() == [5, 4]
        for row, finite in ((0, True), (1, False)):
            loss, _ = ctc_objective(logits[row : row + 1], out_lengths[row : row + 1], labels[row : row + 1],
                                    torch.tensor([4]))
            assert bool(torch.isfinite(loss)) == finite


def test_inf_audio_is_a_counted_skip(tmp_path):
    samples = write_wav(tmp_path / "ok.wav", 1.0, subtype="FLOAT")
    samples[200] = np.inf
    soundfile.write(tmp_path / "inf.wav", samples, RATE, subtype="FLOAT")
    DataDir(wav_scp={u: str(tmp_path / f"{u}.wav") for u in ("inf", "ok")}, utt2spk={"inf": "s", "ok": "s"}).write(tmp_path)
    log = compute_features(tmp_path, jobs=1)
    assert (log.done, dict(log.reasons)) == (1, {NON_FINITE: 1})
    assert list(read_table(tmp_path / "feats.scp")) == ["ok"]


def test_a_skipped_nan_batch_leaves_the_model_finite(tmp_path):
    """The skipped batch's forward pass must not leave NaN in BatchNorm's running statistics,
    or the trained model would output NaN for every utterance in eval mode."""
    trainer = make_trainer(tmp_path, "run", nan_utterances=(3,), epochs=2)
    trainer.fit()
    assert trainer.skipped_batches == 2
    state = load_checkpoint(tmp_path / "run" / "final.pt")["model"]
    non_finite = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    assert non_finite == []
    with torch.no_grad():
        logits, _ = trainer.model.eval()(torch.randn(1, 1, 40, 60), torch.tensor([60]))
    assert torch.isfinite(logits).all()


# --------------------------------------------------------------------------- faults
def test_data_prep_killed_before_each_write_reruns_to_the_same_data_dirs(tmp_path):
    """kill -9 of the prep CLI just before each of its outputs is renamed into place, then a rerun.

    A kill leaves the temporary of the file being written (hidden, read by nothing; the feature
    stage removes its own, which are archive-sized); every visible file ends up as an
    uninterrupted run writes it.
    """
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    prep_main(prep_arguments(LDC, reference))
    outputs = sorted(file_contents(reference))
    assert {"train/text", "dev/segments", "eval2000/stm"} <= set(outputs)
    for output in outputs:
        done = subprocess.run([sys.executable, "-c", KILL_BEFORE_RENAME, output, "blspeech.data.prep",
                               *prep_arguments(LDC, killed)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == -signal.SIGKILL, (output, done.stderr[-3000:])
    prep_main(prep_arguments(LDC, killed))
    assert file_contents(killed, hidden=False) == file_contents(reference)
    assert all(re.fullmatch(r"\.[\w.]+\.\w{8}\.tmp", Path(name).name) for name in leftovers(killed))


def _wait_until_reading(fifo: Path, process: subprocess.Popen, timeout: float = 120.0) -> int:
    """Open ``fifo`` for writing once ``process`` has opened it for reading; returns our descriptor."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails with ENXIO until a reader is there
        except OSError:
            assert process.poll() is None, "the feature stage ended before reaching the stalled recording"
            assert time.monotonic() < deadline, "the feature stage never reached the stalled recording"
            time.sleep(0.02)


def test_feature_stage_killed_mid_way_reruns_to_the_same_features(tmp_path):
    """kill -9 of ``python -m blspeech.features.compute`` in the middle of its archive, then just
    before its final rename; the rerun gives byte-identical outputs and removes the temporaries."""
    audio = tmp_path / "audio"
    audio.mkdir()
    recordings = [f"rec{i}" for i in range(5)]
    for index, name in enumerate(recordings):
        write_wav(audio / f"{name}.wav", 2.0, seed=index)
    tables = DataDir(wav_scp={name: str(audio / f"{name}.wav") for name in recordings},
                     utt2spk={name: f"spk{i % 2}" for i, name in enumerate(recordings)})
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for root in (reference, killed):
        tables.write(root)
    compute_features(reference, jobs=1)

    # 1. Killed while waiting for rec2's audio (a FIFO stands in for a stalled disk), with rec0 and
    #    rec1 done and the temporary archive open.
    stalled = audio / "rec2.wav"
    stalled.rename(audio / "rec2.real")
    os.mkfifo(stalled)
    command = [sys.executable, "-m", "blspeech.features.compute", str(killed), "--jobs", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        writer = _wait_until_reading(stalled, process)
        assert [p.name for p in killed.glob(".feats.ark.*.tmp")], "the archive should be part-written"
    finally:
        process.kill()
        process.wait()
    os.close(writer)
    assert process.returncode == -signal.SIGKILL and not (killed / "feats.scp").exists()
    stalled.unlink()
    (audio / "rec2.real").rename(stalled)

    # 2. Killed just before feats.scp, the last output, is renamed into place.
    done = subprocess.run([sys.executable, "-c", KILL_BEFORE_RENAME, "feats.scp", *command[2:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert (killed / "feats.ark").exists() and not (killed / "feats.scp").exists()

    # 3. The rerun.
    assert compute_features(killed, jobs=1).done == len(recordings)
    assert leftovers(killed) == []
    for name in ("feats.ark", "cmvn.ark", "utt2num_frames", "fbank.conf"):
        assert (killed / name).read_bytes() == (reference / name).read_bytes(), name
    assert list(read_table(killed / "feats.scp")) == recordings


# --------------------------------------------------------------------------- untrusted files
SHELL_FUNCTIONS = ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput")


SHELLS = ("sh", "bash", "/bin/sh", "/bin/bash")


def _shell_calls(path: Path) -> list[str]:
    """``file:function`` (``file:<module>`` outside functions) of each call in ``path`` that hands a string to a shell."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        shell = any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords)
        program = node.args[0].elts[0] if node.args and isinstance(node.args[0], ast.List) and node.args[0].elts else None
        shell |= isinstance(program, ast.Constant) and program.value in SHELLS  # ["bash", "-c", text]
        if shell or ast.unparse(node.func) in SHELL_FUNCTIONS:
            around = [f for f in functions if f.lineno <= node.lineno <= f.end_lineno]
            name = max(around, key=lambda f: f.lineno).name if around else "<module>"
            found.append(f"{path.relative_to(REPO)}:{name}")
    return found


def test_only_wav_scp_entries_reach_a_shell():
    """One place in the package runs a shell: the reader of wav.scp entries ending in ``|``, as in
    Kaldi. Any new one fails here and needs a look (other programs are run with argument lists)."""
    calls = [call for path in sorted(PACKAGE.rglob("*.py")) for call in _shell_calls(path)]
    assert calls == ["blspeech/data/audio.py:load_recording"]


# Shell syntax as transcript words: pasted into a shell command line, every part would create a
# "pwned" file in the working dir.
SHELL_WORDS = "we went `touch pwned1` ; touch pwned2 | touch pwned3 && touch pwned4"
# Hub5 scoring gives parentheses a meaning (optionally deletable words), so this one only goes
# as far as the training text, units, lexicon and LM; the scorers refuse it as malformed.
SUBSTITUTION = "$(touch pwned5)"
# A transcript that reads like a wav.scp command, should text ever be taken for an rxspecifier.
PIPE = "uh-huh touch pwned6 |"


def test_shell_metacharacters_in_transcripts_are_never_executed(ldc, tmp_path, monkeypatch):
    """Transcripts (train) and references (eval) full of shell syntax flow through prep, units
    (tokenizer, lexicon, LM), beam search and both scorers as plain words. The working dir holds
    every output, the sclite work dir included, and no ``pwned`` file may appear anywhere."""
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    monkeypatch.chdir(sandbox)
    ms98 = ldc / "swb_ms98_transcriptions/20/2001/sw2001A-ms98-a-trans.text"
    ms98.write_text(ms98.read_text().replace("[noise] and ab[out]- about <b_aside> them_1 <e_aside> {yuppiedom}",
                                             f"{SHELL_WORDS} {SUBSTITUTION}"))
    ms98 = ldc / "swb_ms98_transcriptions/20/2001/sw2001B-ms98-a-trans.text"
    ms98.write_text(ms98.read_text().replace("uh-huh [vocalized-noise]", PIPE))
    stm = ldc / "LDC2002T43/reference/hub5e00.english.000405.stm"
    stm.write_text(stm.read_text().replace("WE WENT CAMPING ((LAST)) WEEK", SHELL_WORDS.upper()))
    prep_main(prep_arguments(ldc, sandbox / "data"))
    utt = "sw_4390-A_000140-000270"
    train_text = read_table(sandbox / "data/train/text")
    assert train_text["sw02001-A_000205-000299"] == f"{SHELL_WORDS} {SUBSTITUTION}"
    assert train_text["sw02001-B_000121-000195"] == PIPE
    assert read_table(sandbox / "data/eval2000/text")[utt] == SHELL_WORDS

    exp = Experiment(load_recipe(REPO / "recipes" / "tiny.yaml", ["data.dir=data", "exp_dir=exp"]))
    tokenizer = prepare_units(exp)
    lexicon = read_table(exp.lexicon)
    assert all(word in lexicon for word in f"{SHELL_WORDS} {SUBSTITUTION} {PIPE}".split())
    assert "$(touch" in exp.arpa.read_text()

    path = clean_path(tokenizer, SHELL_WORDS)
    (greedy,) = greedy_decode(emissions(tokenizer, path), [len(path)], tokenizer, subsampling=TIME_SUBSAMPLING)
    # The LM is loaded and queried; weight 0 because an LM of seven sentences says little.
    decoder = BeamSearchDecoder(tokenizer, exp.lexicon, exp.arpa)
    (beam,) = decoder(emissions(tokenizer, path), [len(path)], lm_weight=0.0, word_score=0.0, subsampling=TIME_SUBSAMPLING)
    assert greedy.text == beam.text == SHELL_WORDS

    write_hypotheses(sandbox / "decode", timed_words({utt: beam}), DataDir.read(sandbox / "data/eval2000").subset([utt]))
    reference = sandbox / "ref.stm"
    reference.write_text("".join(line for line in (sandbox / "data/eval2000/stm").read_text().splitlines(True)
                                 if line.startswith(";;") or " 1.40 2.70 " in line))
    backends = ["builtin", "sclite"] if sclite_backend.sctk_available() else ["builtin"]
    for backend in backends:  # the ctm, as the score stage scores it
        report = score(reference, sandbox / "decode/hyp.ctm", glm=sandbox / "data/eval2000/glm",
                       out_dir=sandbox / "score" / backend, backend=backend)
        assert (report.total.words, report.wer) == (len(SHELL_WORDS.split()), 0.0), (backend, report.summary())
    assert sorted(p.name for p in tmp_path.rglob("pwned*")) == []
