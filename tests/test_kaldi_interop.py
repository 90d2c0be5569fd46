"""blspeech.hybrid against files made by real Kaldi binaries (../shared/kaldi-fixtures).

Each test compares with what Kaldi itself produced: ali-to-pdf's pdf alignments,
latgen-faster-mapped's words, lattice-align-words + nbest-to-ctm's word times.
"""

import gzip
import shlex
from pathlib import Path

import kaldiio
import numpy as np
import pytest

import blspeech.hybrid as hybrid
from blspeech.hybrid.kaldi_serialization import KaldiFormatError

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "kaldi-fixtures"
pytestmark = pytest.mark.skipif(
    not (FIXTURES / "exp" / "final.mdl").is_file(), reason=f"real-Kaldi fixtures not found at {FIXTURES}"
)
EXP, LANG, DATA = FIXTURES / "exp", FIXTURES / "lang", FIXTURES / "data"
WORD_BOUNDARY = LANG / "phones" / "word_boundary.int"


def kaldi_pdf_count() -> int:
    return int((EXP / "num_pdfs").read_text())


@pytest.fixture(scope="module")
def model_from_mdl():
    return hybrid.read_transition_model(EXP / "final.mdl")


@pytest.fixture(scope="module")
def model_from_tree():
    return hybrid.transition_model_from_tree(EXP / "tree", LANG / "topo")


@pytest.fixture(scope="module")
def fixture_loglikes() -> dict:
    return dict(kaldiio.load_ark(str(EXP / "loglikes.ark")))


@pytest.fixture(scope="module")
def decoded(model_from_tree, fixture_loglikes):
    return hybrid.decode_loglikes(
        EXP / "HCLG.fst", model_from_tree, fixture_loglikes, LANG / "words.txt", word_boundary=WORD_BOUNDARY
    )


def kaldi_table(path: Path) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.parametrize("source", ["final.mdl", "tree+topo"])
def test_pdf_mapping_equals_kaldi_ali_to_pdf(source, model_from_mdl, model_from_tree):
    model = model_from_mdl if source == "final.mdl" else model_from_tree
    ours = dict(hybrid.pdf_alignments(hybrid.read_int32_vectors(EXP / "ali.txt"), model))
    kaldi = dict(hybrid.read_pdf_alignments(EXP / "pdf_ali.txt", kaldi_pdf_count()))
    assert sorted(ours) == sorted(kaldi) and len(kaldi) == 5
    for utt, pdfs in kaldi.items():
        np.testing.assert_array_equal(ours[utt], pdfs, err_msg=utt)


def test_final_mdl_and_tree_topo_give_the_same_model(model_from_mdl, model_from_tree):
    assert model_from_mdl.num_pdfs == model_from_tree.num_pdfs == kaldi_pdf_count()
    assert str(model_from_mdl.topo) == str(model_from_tree.topo)
    assert [str(t) for t in model_from_mdl.tuples] == [str(t) for t in model_from_tree.tuples]
    assert model_from_mdl.state2id == model_from_tree.state2id
    assert model_from_mdl.id2state == model_from_tree.id2state
    assert model_from_mdl.id2pdf_id == model_from_tree.id2pdf_id
    np.testing.assert_allclose(model_from_mdl.log_probs, model_from_tree.log_probs, atol=1e-6)
    np.testing.assert_allclose(model_from_mdl.non_self_loop_log_probs, model_from_tree.non_self_loop_log_probs, atol=1e-6)


def test_text_model_file_reads_like_binary(tmp_path, model_from_mdl):
    # str() is kaldi-hmm-gmm's port of Kaldi's text-mode Write (what gmm-copy --binary=false gives).
    text_model = tmp_path / "final.txt.mdl"
    text_model.write_text(str(model_from_mdl))
    assert str(hybrid.read_transition_model(text_model)) == str(model_from_mdl)


