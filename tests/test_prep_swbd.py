"""Data prep on a fixture that copies the real LDC97S62 + ms98 + Hub5'00 file naming (tests/fixtures/ldc)."""

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from blspeech.data.audio import load_recording
from blspeech.data.kaldi_dir import DataDir, read_table
from blspeech.data.swbd import (
    CorpusError,
    cap_duplicates,
    kaldi_utterance_id,
    ms98_transcript_path,
    prepare_eval2000,
    prepare_switchboard,
    prepare_train,
    read_ms98_transcript,
)

FIXTURE = Path(__file__).parent / "fixtures" / "ldc"
SWB1, MS98 = FIXTURE / "LDC97S62", FIXTURE / "swb_ms98_transcriptions"
HUB5, HUB5_TEXT = FIXTURE / "LDC2002S09", FIXTURE / "LDC2002T43"


@pytest.fixture()
def ldc(tmp_path):
    """A writable copy of the fixture, for tests that break it."""
    shutil.copytree(FIXTURE, tmp_path / "ldc")
    return tmp_path / "ldc"


def test_train_ids_text_and_tables_are_kaldis():
    data = prepare_train(SWB1, MS98)
    assert data.utterances == [
        "sw02001-A_000051-000180",
        "sw02001-A_000205-000299",
        "sw02001-B_000121-000195",
        "sw02001-B_000195-000340",
        "sw02005-A_000025-000145",
        "sw02005-A_000155-000295",
        "sw02005-B_000085-000155",
    ]
    assert data.text["sw02001-A_000051-000180"] == "hi um yeah i'd like to talk about how you dress for work"
    assert data.text["sw02001-A_000205-000299"] == "[noise] and ab- about them yuppiedom"
    assert data.text["sw02001-B_000195-000340"] == "well it'n that -y [laughter]"
    assert data.utt2spk["sw02001-B_000121-000195"] == "sw02001-B"
    assert data.reco2file_and_channel == {
        "sw02001-A": ("sw02001", "A"), "sw02001-B": ("sw02001", "B"), "sw02005-A": ("sw02005", "A"), "sw02005-B": ("sw02005", "B"),
    }
    assert data.segments["sw02001-A_000051-000180"].start == 0.51 and data.segments["sw02001-A_000051-000180"].end == 1.80
    # 3.40 ends 0.40 s past the 3.00 s of audio: clipped, as Kaldi's extract-segments does; the id keeps the original time.
    assert data.segments["sw02001-B_000195-000340"].end == 3.0


def test_wav_scp_reads_the_right_channel_of_the_right_file():
    data = prepare_train(SWB1, MS98)
    both, rate = soundfile.read(SWB1 / "swb1_d1/data/sw02001.sph", dtype="float32")
    for channel, side in enumerate("AB"):
        command = data.wav_scp[f"sw02001-{side}"]
        assert command.endswith(f"remix {channel + 1} |") and str((SWB1 / "swb1_d1/data/sw02001.sph").resolve()) in command
        samples, got_rate = load_recording(command)
        assert got_rate == rate == 8000 and samples.shape == both[:, channel].shape
        np.testing.assert_allclose(samples, both[:, channel], atol=1 / 16384)


def test_sph2pipe_commands_as_in_kaldi():
    data = prepare_train(SWB1, MS98, sph_reader="sph2pipe")
    assert data.wav_scp["sw02005-B"] == f"sph2pipe -f wav -p -c 2 {(SWB1 / 'swb1_d2/data/sw02005.sph').resolve()} |"
    with pytest.raises(ValueError, match="sph reader"):
        prepare_train(SWB1, MS98, sph_reader="ffmpeg")


def test_skips_are_counted_and_name_the_files(caplog):
    with caplog.at_level(logging.INFO, logger="blspeech"):
        prepare_train(SWB1, MS98)
    text = caplog.text
    assert "sw2010A-ms98-a-trans.text" in text and "transcript without audio" in text
    assert "sw02005-B_000360-000410" in text and "segment past the end of the audio" in text
    assert "swbd train utterances: done 7 of 8 (skipped 1: 1 segment past the end of the audio)" in text


def test_a_corrupt_sph_is_a_counted_skip_naming_the_file(ldc, caplog):
    sph = ldc / "LDC97S62/swb1_d2/data/sw02005.sph"
    sph.write_bytes(sph.read_bytes()[:5000])
    with caplog.at_level(logging.INFO, logger="blspeech"):
        data = prepare_train(ldc / "LDC97S62", ldc / "swb_ms98_transcriptions")
    assert not any(u.startswith("sw02005") for u in data.utterances) and data.utterances
    assert f"{sph}: header announces" in caplog.text and "corrupt .sph file" in caplog.text
    assert "swbd train audio: done 1 of 2 (skipped 1: 1 corrupt .sph file)" in caplog.text


