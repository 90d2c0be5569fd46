"""A self-contained Kaldi-style hybrid system, built in Python with the k2-fsa wheels.

What the embedded corpora lack and a hybrid (DNN-HMM) model needs: a pronunciation lexicon
(:mod:`.lexicon`), a Kaldi ``lang`` dir (:mod:`.lang`), GMM-HMM alignments from a monophone
flat start and a triphone tree (:mod:`.gmm`, :mod:`.tree`, :mod:`.triphone`), and the decoding
graph HCLG (:mod:`.graph`). :func:`build_hybrid_system` runs it all as one stage and writes the
files in Kaldi's layout, which :mod:`blspeech.hybrid` (and Kaldi itself) reads.
"""

import kaldi_hmm_gmm  # noqa: F401  (must be loaded before kaldifst / kaldi_decoder / kaldilm)

from blspeech.hybrid_system.gmm import MonophoneConfig  # noqa: E402
from blspeech.hybrid_system.system import HybridSystemPaths, build_hybrid_system  # noqa: E402
from blspeech.hybrid_system.triphone import TriphoneConfig  # noqa: E402

__all__ = ["HybridSystemPaths", "MonophoneConfig", "TriphoneConfig", "build_hybrid_system"]