def test_truncated_model_fails_naming_the_file(tmp_path):
    broken = tmp_path / "final.mdl"
    broken.write_bytes((EXP / "final.mdl").read_bytes()[:700])
    with pytest.raises(KaldiFormatError, match="final.mdl"):
        hybrid.read_transition_model(broken)


def test_num_pdfs_from_model_and_tree_files():
    assert hybrid.num_pdfs(EXP / "final.mdl") == hybrid.num_pdfs(EXP / "tree") == kaldi_pdf_count()
    assert hybrid.num_pdfs(EXP / "mono_final.mdl") == hybrid.num_pdfs(EXP / "mono_tree")
    assert hybrid.num_pdfs(EXP / "mono_tree") != kaldi_pdf_count()


def test_load_transition_model_wants_one_source():
    with pytest.raises(ValueError, match="not both"):
        hybrid.load_transition_model(EXP / "final.mdl", tree=EXP / "tree", topo=LANG / "topo")
    with pytest.raises(ValueError, match=rf"both a tree and a topo file \(got tree {EXP / 'tree'}, topo none\)"):
        hybrid.load_transition_model(tree=EXP / "tree")


def test_gzipped_binary_alignments_as_kaldi_writes_them(tmp_path):
    text = dict(hybrid.read_int32_vectors(EXP / "ali.txt"))
    utts = sorted(text)
    ali_dir = tmp_path / "tri_ali"
    ali_dir.mkdir()
    for job, part in ((1, utts[:2]), (2, utts[2:])):  # ali.N.gz: gzipped binary arks of int32 vectors
        with gzip.open(ali_dir / f"ali.{job}.gz", "wb") as handle:
            kaldiio.save_ark(handle, {u: text[u] for u in part})
    readings = {
        "directory": dict(hybrid.read_int32_vectors(ali_dir)),
        "file": dict(hybrid.read_int32_vectors(ali_dir / "ali.2.gz")),
        "rspecifier": dict(hybrid.read_int32_vectors(f"ark:gunzip -c {ali_dir / 'ali.1.gz'}|")),
    }
    assert list(readings["directory"]) == utts
    assert sorted(readings["file"]) + sorted(readings["rspecifier"]) == utts[2:] + utts[:2]
    for reading in readings.values():
        for utt, vector in reading.items():
            assert vector.dtype == np.int32
            np.testing.assert_array_equal(vector, text[utt])


def test_pdf_alignment_ark_reads_back_with_kaldi_io(tmp_path, model_from_mdl):
    import kaldi_io

    pdfs = dict(hybrid.pdf_alignments(hybrid.read_int32_vectors(EXP / "ali.txt"), model_from_mdl))
    assert hybrid.write_int32_vectors(tmp_path / "pdf_ali.ark", pdfs.items()) == len(pdfs)
    back = dict(kaldi_io.read_vec_int_ark(str(tmp_path / "pdf_ali.ark")))
    assert sorted(back) == sorted(pdfs)
    for utt, vector in back.items():
        np.testing.assert_array_equal(vector, pdfs[utt])


def test_transition_id_beyond_the_model_names_the_utterance():
    mono = hybrid.read_transition_model(EXP / "mono_final.mdl")  # fewer transition-ids than the triphone alignments use
    with pytest.raises(hybrid.AlignmentError, match=r"utterance utt2: transition-id 614 is outside 1\.\.588"):
        dict(hybrid.pdf_alignments(hybrid.read_int32_vectors(EXP / "ali.txt"), mono))


def test_pdf_id_beyond_the_count_names_utterance_and_value():
    with pytest.raises(hybrid.AlignmentError, match=r"utterance utt1: pdf-id 85 .* outside 0\.\.79"):
        list(hybrid.read_pdf_alignments(EXP / "pdf_ali.txt", num_pdfs=80))


