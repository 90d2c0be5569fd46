"""blspeech.hybrid building blocks on small synthetic inputs (no Kaldi fixtures needed)."""

import shlex

import kaldi_hmm_gmm as khg
import kaldiio
import numpy as np
import pytest
import torch

import blspeech.hybrid as hybrid
from blspeech.hybrid.words import PhoneSpan, TransitionTables, word_frame_spans

LEFT_TO_RIGHT = {
    1: "<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State> <State> 1 </State>",
    3: (
        "<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State> "
        "<State> 1 <PdfClass> 1 <Transition> 1 0.5 <Transition> 2 0.5 </State> "
        "<State> 2 <PdfClass> 2 <Transition> 2 0.5 <Transition> 3 0.5 </State> <State> 3 </State>"
    ),
}


def monophone_model(num_states: int) -> khg.TransitionModel:
    topology = khg.HmmTopology()
    topology.read(
        f"<Topology> <TopologyEntry> <ForPhones> 1 2 </ForPhones> {LEFT_TO_RIGHT[num_states]} </TopologyEntry> </Topology>"
    )
    tree = khg.monophone_context_dependency(phones=[1, 2], phone2num_pdf_classes=topology.get_phone_to_num_pdf_classes())
    return khg.TransitionModel(tree, topology)


def phone_alignment(model: khg.TransitionModel, phones_and_frames, *, reordered: bool) -> np.ndarray:
    """Transition-ids for phones spending ``frames`` frames in each HMM state, in Kaldi's two orders."""
    ids = {}  # (phone, hmm_state, is_self_loop) -> transition-id
    for tid in range(1, model.num_transition_ids + 1):
        _, hmm_state, _, _ = model.tuples[model.id2state[tid] - 1].__getstate__()  # (phone, hmm_state, pdfs)
        ids[model.transition_id_to_phone(tid), hmm_state, model.is_self_loop(tid)] = tid
    alignment = []
    for phone, frames_per_state in phones_and_frames:
        for state, frames in enumerate(frames_per_state):
            loops, exit_ = [ids[phone, state, True]] * (frames - 1), [ids[phone, state, False]]
            alignment += exit_ + loops if reordered else loops + exit_
    return np.array(alignment, dtype=np.int32)


@pytest.mark.parametrize("num_states", [1, 3])
@pytest.mark.parametrize("reordered", [True, False])
def test_alignment_is_cut_into_phones_in_either_order(num_states, reordered):
    model = monophone_model(num_states)
    plan = [(1, [2] * num_states), (1, [1] * num_states), (2, [3] * num_states), (1, [4] * num_states)]
    alignment = phone_alignment(model, plan, reordered=reordered)
    tables = TransitionTables(model)
    assert tables.self_loops_come_last(alignment) == reordered
    spans = tables.split_into_phones(alignment)
    lengths = [sum(frames) for _, frames in plan]
    starts = np.cumsum([0] + lengths[:-1]).tolist()
    assert spans == [PhoneSpan(p, s, s + n) for (p, _), s, n in zip(plan, starts, lengths)]


def test_alignment_ending_inside_a_phone_is_an_error():
    model = monophone_model(3)
    alignment = phone_alignment(model, [(1, [2, 2, 2])], reordered=True)[:-3]
    with pytest.raises(hybrid.WordAlignmentError, match="ends inside a phone"):
        TransitionTables(model).split_into_phones(alignment)


BOUNDARY = {1: "nonword", 2: "begin", 3: "internal", 4: "end", 5: "singleton"}


def spans(*phones):
    return [PhoneSpan(p, 10 * i, 10 * i + 10) for i, p in enumerate(phones)]


def test_phones_are_grouped_into_words():
    assert word_frame_spans(spans(1, 2, 3, 4, 1, 5, 2, 4, 1), BOUNDARY) == [(10, 40), (50, 60), (60, 80)]


