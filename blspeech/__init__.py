"""blspeech: Big-Little Net acoustic models for speech recognition with a Kaldi-compatible pipeline."""

# The k2-fsa wheels hang when kaldi_hmm_gmm is imported after kaldifst, kaldi_decoder or kaldilm;
# loading it first, here, makes every import order inside and outside the package safe.
import kaldi_hmm_gmm  # noqa: F401

__version__ = "0.1.0"