def test_decode_gives_kaldi_words(decoded):
    kaldi_ids = kaldi_table(EXP / "latgen_words.int")
    kaldi_words = kaldi_table(EXP / "latgen_words.txt")
    assert sorted(decoded) == sorted(kaldi_words)
    for utt, result in decoded.items():
        assert result.words == kaldi_words[utt], utt
        assert result.reached_final
    symbols = dict(line.split() for line in (LANG / "words.txt").read_text().splitlines())
    assert {u: [symbols[w] for w in r.words] for u, r in decoded.items()} == kaldi_ids


def test_decode_word_times_equal_kaldi_ctm(decoded):
    # Turn our per-segment times into the ctm convert_ctm.pl made from Kaldi's nbest-to-ctm output.
    segments = {u: (rec, float(start)) for u, (rec, start, _) in kaldi_table(DATA / "segments").items()}
    file_channel = kaldi_table(DATA / "reco2file_and_channel")
    ours = []
    for utt in sorted(decoded):
        recording, offset = segments[utt]
        file_id, channel = file_channel[recording]
        for word, start, duration in decoded[utt].timed_words:
            ours.append(f"{file_id} {channel} {offset + start:.2f} {duration:.2f} {word}")
    assert ours == (EXP / "latgen_lmwt10.ctm").read_text().splitlines()


def test_decoding_in_chunks_changes_nothing(model_from_tree, fixture_loglikes):
    results = [
        hybrid.decode_loglikes(
            EXP / "HCLG.fst", model_from_tree, fixture_loglikes, LANG / "words.txt",
            word_boundary=WORD_BOUNDARY, chunk_frames=chunk,
        )
        for chunk in (1, 10_000)
    ]
    for utt in fixture_loglikes:
        np.testing.assert_array_equal(results[0][utt].alignment, results[1][utt].alignment)
        assert results[0][utt].log_likelihood == pytest.approx(results[1][utt].log_likelihood, rel=1e-6)


def test_decoding_a_wrong_pdf_count_names_both_numbers(model_from_tree, fixture_loglikes):
    too_narrow = {"utt1": fixture_loglikes["utt1"][:, :-1]}
    with pytest.raises(ValueError, match=r"87 outputs.*88 pdfs"):
        hybrid.decode_loglikes(EXP / "HCLG.fst", model_from_tree, too_narrow, LANG / "words.txt", word_boundary=WORD_BOUNDARY)


def test_word_boundary_defaults_to_the_graph_dir(model_from_tree):
    with pytest.raises(ValueError, match="word_boundary.int"):
        hybrid.HybridGraphDecoder(EXP / "HCLG.fst", model_from_tree, LANG / "words.txt")


def test_exported_loglikes_read_back_with_kaldi_io_and_decode_alike(tmp_path, model_from_tree, fixture_loglikes, decoded):
    import kaldi_io

    export = hybrid.write_loglikes(tmp_path / "export", fixture_loglikes.items(), num_pdfs=kaldi_pdf_count())
    assert export.num_utterances == len(fixture_loglikes)
    for reader in (kaldi_io.read_mat_ark(str(export.ark)), kaldi_io.read_mat_scp(str(export.scp))):
        back = dict(reader)
        assert sorted(back) == sorted(fixture_loglikes)
        for utt, matrix in back.items():
            assert matrix.dtype == np.float32
            np.testing.assert_array_equal(matrix, fixture_loglikes[utt])
    redecoded = hybrid.decode_loglikes(
        EXP / "HCLG.fst", model_from_tree, kaldiio.load_scp(str(export.scp)), LANG / "words.txt", word_boundary=WORD_BOUNDARY
    )
    assert {u: r.timed_words for u, r in redecoded.items()} == {u: r.timed_words for u, r in decoded.items()}
    command = shlex.split(hybrid.latgen_command(export.ark.parent, model=EXP / "final.mdl", graph=EXP / "HCLG.fst"))
    assert command[-2] == f"ark:{export.ark}"


