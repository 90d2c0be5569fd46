"""Shared test set-up.

kaldi_hmm_gmm must be imported before kaldifst / kaldi_decoder / kaldilm (the other order hangs
the interpreter, k2-fsa wheels); importing it first here keeps the test order irrelevant.
"""

import kaldi_hmm_gmm  # noqa: F401
