"""blspeech.export on small trained-looking runs: TorchScript/ONNX files reproduce the eager model,
features.json describes the inputs, and hybrid log-likelihood arks read back with kaldi_io."""

from __future__ import annotations

import json
from pathlib import Path

import kaldi_io
import numpy as np
import onnxruntime
import pytest
import torch

import blspeech.hybrid  # noqa: F401  (imports kaldi_hmm_gmm before kaldifst)
from blspeech.config import Recipe, to_dict
from blspeech.data.kaldi_dir import write_table
from blspeech.export import ExportVerificationError, export_loglikes, export_model
from blspeech.export import model_files
from blspeech.export.__main__ import main
from blspeech.features.ark import write_ark
from blspeech.features.cmvn import CmvnAccumulator, write_cmvn_stats
from blspeech.features.fbank import FbankOptions
from blspeech.hybrid.priors import write_counts
from blspeech.hybrid_training import PRIOR_COUNTS
from blspeech.loader import FeatureDataset
from blspeech.models import build_model
from blspeech.tokenizer import train_tokenizer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "kaldi-fixtures"
needs_kaldi_fixtures = pytest.mark.skipif(not (FIXTURES / "exp" / "final.mdl").is_file(),
                                          reason=f"real-Kaldi fixtures not found at {FIXTURES}")
MEL_BINS = 40
FRAMES = {"spk1-utt1": 23, "spk1-utt2": 40, "spk2-utt1": 31, "spk2-utt2": 9}
KALDI_PDFS = 88  # pdf count of the fixtures' triphone final.mdl (exp/num_pdfs)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_data_dir(root: Path) -> Path:
    """Random log-mel features for two speakers with per-speaker CMVN stats."""
    rng = np.random.default_rng(0)
    feats = {utt: rng.normal(5.0, 2.0, size=(frames, MEL_BINS)).astype(np.float32) for utt, frames in FRAMES.items()}
    utt2spk = {utt: utt.split("-")[0] for utt in feats}
    stats = CmvnAccumulator()
    for utt, matrix in feats.items():
        stats.add(utt2spk[utt], matrix)
    root.mkdir(parents=True)
    write_table(root / "feats.scp", write_ark(root / "feats.ark", feats.items()))
    write_table(root / "utt2spk", utt2spk)
    write_cmvn_stats(root, stats.stats)
    return root


def make_run(run_dir: Path, objective: str, num_outputs: int, sample_rate: int | None = 8000,
             **hybrid_settings) -> torch.nn.Module:
    """A ``final.pt`` as Trainer.finalize writes it, with BN statistics that are not the identity;
    ``sample_rate`` None leaves out the rate (as runs of earlier versions did)."""
    recipe = Recipe()
    recipe.features.channels, recipe.features.cmvn, recipe.features.norm_vars = 1, "speaker", True
    recipe.data.dir = str(run_dir.parent / "data")  # none there: the rate is only what final.pt says
    for key, value in hybrid_settings.items():
        setattr(recipe.hybrid, key, value)
    torch.manual_seed(0)
    model = build_model("vgg-small", num_outputs=num_outputs, in_channels=1, num_mel_bins=MEL_BINS, output=objective)
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            buffer.uniform_(0.5, 1.5)
    run_dir.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "averaged_steps": [], "recipe": to_dict(recipe),
                "model_config": model.config, "objective": objective, "sample_rate": sample_rate}, run_dir / "final.pt")
    return model.eval()


def make_hybrid_run(run_dir: Path, num_outputs: int = KALDI_PDFS, sample_rate: int | None = 8000,
                    **hybrid_settings) -> tuple[torch.nn.Module, np.ndarray]:
    model = make_run(run_dir, "hybrid", num_outputs, sample_rate, **hybrid_settings)
    counts = np.random.default_rng(1).integers(1, 50, size=num_outputs)
    write_counts(run_dir / PRIOR_COUNTS, counts)
    return model, counts