def test_priors_from_kaldi_pdf_alignments_round_trip(tmp_path):
    counts = hybrid.count_pdfs(hybrid.read_pdf_alignments(EXP / "pdf_ali.txt", kaldi_pdf_count()), kaldi_pdf_count())
    frames = sum(len(v) for v in kaldi_table(EXP / "pdf_ali.txt").values())
    assert counts.shape == (kaldi_pdf_count(),) and counts.sum() == frames
    hybrid.write_counts(tmp_path / "ali_train_pdf.counts", counts)
    text = (tmp_path / "ali_train_pdf.counts").read_text()
    assert text.startswith(" [ ") and text.endswith(" ]\n")
    np.testing.assert_array_equal(hybrid.read_counts(tmp_path / "ali_train_pdf.counts"), counts)
    log_priors = hybrid.log_priors(counts)
    seen = counts > 0
    np.testing.assert_allclose(np.exp(log_priors[seen]), counts[seen] / frames, rtol=1e-6)
    assert (log_priors[~seen] == np.float32(hybrid.priors.UNSEEN_LOG_PRIOR)).all() and (~seen).any()


def test_command_line_tools_match_kaldi(tmp_path, capsys):
    from blspeech.hybrid.__main__ import main

    assert main(["num-pdfs", str(EXP / "tree")]) == 0
    assert capsys.readouterr().out.strip() == str(kaldi_pdf_count())
    assert main(["ali-to-pdf", "--tree", str(EXP / "tree"), "--topo", str(LANG / "topo"), str(EXP / "ali.txt"),
                 str(tmp_path / "pdf.ark")]) == 0
    ours = dict(hybrid.read_int32_vectors(tmp_path / "pdf.ark"))
    for utt, pdfs in hybrid.read_pdf_alignments(EXP / "pdf_ali.txt", kaldi_pdf_count()):
        np.testing.assert_array_equal(ours[utt], pdfs)
    assert main(["analyze-counts", "--model", str(EXP / "final.mdl"), str(EXP / "ali.txt"), str(tmp_path / "counts")]) == 0
    assert hybrid.read_counts(tmp_path / "counts").sum() == sum(len(v) for v in ours.values())


def test_command_line_tools_take_kaldi_wspecifiers_and_report_bad_files_in_one_line(tmp_path, caplog):
    from blspeech.hybrid.__main__ import main

    model = ["--model", str(EXP / "final.mdl"), f"ark:{EXP / 'ali.txt'}"]
    assert main(["ali-to-pdf", *model, f"ark,t:{tmp_path / 'pdf.txt'}"]) == 0
    assert (tmp_path / "pdf.txt").read_bytes() == (EXP / "pdf_ali.txt").read_bytes()  # as ali-to-pdf ... ark,t: writes
    assert main(["ali-to-pdf", *model, f"ark:{tmp_path / 'pdf.ark'}"]) == 0
    assert dict(hybrid.read_int32_vectors(tmp_path / "pdf.ark")).keys() == dict(
        hybrid.read_int32_vectors(EXP / "pdf_ali.txt")).keys()
    refused = [
        (["ali-to-pdf", *model, f"scp:{tmp_path / 'pdf.scp'}"], "only the wspecifiers ark:FILE and ark,t:FILE"),
        (["analyze-counts", *model, f"ark,t:{tmp_path / 'counts'}"], "writes one counts file, not a table"),
        (["num-pdfs", str(tmp_path / "missing.mdl")], "No such file or directory"),
        (["num-pdfs", str(EXP / "HCLG.fst")], "expected '<TransitionModel>'"),
    ]
    for command, message in refused:
        caplog.clear()
        assert main(command) == 1
        assert message in caplog.text and command[-1].split(":")[-1] in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdf.ark", "pdf.txt"]  # nothing written under odd names


