"""Text-to-speech engines from Debian packages, one adapter each, detected at run time.

A speaker of the synthetic corpus is a :class:`Voice`: an engine, one of its voices, and fixed
pitch, speaking-rate and warp settings. Every adapter turns a batch of texts for one voice into
8 kHz float32 waveforms, so the rest of the synthesizer never sees an engine's quirks:

- ``espeak-ng``: formant synthesis with accents (``en-us``, ``en-gb-scotland``, ...) and voice
  variants (``+f3``, ``+klatt2``, ...); pitch 0-99 and words per minute on its command line.
- ``flite``: the diphone and clustergen voices kal, awb, rms, slt; pitch (Hz) and duration
  stretch through ``--setf``.
- ``festival``: kal_diphone, ked_diphone and the HTS voice cmu_us_slt_arctic_hts; a whole batch
  runs in one festival process (its start-up costs more than a sentence).

``warp`` resamples the synthesized audio (``sox speed``), shifting pitch and formants together
the way a different vocal tract would; it multiplies the voice count of the engines with few
voices. Conversion to 8 kHz is done by sox too.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

TELEPHONE_RATE = 8000


class TtsError(RuntimeError):
    """A TTS engine is missing or failed; the message names the engine, voice and text."""


@dataclass(frozen=True)
class BaseVoice:
    """One voice an engine offers, before pitch/rate/warp make speakers of it."""

    engine: str
    name: str
    gender: str  # "f" or "m"
    pitches: tuple[float, ...]  # engine units; a single 0.0 means the voice's own pitch only


@dataclass(frozen=True)
class Voice:
    """A speaker: an engine voice with fixed pitch (engine units), rate (1.0 = default) and warp."""

    engine: str
    name: str
    gender: str
    pitch: float
    rate: float
    warp: float

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}:p{self.pitch:g}:r{self.rate:.2f}:w{self.warp:.2f}"


class TtsEngine(Protocol):
    name: str

    def available(self) -> bool:
        """Whether the engine's program is installed (cheap; no synthesis)."""

    def base_voices(self) -> list[BaseVoice]:
        """The voices of this engine that are installed here."""

    def synthesize(self, texts: Sequence[str], voice: Voice) -> list[np.ndarray]:
        """One 8 kHz float32 waveform, shape ``(T,)``, per text, with ``voice.warp`` applied."""


def _run(command: list[str], what: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, check=False)
    except OSError as err:
        raise TtsError(f"{what}: cannot run {command[0]}: {err}") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise TtsError(f"{what}: {' '.join(command[:3])} ... exited with {done.returncode}: {stderr}")
    return done.stdout


