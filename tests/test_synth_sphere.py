"""NIST SPHERE writing and header checks (blspeech.corpus.sphere), read back by independent readers."""

import subprocess

import numpy as np
import pytest
import soundfile

from blspeech.corpus.sphere import HEADER_BYTES, SphereError, read_sphere_header, write_sphere_ulaw

RATE = 8000


def mu_law_close(decoded: np.ndarray, original: np.ndarray) -> bool:
    """mu-law keeps about 4% relative precision (16 steps per doubling) plus a tiny step near zero."""
    return bool(np.all(np.abs(decoded - original) <= 0.04 * np.abs(original) + 2e-3))


@pytest.fixture()
def two_channels():
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    left = 0.5 * np.sin(2 * np.pi * 300 * t)
    right = 0.05 * rng.standard_normal(RATE)
    return np.stack([left, right], axis=1).astype(np.float32)


def test_soundfile_reads_back_each_channel(tmp_path, two_channels):
    path = tmp_path / "sw02001.sph"
    write_sphere_ulaw(path, two_channels, RATE, {"database_id": "swb1", "conversation_id": "2001"})
    decoded, rate = soundfile.read(path, dtype="float32")
    assert rate == RATE and decoded.shape == two_channels.shape
    assert mu_law_close(decoded[:, 0], two_channels[:, 0])
    assert mu_law_close(decoded[:, 1], two_channels[:, 1])
    assert soundfile.info(path).subtype == "ULAW"


def test_sox_reads_one_channel_the_way_wav_scp_asks(tmp_path, two_channels):
    path = tmp_path / "sw02001.sph"
    write_sphere_ulaw(path, two_channels, RATE)
    wav = subprocess.run(
        ["sox", "-t", "sph", str(path), "-t", "wav", "-e", "signed-integer", "-b", "16", str(tmp_path / "b.wav"), "remix", "2"],
        check=True, capture_output=True,
    )
    assert wav.returncode == 0
    channel, rate = soundfile.read(tmp_path / "b.wav", dtype="float32")
    assert rate == RATE and channel.ndim == 1
    assert mu_law_close(channel, two_channels[:, 1])


def test_header_carries_ldc_fields(tmp_path, two_channels):
    path = tmp_path / "sw02001.sph"
    write_sphere_ulaw(path, two_channels, RATE, {"database_id": "swb1", "conversation_id": "2001"})
    header = read_sphere_header(path)
    assert (header.channel_count, header.sample_count, header.sample_rate, header.sample_n_bytes) == (2, RATE, RATE, 1)
    assert header.sample_coding == "ulaw" and header.duration == 1.0 and not header.compressed
    assert header.fields["database_id"] == "swb1" and header.fields["conversation_id"] == "2001"
    assert path.read_bytes()[:7] == b"NIST_1A" and path.stat().st_size == HEADER_BYTES + 2 * RATE


def test_truncated_file_is_named(tmp_path, two_channels):
    path = tmp_path / "sw02001.sph"
    write_sphere_ulaw(path, two_channels, RATE)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(SphereError, match=r"sw02001\.sph: header announces 8000 samples"):
        read_sphere_header(path)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"RIFF....WAVEfmt ", "not a SPHERE file"),
        (b"NIST_1A\n   1024\nsample_rate -i 8000\nend_head\n".ljust(1024, b" "), "lacks a positive integer channel_count"),
        (b"NIST_1A\n   1024\nchannel_count -i two\n".ljust(1024, b" "), "malformed SPHERE header line"),
        (b"NIST_1A\n   1024\nchannel_count -i 2\n".ljust(1024, b" "), "no end_head"),
        (b"NIST_1A\n   -1\nchannel_count -i 2\nend_head\n".ljust(1024, b" "), "impossible SPHERE header size -1"),
    ],
)
def test_corrupt_headers_are_named(tmp_path, content, problem):
    path = tmp_path / "sw04940.sph"
    path.write_bytes(content)
    with pytest.raises(SphereError, match=problem) as err:
        read_sphere_header(path)
    assert "sw04940.sph" in str(err.value)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_sphere_ulaw(tmp_path / "x.sph", np.zeros(10, dtype=np.float32), RATE)
    with pytest.raises(ValueError, match="sample_rate"):
        write_sphere_ulaw(tmp_path / "x.sph", np.zeros((10, 2), dtype=np.float32), 0)