def test_a_truncated_or_foreign_alignment_file_is_named(tmp_path):
    ali = tmp_path / "ali.1.gz"
    with gzip.open(ali, "wb") as handle:
        kaldiio.save_ark(handle, dict(hybrid.read_int32_vectors(EXP / "ali.txt")))
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "ali.1.gz").write_bytes(ali.read_bytes()[:200])
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "ali.1.gz").write_bytes((EXP / "ali.txt").read_bytes())
    for directory, error in (("cut", "EOFError"), ("text", "BadGzipFile")):
        with pytest.raises(hybrid.AlignmentError, match=rf"{tmp_path / directory / 'ali.1.gz'}: cannot read .*{error}"):
            list(hybrid.read_int32_vectors(tmp_path / directory))


def test_a_decoder_with_another_acoustic_scale_decodes_as_one_built_with_it(model_from_tree, fixture_loglikes):
    built = {scale: hybrid.HybridGraphDecoder(EXP / "HCLG.fst", model_from_tree, LANG / "words.txt",
                                              word_boundary=WORD_BOUNDARY, acoustic_scale=scale)
             for scale in (0.1, 0.02)}
    twin = built[0.1].with_acoustic_scale(0.02)
    assert built[0.1].acoustic_scale == 0.1 and twin.graph is built[0.1].graph  # the original is left as it is
    for utt, loglikes in fixture_loglikes.items():
        expected = built[0.02].decode(utt, loglikes)
        result = twin.decode(utt, loglikes)
        assert result.words == expected.words
        assert result.log_likelihood == pytest.approx(expected.log_likelihood, rel=1e-6)
        # A different weight of the acoustics moves the path's score.
        assert result.log_likelihood != pytest.approx(built[0.1].decode(utt, loglikes).log_likelihood, rel=1e-3)
    with pytest.raises(ValueError, match="acoustic_scale must be positive"):
        built[0.1].with_acoustic_scale(0.0)


def test_lm_weights_that_are_not_positive_are_refused_before_any_decoding(model_from_tree, tmp_path):
    from blspeech.config import load_recipe
    from blspeech.decode.recognize import decode_hybrid_sets
    from blspeech.experiment import Experiment

    exp = Experiment(load_recipe(None, ["hybrid.lm_weights=[10, 0]"]))
    decoder = hybrid.HybridGraphDecoder(EXP / "HCLG.fst", model_from_tree, LANG / "words.txt", word_boundary=WORD_BOUNDARY)

    def loglikes_of(name):
        raise AssertionError(f"{name} was read before the weights were checked")

    with pytest.raises(ValueError, match=r"hybrid.lm_weights must be positive, got \[10.0, 0.0\]"):
        decode_hybrid_sets(exp, loglikes_of, decoder, tmp_path)


def test_unusable_loglikes_are_errors_not_empty_hypotheses(model_from_tree, fixture_loglikes):
    from blspeech.decode.recognize import decode_hybrid

    decoder = hybrid.HybridGraphDecoder(EXP / "HCLG.fst", model_from_tree, LANG / "words.txt", word_boundary=WORD_BOUNDARY)
    utt, loglikes = next(iter(fixture_loglikes.items()))
    narrow = {utt: loglikes[:, :-1]}  # a network built for another tree
    with pytest.raises(ValueError, match=f"has {loglikes.shape[1] - 1} outputs but .* {loglikes.shape[1]} pdfs"):
        decode_hybrid(narrow, decoder)
    broken = loglikes.copy()
    broken[:, 3] = np.inf  # the search alone would return words, scored nan
    with pytest.raises(ValueError, match=f"utterance {utt}: log-likelihoods contain inf or nan"):
        decode_hybrid({utt: broken}, decoder)
    assert decode_hybrid({utt: loglikes}, decoder)[utt]  # the same utterance, intact, decodes to words


def test_a_recipe_without_a_decoding_graph_is_told_so():
    from blspeech.config import load_recipe
    from blspeech.decode.recognize import hybrid_graph_decoder

    with pytest.raises(ValueError, match="no decoding graph: set hybrid.graph in the recipe or give --graph"):
        hybrid_graph_decoder(load_recipe(None, ["model.output=hybrid"]))