@pytest.mark.parametrize("phones, message", [
    ((2, 2, 4), "begin phone .* inside a word"),
    ((1, 4), "end phone .* outside a word"),
    ((2, 1, 4), "nonword phone .* inside a word"),
    ((2, 3), "ends inside the word"),
    ((9,), "phone 9 is not in word_boundary.int"),
])
def test_impossible_phone_sequences_are_errors(phones, message):
    with pytest.raises(hybrid.WordAlignmentError, match=message):
        word_frame_spans(spans(*phones), BOUNDARY)


def test_word_count_mismatch_is_an_error():
    model = monophone_model(1)
    alignment = phone_alignment(model, [(1, [3]), (2, [2])], reordered=True)
    with pytest.raises(hybrid.WordAlignmentError, match="holds 2 words but the best path outputs 1"):
        hybrid.align_words([7], alignment, TransitionTables(model), {1: "singleton", 2: "singleton"})


def test_word_boundary_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "word_boundary.int"
    path.write_text("1 nonword\n2 middle\n")
    with pytest.raises(ValueError, match=r"word_boundary.int:2: expected"):
        hybrid.read_word_boundary(path)


def test_loglikes_are_log_posteriors_minus_log_priors():
    log_post = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], dtype=np.float32))
    log_prior = np.log(np.array([0.5, 0.25, 0.25], dtype=np.float32))
    expected = log_post - log_prior
    np.testing.assert_allclose(hybrid.loglikes_from_log_posteriors(log_post, log_prior), expected)
    from_torch = hybrid.loglikes_from_log_posteriors(torch.from_numpy(log_post), log_prior)
    assert isinstance(from_torch, torch.Tensor)
    np.testing.assert_allclose(from_torch.numpy(), expected)
    with pytest.raises(ValueError, match="3 outputs but the Kaldi tree/model has 4 pdfs"):
        hybrid.loglikes_from_log_posteriors(log_post, np.zeros(4))


def test_check_num_outputs_names_both_numbers():
    hybrid.check_num_outputs(num_pdfs=88, num_outputs=88)
    with pytest.raises(ValueError, match="has 90 outputs but the Kaldi tree/model has 88 pdfs"):
        hybrid.check_num_outputs(num_pdfs=88, num_outputs=90)