def test_a_missing_transcript_is_a_counted_skip_naming_the_expected_file(ldc, caplog):
    (ldc / "swb_ms98_transcriptions/20/2001/sw2001B-ms98-a-trans.text").unlink()
    with caplog.at_level(logging.INFO, logger="blspeech"):
        data = prepare_train(ldc / "LDC97S62", ldc / "swb_ms98_transcriptions")
    assert "sw02001-B" not in data.wav_scp and "sw02001-A" in data.wav_scp
    expected = ms98_transcript_path(ldc / "swb_ms98_transcriptions", 2001, "B")
    assert str(expected) in caplog.text and "missing transcript file" in caplog.text


def test_an_empty_transcript_is_a_counted_skip_naming_the_file(ldc, caplog):
    empty = ldc / "swb_ms98_transcriptions/20/2005/sw2005A-ms98-a-trans.text"
    empty.write_text("")
    with caplog.at_level(logging.INFO, logger="blspeech"):
        data = prepare_train(ldc / "LDC97S62", ldc / "swb_ms98_transcriptions")
    assert "sw02005-A" not in data.wav_scp
    assert str(empty) in caplog.text and "empty transcript file" in caplog.text


def test_a_malformed_transcript_line_is_an_error_naming_file_and_line(ldc):
    path = ldc / "swb_ms98_transcriptions/20/2001/sw2001A-ms98-a-trans.text"
    lines = path.read_text().splitlines()
    lines[2] = "sw2001A-ms98-a-0003 1.801250 [silence]"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"sw2001A-ms98-a-trans\.text:3: segment times are not numbers"):
        read_ms98_transcript(path)
    with pytest.raises(CorpusError, match=r"sw2001A-ms98-a-trans\.text:3"):
        prepare_train(ldc / "LDC97S62", ldc / "swb_ms98_transcriptions")


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "text").mkdir()
    with pytest.raises(CorpusError, match="no usable utterances"):
        prepare_train(tmp_path / "audio", tmp_path / "text")
    with pytest.raises(CorpusError, match="audio directory not found"):
        prepare_train(tmp_path / "nowhere", tmp_path / "text")


def test_eval2000_from_pem_and_stm_as_kaldi():
    data, stm, glm = prepare_eval2000(HUB5, HUB5_TEXT)
    assert data.utterances == ["en_4156-A_000050-000160", "en_4156-B_000120-000240", "sw_4390-A_000030-000110", "sw_4390-A_000140-000270"]
    # pem segments widened by 0.1 s each way, meeting halfway where they would overlap
    assert [(s.start, s.end) for s in (data.segments[u] for u in data.utterances)] == [(0.4, 1.7), (1.1, 2.5), (0.2, 1.2), (1.3, 2.8)]
    assert data.text["en_4156-A_000050-000160"] == "oh yeah i think so"
    assert data.text["en_4156-B_000120-000240"] == "well th- that's right"
    assert data.text["sw_4390-A_000140-000270"] == "we went camping last week"
    assert "sw_4390-B" not in data.wav_scp  # its only segment is IGNORE_TIME_SEGMENT_IN_SCORING
    assert data.reco2file_and_channel["en_4156-B"] == ("en_4156", "B")
    assert "<B_ASIDE>" not in stm and "(LAST))" in stm and stm.count("\n") == (HUB5_TEXT / "reference/hub5e00.english.000405.stm").read_text().count("\n")
    assert glm == (HUB5_TEXT / "reference/en20000405_hub5.glm").read_text()


def test_eval2000_finds_the_reference_in_either_ldc_layout(ldc):
    moved = ldc / "LDC2002T43/2000_hub5_eng_eval_tr"
    moved.mkdir()
    shutil.move(str(ldc / "LDC2002T43/reference"), str(moved / "reference"))
    data, _, _ = prepare_eval2000(ldc / "LDC2002S09/hub5e_00", ldc / "LDC2002T43")
    assert len(data.utterances) == 4


def test_eval2000_pem_and_stm_must_agree(ldc):
    pem = ldc / "LDC2002S09/hub5e_00/english/hub5e_00.pem"
    pem.write_text(pem.read_text().replace("1.40 2.70", "1.40 2.60"))
    with pytest.raises(CorpusError, match=r"sw_4390-A_000140-0002[67]0 is in only one"):
        prepare_eval2000(ldc / "LDC2002S09", ldc / "LDC2002T43")


