"""Read the audio a wav.scp entry names, and cut an utterance out of it.

A wav.scp value is either a file path (read with ``soundfile``) or, as in Kaldi, a shell
command ending in ``|`` whose standard output is a WAV file (``sox ... |``, ``sph2pipe ... |``).
Samples come back as float32 in [-1, 1]; errors name the file or command and what went wrong.
"""

from __future__ import annotations

import io
import subprocess

import numpy as np
import soundfile

# Kaldi's extract-segments accepts segments ending up to this far past the audio (and clips them).
MAX_OVERSHOOT = 0.5


class AudioError(RuntimeError):
    """A recording could not be read, or a segment does not fit it; the message says which."""


def load_recording(wav_scp_value: str) -> tuple[np.ndarray, int]:
    """Samples ``(T,)`` (or ``(T, C)`` for multi-channel files) as float32, and the sample rate."""
    value = wav_scp_value.strip()
    if value.endswith("|"):
        command = value[:-1].strip()
        # pipefail: a failing stage before the last (a missing file fed to sox | ...) must fail
        # the command, not leave the last stage to turn its empty or cut input into audio.
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, check=False)
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()
            raise AudioError(f"wav.scp command failed with exit code {done.returncode}: {command!r}: {stderr}")
        source: io.BytesIO | str = io.BytesIO(done.stdout)
        what = f"output of {command!r}"
    else:
        source, what = value, value
    try:
        samples, rate = soundfile.read(source, dtype="float32")
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"cannot read audio from {what}: {err}") from None
    return samples, rate


def cut_segment(samples: np.ndarray, rate: int, start: float, end: float, utt_id: str) -> np.ndarray:
    """Samples of ``[start, end)`` seconds (first axis); raises :class:`AudioError` naming ``utt_id`` if it does not fit.

    An end up to :data:`MAX_OVERSHOOT` seconds past the audio is clipped, as Kaldi does.
    """
    duration = samples.shape[0] / rate
    if not 0 <= start < end:
        raise AudioError(f"utterance {utt_id}: bad segment times {start}-{end}")
    if start >= duration or end > duration + MAX_OVERSHOOT:
        raise AudioError(f"utterance {utt_id}: segment {start:.2f}-{end:.2f} s lies past the end of the audio ({duration:.2f} s)")
    return samples[int(round(start * rate)) : min(samples.shape[0], int(round(end * rate)))]