def make_ctc_run(exp_dir: Path, extra_outputs: int = 0) -> tuple[torch.nn.Module, Path]:
    texts = ["hello world", "the big dog", "yes no yes"]
    tokenizer = train_tokenizer(texts, exp_dir / "tokenizer", kind="char")
    run_dir = exp_dir / "vgg-small"
    return make_run(run_dir, "ctc", tokenizer.vocab_size + extra_outputs), run_dir


@pytest.fixture(scope="module")
def hybrid_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("hybrid")
    model, counts = make_hybrid_run(root / "exp" / "vgg-small")
    result = export_model(root / "exp" / "vgg-small")
    return model, counts, result


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_exported_files_reproduce_the_eager_model(hybrid_export):
    model, _, result = hybrid_export
    assert result.out_dir.name == "export" and result.torchscript_method == "script"
    scripted = torch.jit.load(str(result.out_dir / "model.ts"))
    session = onnxruntime.InferenceSession(str(result.out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(7)
    for frames, lengths in ((29, [29, 12]), (6, [6])):  # lengths the export's own check did not use
        x = torch.randn(len(lengths), 1, MEL_BINS, frames, generator=generator)
        lengths = torch.tensor(lengths)
        with torch.no_grad():
            expected, expected_lengths = model(x, lengths)
            logits, out_lengths = scripted(x, lengths)
        torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
        assert torch.equal(out_lengths, expected_lengths)
        onnx_logits, onnx_lengths = session.run(None, {"features": x.numpy(), "lengths": lengths.numpy()})
        np.testing.assert_allclose(onnx_logits, expected.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_array_equal(onnx_lengths, expected_lengths.numpy())


def test_verification_record(hybrid_export):
    _, _, result = hybrid_export
    record = json.loads((result.out_dir / "verification.json").read_text())
    assert record["passed"] and record["tolerance"] == 1e-4
    assert set(record["files"]) == {"model.ts", "model.onnx"}
    for name, check in record["files"].items():
        assert check["passed"] and check["lengths_equal"] and 0 <= check["max_abs_diff"] <= 1e-4
        assert check["max_abs_diff"] == result.max_abs_diff[name]
    assert len({entry["frames"] for entry in record["inputs"]}) > 1


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_verification_compares_each_exported_file_with_the_eager_model(tmp_path):
    import copy

    model, _ = make_hybrid_run(tmp_path / "run")
    inputs = model_files.check_inputs(model)
    drifted = copy.deepcopy(model)
    with torch.no_grad():
        drifted.head.classify.bias.add_(0.01)  # an export of other weights: off by 0.01 everywhere
    torchscript, _ = model_files.torchscript_bytes(drifted, inputs[0])
    results = model_files.verify_exports(model, torchscript, model_files.onnx_bytes(model, inputs[0]), inputs)
    assert not results["model.ts"]["passed"] and results["model.ts"]["max_abs_diff"] == pytest.approx(0.01, rel=1e-3)
    assert results["model.onnx"]["passed"] and results["model.onnx"]["max_abs_diff"] <= model_files.TOLERANCE


def test_features_json_describes_inputs_outputs_and_units(hybrid_export, tmp_path):
    _, counts, result = hybrid_export
    spec = json.loads((result.out_dir / "features.json").read_text())
    assert spec["features"]["kaldi_fbank"]["num_mel_bins"] == MEL_BINS
    assert spec["features"]["kaldi_fbank"]["frame_shift_ms"] == 10.0
    assert spec["features"]["cmvn"] == {**spec["features"]["cmvn"], "mode": "speaker", "norm_vars": True}
    assert spec["features"]["channels"] == 1 and spec["features"]["deltas"] is None
    assert spec["features"]["kaldi_pipeline"].startswith("apply-cmvn --norm-vars=true --utt2spk=")
    fbank_conf = (result.out_dir / spec["files"]["fbank_conf"]).read_text().split()
    assert "--num-mel-bins=40" in fbank_conf and "--frame-shift=10" in fbank_conf
    # compute-fbank-feats assumes 16000 Hz without it and refuses the model's 8 kHz audio
    assert "--sample-frequency=8000" in fbank_conf and spec["features"]["sample_frequency"] == 8000
    assert spec["features"]["sample_scale"]["factor"] == 32768.0  # Kaldi's filterbank sees 16-bit PCM values
    assert "run an utterance alone" in spec["input"]["features"]["note"]
    assert spec["units"]["loglikelihoods"].startswith("log_softmax(logits) - log(count / sum(counts))")
    assert (spec["units"]["acoustic_scale"], spec["units"]["acoustic_scale_source"]) == (0.1, "the recipe's")
    assert spec["input"]["features"]["layout"] == "(B, C, F, T)"
    assert spec["output"]["time_subsampling"] == 1 and spec["output"]["frame_shift_ms"] == 10.0
    assert spec["units"]["kind"] == "hybrid" and spec["units"]["num_pdfs"] == KALDI_PDFS
    priors = result.out_dir / spec["units"]["priors"]
    assert priors.read_bytes() == (result.out_dir.parent / PRIOR_COUNTS).read_bytes()
    rebuilt = build_model(**spec["model"]["config"])
    assert rebuilt.num_outputs == KALDI_PDFS
    for name in spec["files"].values():
        assert (result.out_dir / name).is_file(), name


def test_hybrid_export_states_the_acoustic_scale_tuned_on_dev(tmp_path):
    make_hybrid_run(tmp_path / "run", acoustic_scale=0.1)
    (tmp_path / "run" / "decode.json").write_text(json.dumps({"acoustic_scale": 0.0833}))
    units = json.loads((export_model(tmp_path / "run").out_dir / "features.json").read_text())["units"]
    assert (units["acoustic_scale"], units["acoustic_scale_source"]) == (0.0833, "tuned on dev")


def test_run_without_a_recorded_sample_rate_exports_a_warned_fbank_conf_without_one(tmp_path, caplog):
    make_hybrid_run(tmp_path / "exp" / "vgg-small", sample_rate=None)
    result = export_model(tmp_path / "exp" / "vgg-small")
    assert "--sample-frequency" not in (result.out_dir / "fbank.conf").read_text()
    assert json.loads((result.out_dir / "features.json").read_text())["features"]["sample_frequency"] is None
    assert "does not record the sample rate of its training audio" in caplog.text


def test_ctc_export_writes_tokens_and_subsampled_frame_rate(tmp_path):
    model, run_dir = make_ctc_run(tmp_path / "exp")
    result = export_model(run_dir, tmp_path / "out")
    spec = json.loads((tmp_path / "out" / "features.json").read_text())
    assert spec["units"]["kind"] == "ctc" and spec["units"]["blank_id"] == 0
    assert "output i > 0 the tokenizer's piece i - 1" in spec["units"]["note"]
    assert spec["output"]["time_subsampling"] == 4 and spec["output"]["frame_shift_ms"] == 40.0
    tokens = (tmp_path / "out" / "tokens.txt").read_text().splitlines()
    assert len(tokens) == model.num_outputs and tokens[0].split()[1] == "0"
    assert (tmp_path / "out" / "tokenizer.model").read_bytes() == (tmp_path / "exp" / "tokenizer.model").read_bytes()
    assert set(result.max_abs_diff) == {"model.ts", "model.onnx"}


def test_tokenizer_that_does_not_fit_the_model_is_named(tmp_path):
    model, run_dir = make_ctc_run(tmp_path / "exp", extra_outputs=3)
    message = rf"tokenizer.model has {model.num_outputs - 3} units .* {model.num_outputs} outputs"
    with pytest.raises(ValueError, match=message):
        export_model(run_dir)


def test_failed_verification_names_the_file_and_writes_no_model(tmp_path, monkeypatch):
    make_hybrid_run(tmp_path / "run")
    monkeypatch.setattr(model_files, "TOLERANCE", -1.0)  # no difference can pass a negative tolerance
    with pytest.raises(ExportVerificationError, match=r"model\.ts: max abs diff .*tolerance -1"):
        export_model(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "export" / "verification.json").read_text())
    assert record["passed"] is False
    # Nothing but the record: not the models, nor the priors they would be decoded with.
    assert [path.name for path in (tmp_path / "run" / "export").iterdir()] == ["verification.json"]


def test_loglikes_read_back_with_kaldi_io_as_log_softmax_minus_log_prior(tmp_path):
    model, counts = make_hybrid_run(tmp_path / "run")
    data = make_data_dir(tmp_path / "data")
    export = export_loglikes(tmp_path / "run", data, tmp_path / "out")
    assert export.ark.num_utterances == len(FRAMES)
    assert f" final.mdl HCLG.fst ark:{tmp_path / 'out' / 'loglikes.ark'} " in export.latgen_command
    from_ark = dict(kaldi_io.read_mat_ark(str(tmp_path / "out" / "loglikes.ark")))
    from_scp = dict(kaldi_io.read_mat_scp(str(tmp_path / "out" / "loglikes.scp")))
    assert list(from_ark) == sorted(FRAMES) and from_ark.keys() == from_scp.keys()
    log_prior = np.log(counts / counts.sum())
    dataset = FeatureDataset(data, cmvn="speaker", norm_vars=True, channels=1)
    for index, utt in enumerate(dataset.utt_ids):
        feats = dataset[index].feats.unsqueeze(0)
        with torch.no_grad():
            logits, _ = model(feats, torch.tensor([feats.shape[-1]]))
        expected = logits[0].log_softmax(dim=-1).numpy() - log_prior
        assert from_ark[utt].dtype == np.float32 and from_ark[utt].shape == (FRAMES[utt], KALDI_PDFS)
        np.testing.assert_allclose(from_ark[utt], expected, atol=1e-4, rtol=0)
        np.testing.assert_array_equal(from_scp[utt], from_ark[utt])


@needs_kaldi_fixtures
@pytest.mark.parametrize("given_by", ["argument", "recipe"])
def test_wrong_pdf_count_names_both_numbers(tmp_path, given_by):
    final_mdl = FIXTURES / "exp" / "final.mdl"
    make_hybrid_run(tmp_path / "run", num_outputs=20, transition_model=str(final_mdl) if given_by == "recipe" else "")
    data = make_data_dir(tmp_path / "data")
    kaldi_pdfs = int((FIXTURES / "exp" / "num_pdfs").read_text())
    with pytest.raises(ValueError, match=rf"20 outputs .* {kaldi_pdfs} pdfs"):
        export_loglikes(tmp_path / "run", data, tmp_path / "out",
                        transition_model=final_mdl if given_by == "argument" else None)
    assert not (tmp_path / "out" / "loglikes.ark").exists()


def test_priors_that_do_not_fit_the_model_are_named(tmp_path):
    make_hybrid_run(tmp_path / "run", num_outputs=20)
    write_counts(tmp_path / "counts", np.ones(21))
    with pytest.raises(ValueError, match=r"counts has 21 pdf counts but the model .* has 20 outputs"):
        export_loglikes(tmp_path / "run", make_data_dir(tmp_path / "data"), tmp_path / "out",
                        priors=tmp_path / "counts")


def test_loglikes_of_features_unlike_the_models_are_refused(tmp_path):
    make_hybrid_run(tmp_path / "run", num_outputs=20)
    data = make_data_dir(tmp_path / "data")
    (data / "fbank.conf").write_text(FbankOptions(num_mel_bins=MEL_BINS).kaldi_config(16000))
    with pytest.raises(ValueError, match=r"--sample-frequency 16000 \(the model's 8000\)"):
        export_loglikes(tmp_path / "run", data, tmp_path / "out")
    assert not (tmp_path / "out" / "loglikes.ark").exists()


def test_ctc_run_refuses_loglikes(tmp_path):
    _, run_dir = make_ctc_run(tmp_path / "exp")
    with pytest.raises(ValueError, match="'ctc' model: its outputs are not pdf posteriors"):
        export_loglikes(run_dir, make_data_dir(tmp_path / "data"), tmp_path / "out")


@needs_kaldi_fixtures
def test_cli_exports_loglikes_and_prints_the_recipes_latgen_command(tmp_path, capsys):
    final_mdl = FIXTURES / "exp" / "final.mdl"
    make_hybrid_run(tmp_path / "run", transition_model=str(final_mdl), graph="graph/HCLG.fst", acoustic_scale=0.08)
    data = make_data_dir(tmp_path / "data")
    assert main(["loglikes", "--exp", str(tmp_path / "run"), "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    command = capsys.readouterr().out.strip()
    assert command.startswith("latgen-faster-mapped ") and "--acoustic-scale=0.08" in command
    assert f"{final_mdl} graph/HCLG.fst ark:{tmp_path / 'out' / 'loglikes.ark'} " in command
    assert len(dict(kaldi_io.read_mat_scp(str(tmp_path / "out" / "loglikes.scp")))) == len(FRAMES)


@needs_kaldi_fixtures
def test_latgen_command_has_the_tuned_acoustic_scale_and_the_graphs_words_and_no_tree(tmp_path, caplog):
    final_mdl = FIXTURES / "exp" / "final.mdl"
    make_hybrid_run(tmp_path / "run", transition_model=str(final_mdl), graph=str(FIXTURES / "exp" / "HCLG.fst"))
    (tmp_path / "run" / "decode.json").write_text(json.dumps({"acoustic_scale": 0.125}))
    graph = tmp_path / "graph" / "HCLG.fst"
    graph.parent.mkdir(exist_ok=True)
    graph.write_bytes((FIXTURES / "exp" / "HCLG.fst").read_bytes())
    (graph.parent / "words.txt").write_text((FIXTURES / "lang" / "words.txt").read_text())
    data = make_data_dir(tmp_path / "data")
    command = export_loglikes(tmp_path / "run", data, tmp_path / "out", graph=graph).latgen_command
    assert "--acoustic-scale=0.125" in command and f"--word-symbol-table={graph.parent / 'words.txt'}" in command
    assert "placeholder" not in caplog.text
    with pytest.raises(ValueError, match="is a Kaldi tree; latgen-faster-mapped decodes with the transition model"):
        export_loglikes(tmp_path / "run", data, tmp_path / "out2", transition_model=FIXTURES / "exp" / "tree")
    make_hybrid_run(tmp_path / "bare")
    export_loglikes(tmp_path / "bare", data, tmp_path / "out3")
    assert "names final.mdl and HCLG.fst as a placeholder" in caplog.text
    make_hybrid_run(tmp_path / "named", words="lang/words.txt")  # the recipe's own words.txt, named as it is
    command = export_loglikes(tmp_path / "named", data, tmp_path / "out4", graph=graph).latgen_command
    assert "--word-symbol-table=lang/words.txt" in command


def test_cli_model_export_and_errors(tmp_path, capsys):
    make_hybrid_run(tmp_path / "run")
    assert main(["model", "--exp", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) == 0
    assert str(tmp_path / "out" / "model.onnx") in capsys.readouterr().out.splitlines()
    assert main(["model", "--exp", str(tmp_path / "missing")]) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["loglikes", "--help"])
    assert exit_info.value.code == 0
    assert "--model" in capsys.readouterr().out


def test_model_that_does_not_script_is_traced_and_checked_on_other_lengths(tmp_path, monkeypatch):
    make_hybrid_run(tmp_path / "run")

    def unscriptable(module):
        raise RuntimeError("Python builtin <built-in function id> is currently not supported in Torchscript")

    monkeypatch.setattr(torch.jit, "script", unscriptable)
    result = export_model(tmp_path / "run")
    assert result.torchscript_method == "trace"
    record = json.loads((result.out_dir / "verification.json").read_text())
    assert record["files"]["model.ts"]["method"] == "trace" and record["files"]["model.ts"]["passed"]