def test_loglike_export_is_kaldi_readable_and_complete_or_absent(tmp_path):
    matrices = {"a": np.random.default_rng(0).standard_normal((4, 3)), "b": np.zeros((2, 3))}
    export = hybrid.write_loglikes(tmp_path, matrices.items(), num_pdfs=3)
    back = kaldiio.load_scp(str(export.scp))
    for utt, matrix in matrices.items():
        assert back[utt].dtype == np.float32
        np.testing.assert_array_equal(back[utt], matrix.astype(np.float32))
    for bad, message in [
        ({"c": np.zeros((2, 4))}, "4 outputs but the Kaldi tree/model has 3 pdfs"),
        ({"c": np.full((2, 3), np.nan)}, "utterance c: .* inf or nan"),
        ({"c d": np.zeros((2, 3))}, "whitespace"),
        ([("c", np.zeros((2, 3))), ("c", np.ones((2, 3)))], "utterance c appears twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            hybrid.write_loglikes(tmp_path / "bad", bad.items() if isinstance(bad, dict) else bad, num_pdfs=3)
        assert not (tmp_path / "bad" / "loglikes.scp").exists() and not (tmp_path / "bad" / "loglikes.ark").exists()


def test_a_reexport_that_dies_before_its_scp_leaves_no_stale_scp(tmp_path, monkeypatch):
    hybrid.write_loglikes(tmp_path, [("a", np.zeros((4, 3)))], num_pdfs=3)
    with pytest.raises(ValueError, match="4 outputs"):  # refused: the earlier export stays whole
        hybrid.write_loglikes(tmp_path, [("b", np.ones((9, 4)))], num_pdfs=3)
    np.testing.assert_array_equal(kaldiio.load_scp(str(tmp_path / "loglikes.scp"))["a"], np.zeros((4, 3)))

    def die(*args, **kwargs):
        raise OSError("killed between the ark and the scp")

    monkeypatch.setattr("blspeech.hybrid.loglikes.write_text_atomic", die)
    with pytest.raises(OSError, match="killed"):
        hybrid.write_loglikes(tmp_path, [("b", np.ones((9, 3)))], num_pdfs=3)
    # The new ark is in place; an scp still listing "a" at its old offset would read garbage.
    assert (tmp_path / "loglikes.ark").exists() and not (tmp_path / "loglikes.scp").exists()


def test_latgen_command_line():
    command = hybrid.latgen_command("exp/run/export", model="exp/tri4/final.mdl", graph="exp/tri4/graph/HCLG.fst")
    assert shlex.split(command) == [
        "latgen-faster-mapped", "--max-active=7000", "--beam=13.0", "--lattice-beam=8.0", "--acoustic-scale=0.1",
        "--allow-partial=true", "exp/tri4/final.mdl", "exp/tri4/graph/HCLG.fst", "ark:exp/run/export/loglikes.ark",
        "ark:|gzip -c > exp/run/export/lat.1.gz",
    ]


def test_counts_file_format(tmp_path):
    path = tmp_path / "counts"
    hybrid.write_counts(path, np.array([3, 0, 1234567]))
    assert path.read_text() == " [ 3 0 1234567 ]\n"
    hybrid.write_counts(path, np.array([0.5, 2.0]))
    assert path.read_text() == " [ 0.5 2 ]\n"
    path.write_text("[ 1 2\n 3 ]\n")  # Kaldi readers accept any whitespace
    np.testing.assert_array_equal(hybrid.read_counts(path), [1, 2, 3])
    kaldiio.save_mat(str(path), np.array([4, 5], dtype=np.float32))  # binary Kaldi vector
    np.testing.assert_array_equal(hybrid.read_counts(path), [4, 5])
    path.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="counts: expected a Kaldi text vector"):
        hybrid.read_counts(path)


def test_counting_checks_pdf_ids_and_unseen_pdfs_are_switched_off():
    with pytest.raises(hybrid.AlignmentError, match="utterance u2: pdf-id 5"):
        hybrid.count_pdfs([("u1", np.array([0, 1])), ("u2", np.array([5]))], num_pdfs=3)
    counts = hybrid.count_pdfs([("u1", np.array([0, 0, 1]))], num_pdfs=3)
    np.testing.assert_array_equal(counts, [2, 1, 0])
    priors = hybrid.log_priors(counts, floor=1e-4)
    np.testing.assert_allclose(priors[:2], np.log([2 / 3, 1 / 3]), rtol=1e-6)
    # An untrained output must not win: the unseen pdf's small posterior stays far below the others.
    loglikes = hybrid.loglikes_from_log_posteriors(np.log([[0.9, 0.1 - 1e-5, 1e-5]]), priors)
    assert np.isfinite(loglikes).all() and loglikes.argmax() == 0 and loglikes[0, 2] < -1e9
    with pytest.raises(ValueError, match="prior floor must be in"):
        hybrid.log_priors(counts, floor=0.0)


@pytest.mark.parametrize("text", [" [ 1 nan 3 ]\n", " [ 1 inf ]\n", " [ 1 -2 ]\n", " [ ]\n"])
def test_counts_that_are_not_finite_non_negative_numbers_are_refused(tmp_path, text):
    path = tmp_path / "bad.counts"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.counts: counts must be"):
        hybrid.read_counts(path)


def test_binary_counts_are_checked_too(tmp_path):
    path = tmp_path / "bad.counts"
    kaldiio.save_mat(str(path), np.array([4, np.nan], dtype=np.float32))
    with pytest.raises(ValueError, match="bad.counts: counts must be"):
        hybrid.read_counts(path)


def test_importing_kaldifst_first_fails_fast_instead_of_hanging():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", "import kaldifst; import blspeech.hybrid"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "blspeech must be imported before kaldifst" in run.stderr
