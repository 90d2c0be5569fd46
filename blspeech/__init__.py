"""blspeech: Big-Little Net acoustic models for speech recognition with a Kaldi-compatible pipeline."""

__version__ = "0.1.0"