def to_telephone_rate(wav_bytes: bytes, warp: float, what: str) -> np.ndarray:
    """Decode a WAV file's bytes, apply the speed ``warp`` and resample to 8 kHz mono (sox).

    Returns float32 samples of shape ``(T,)``.
    """
    effects = ["speed", f"{warp:.4f}"] if warp != 1.0 else []
    command = ["sox", "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(TELEPHONE_RATE), "-", *effects]
    raw = _run(command, what, stdin=wav_bytes)
    return np.frombuffer(raw, dtype=np.float32).copy()


def _speakable(text: str) -> str:
    """Keep the text from starting with '-' (read as an option) and from being empty."""
    text = text.strip().lstrip("-").strip()
    if not text:
        raise ValueError("cannot synthesize an empty text")
    return text


class EspeakNg:
    """espeak-ng: accents x voice variants; pitch 0-99, rate as words per minute (175 = 1.0)."""

    name = "espeak-ng"
    ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
    # Variants that sound like people (no whisper, robot or novelty voices), with their gender.
    VARIANTS = {
        "m1": "m", "m2": "m", "m3": "m", "m4": "m", "m5": "m", "m6": "m", "m7": "m", "m8": "m",
        "f1": "f", "f2": "f", "f3": "f", "f4": "f", "f5": "f",
        "klatt": "m", "klatt2": "m", "klatt3": "m", "klatt4": "f", "klatt5": "m", "klatt6": "m",
        "adam": "m", "Alicia": "f", "Andrea": "f", "Andy": "m", "Annie": "f", "aunty": "f", "belinda": "f",
        "benjamin": "m", "boris": "m", "caleb": "m", "david": "m", "ed": "m", "edward": "m", "grandma": "f",
        "grandpa": "m", "iven": "m", "john": "m", "Lee": "m", "linda": "f", "max": "m", "Michael": "m",
        "norbert": "m", "paul": "m", "quincy": "m", "robert": "m", "steph": "f", "steph2": "f", "travis": "m", "victor": "m",
    }
    PITCHES = (30.0, 40.0, 50.0, 60.0, 70.0)

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None

    @functools.cache
    def base_voices(self) -> list[BaseVoice]:
        languages = set(re.findall(r"^\s*\d+\s+(\S+)", _run(["espeak-ng", "--voices=en"], "espeak-ng").decode(), re.M))
        variants = set(re.findall(r"!v/(\S+)", _run(["espeak-ng", "--voices=variant"], "espeak-ng").decode()))
        return [
            BaseVoice(self.name, f"{accent}+{variant}", gender, self.PITCHES)
            for accent in self.ACCENTS
            if accent in languages
            for variant, gender in self.VARIANTS.items()
            if variant in variants
        ]

    def synthesize(self, texts: Sequence[str], voice: Voice) -> list[np.ndarray]:
        waves = []
        for text in texts:
            what = f"espeak-ng voice {voice.id} text {text!r}"
            command = ["espeak-ng", "-v", voice.name, "-p", str(int(voice.pitch)), "-s", str(round(175 * voice.rate)), "--stdout", _speakable(text)]
            waves.append(to_telephone_rate(_run(command, what), voice.warp, what))
        return waves


class Flite:
    """flite: kal, awb, rms, slt; pitch as a target mean in Hz (rms keeps its own), rate via duration_stretch."""

    name = "flite"
    VOICES = {
        "kal": ("m", (85.0, 100.0, 115.0, 130.0)),
        "awb": ("m", (95.0, 110.0, 125.0, 140.0)),
        "rms": ("m", (0.0,)),
        "slt": ("f", (160.0, 180.0, 200.0, 220.0)),
    }

    def available(self) -> bool:
        return shutil.which("flite") is not None and shutil.which("sox") is not None

    @functools.cache
    def base_voices(self) -> list[BaseVoice]:
        listed = _run(["flite", "-lv"], "flite").decode().split(":")[-1].split()
        return [BaseVoice(self.name, name, gender, pitches) for name, (gender, pitches) in self.VOICES.items() if name in listed]

    def synthesize(self, texts: Sequence[str], voice: Voice) -> list[np.ndarray]:
        waves = []
        options = ["--setf", f"duration_stretch={1.0 / voice.rate:.4f}"]
        if voice.pitch:
            options += ["--setf", f"int_f0_target_mean={voice.pitch:g}"]
        for text in texts:
            what = f"flite voice {voice.id} text {text!r}"
            wav = _run(["flite", "-voice", voice.name, *options, "-t", _speakable(text), "-o", "/dev/stdout"], what)
            waves.append(to_telephone_rate(wav, voice.warp, what))
        return waves


class Festival:
    """festival: diphone voices (pitch via int_lr_params, rate via Duration_Stretch) and the HTS slt voice."""

    name = "festival"
    VOICES = {
        "kal_diphone": ("m", (95.0, 110.0, 125.0, 140.0)),
        "ked_diphone": ("m", (90.0, 105.0, 120.0, 135.0)),
        "cmu_us_slt_arctic_hts": ("f", (0.0,)),
    }

    def available(self) -> bool:
        return shutil.which("festival") is not None and shutil.which("sox") is not None

    @functools.cache
    def base_voices(self) -> list[BaseVoice]:
        listed = _run(["festival", "-b", "(print (voice.list))"], "festival").decode()
        names = set(re.findall(r"[\w]+", listed))
        return [BaseVoice(self.name, name, gender, pitches) for name, (gender, pitches) in self.VOICES.items() if name in names]

    @staticmethod
    def _scheme_string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _voice_setup(self, voice: Voice) -> list[str]:
        lines = [f"(voice_{voice.name})"]
        if voice.name.endswith("_hts"):
            lines.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {voice.rate:.4f}))))')
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.4f})")
            if voice.pitch:
                lines.append(
                    "(set! int_lr_params (list (list 'target_f0_mean "
                    f"{voice.pitch:g}) (list 'target_f0_std {voice.pitch * 0.15:.1f}) "
                    "(list 'model_f0_mean 170) (list 'model_f0_std 34)))"
                )
        return lines

    def synthesize(self, texts: Sequence[str], voice: Voice) -> list[np.ndarray]:
        what = f"festival voice {voice.id} ({len(texts)} texts, first {texts[0]!r})" if texts else "festival"
        with tempfile.TemporaryDirectory(prefix="blspeech-festival-") as tmp:
            outputs = [Path(tmp) / f"{i}.wav" for i in range(len(texts))]
            script = self._voice_setup(voice) + [
                f"(utt.save.wave (utt.synth (Utterance Text {self._scheme_string(_speakable(text))})) {self._scheme_string(str(out))} 'riff)"
                for text, out in zip(texts, outputs)
            ]
            script_path = Path(tmp) / "synth.scm"
            script_path.write_text("\n".join(script) + "\n", encoding="utf-8")
            _run(["festival", "-b", str(script_path)], what)
            missing = [text for text, out in zip(texts, outputs) if not out.is_file()]
            if missing:
                raise TtsError(f"{what}: festival wrote no audio for {missing[0]!r}")
            return [to_telephone_rate(out.read_bytes(), voice.warp, what) for out in outputs]


ENGINES: tuple[TtsEngine, ...] = (EspeakNg(), Flite(), Festival())


def engine_by_name(name: str) -> TtsEngine:
    for engine in ENGINES:
        if engine.name == name:
            return engine
    raise ValueError(f"unknown TTS engine {name!r}; known: {', '.join(e.name for e in ENGINES)}")


def detect_engines(names: Sequence[str] | None = None) -> list[TtsEngine]:
    """The engines (optionally only those named) installed here with at least one voice.

    Raises :class:`TtsError` listing the Debian packages to install when none is usable.
    """
    wanted = [engine_by_name(n) for n in names] if names else list(ENGINES)
    found = [engine for engine in wanted if engine.available() and engine.base_voices()]
    if not found:
        raise TtsError(
            "no TTS engine found (looked for " + ", ".join(e.name for e in wanted) + " with sox); install them with: "
            "apt-get install -y sox espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
        )
    return found