@pytest.mark.parametrize("which, old, new, message", [
    ("pem", "sw_4390 A unknown_speaker 1.40 2.70\n", "sw_4390 A unknown_speaker 1.401 2.70\nsw_4390 A unknown_speaker 1.40 2.70\n",
     r"hub5e_00.pem: segment sw_4390 A 1.4 2.7: gives utterance id sw_4390-A_000140-000270 as an earlier"),
    ("pem", "sw_4390 A unknown_speaker 1.40 2.70", "sw_4390 1 unknown_speaker 1.40 2.70",
     r"hub5e_00.pem: segment sw_4390 1 1.4 2.7: side must be one of A, B"),
    ("stm", "sw_4390 A sw_4390_A 1.40 2.70 <O,sw,M,sw-M> WE WENT CAMPING ((LAST)) WEEK",
     "sw_4390 A sw_4390_A 1.40 2.70 <O,sw,M,sw-M> WE WENT\nsw_4390 A sw_4390_A 1.40 2.70 <O,sw,M,sw-M> CAMPING",
     r"000405.stm: segment sw_4390 A 1.4 2.7: gives utterance id sw_4390-A_000140-000270 as an earlier"),
])
def test_eval2000_lines_that_would_replace_one_another_are_refused(ldc, which, old, new, message):
    path = (ldc / "LDC2002S09/hub5e_00/english/hub5e_00.pem" if which == "pem"
            else ldc / "LDC2002T43/reference/hub5e00.english.000405.stm")
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(CorpusError, match=message):
        prepare_eval2000(ldc / "LDC2002S09", ldc / "LDC2002T43")


def test_eval2000_lines_repeated_word_for_word_count_once(ldc):
    pem = ldc / "LDC2002S09/hub5e_00/english/hub5e_00.pem"
    line = "sw_4390 A unknown_speaker 1.40 2.70\n"
    pem.write_text(pem.read_text().replace(line, line * 2))
    data, _, _ = prepare_eval2000(ldc / "LDC2002S09", ldc / "LDC2002T43")
    assert len(data.utterances) == 4


def test_missing_hub5_files_are_named(ldc):
    (ldc / "LDC2002T43/reference/en20000405_hub5.glm").unlink()
    with pytest.raises(CorpusError, match="en20000405_hub5.glm: missing"):
        prepare_eval2000(ldc / "LDC2002S09", ldc / "LDC2002T43")
    with pytest.raises(CorpusError, match="LDC2002S09 layout"):
        prepare_eval2000(ldc, ldc / "LDC2002T43")


def test_prepare_switchboard_writes_train_dev_eval2000(tmp_path):
    sets = prepare_switchboard(SWB1, MS98, HUB5, HUB5_TEXT, tmp_path / "data", dev_utterances=2, max_duplicates=2)
    assert sorted(sets) == ["dev", "eval2000", "train"]
    assert sets["dev"].utterances == ["sw02001-A_000051-000180", "sw02001-A_000205-000299"]
    # three "uh-huh"s capped at two
    assert [sets["train"].text[u] for u in sets["train"].utterances].count("uh-huh") == 2
    for name, data in sets.items():
        on_disk = DataDir.read(tmp_path / "data" / name)
        assert on_disk.utt2spk == data.utt2spk and on_disk.text == data.text and on_disk.wav_scp == data.wav_scp
        assert read_table(tmp_path / "data" / name / "spk2utt")
    assert (tmp_path / "data/eval2000/stm").read_text().startswith(";; Reference file")
    assert (tmp_path / "data/eval2000/glm").is_file() and not (tmp_path / "data/train/stm").exists()


def test_nothing_is_written_without_an_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare_switchboard(SWB1, MS98, dev_utterances=1)
    assert list(tmp_path.iterdir()) == []


def test_dev_size_must_leave_training_data():
    with pytest.raises(ValueError, match="dev_utterances must be between 1 and 6"):
        prepare_switchboard(SWB1, MS98, dev_utterances=7)


def test_duplicate_capping_keeps_an_even_spread():
    data = DataDir(utt2spk={f"u{i:02d}": "s" for i in range(10)}, text={f"u{i:02d}": "uh-huh" if i < 9 else "yes" for i in range(10)})
    capped = cap_duplicates(data, 3)
    assert capped.utterances == ["u00", "u03", "u06", "u09"]
    with pytest.raises(ValueError, match="max_duplicates"):
        cap_duplicates(data, 0)


def test_utterance_ids_round_for_train_and_truncate_for_eval_as_kaldi():
    assert kaldi_utterance_id("sw02001-A", 0.977625, 11.561375) == "sw02001-A_000098-001156"
    assert kaldi_utterance_id("en_4156-A", 301.85, 302.489, truncate=True) == "en_4156-A_030185-030248"


def test_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "blspeech.data.prep", "--swb1", str(SWB1), "--transcripts", str(MS98), "--hub5", str(HUB5),
         "--hub5-transcripts", str(HUB5_TEXT), "--out", str(tmp_path / "data"), "--dev-utterances", "2"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path / 'data' / 'eval2000'}: 4 utterances, 3 speakers" in done.stdout
    assert (tmp_path / "data/train/segments").is_file()
    helped = subprocess.run([sys.executable, "-m", "blspeech.data.prep", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--hub5-transcripts" in helped.stdout
