"""blspeech: Big-Little Net acoustic models for speech recognition with a Kaldi-compatible pipeline."""

import sys

# The k2-fsa wheels hang inside the import when kaldi_hmm_gmm is loaded after kaldifst,
# kaldi_decoder or kaldilm. Loading it first, here, makes every order inside the package safe;
# if a caller already loaded one of the others, fail fast with the reason instead of hanging.
_LOADED_TOO_EARLY = sorted(name for name in ("kaldifst", "kaldi_decoder", "kaldilm") if name in sys.modules)
if _LOADED_TOO_EARLY and "_kaldi_hmm_gmm" not in sys.modules:
    raise ImportError(
        f"blspeech must be imported before {', '.join(_LOADED_TOO_EARLY)}: importing kaldi_hmm_gmm "
        "after them hangs (k2-fsa wheels). Import blspeech (or kaldi_hmm_gmm) first."
    )

import kaldi_hmm_gmm  # noqa: E402,F401

__version__ = "0.1.0"
