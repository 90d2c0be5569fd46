"""Shared test set-up.

kaldi_hmm_gmm must be imported before kaldifst / kaldi_decoder / kaldilm (the other order hangs
the interpreter, k2-fsa wheels); importing it first here keeps the test order irrelevant.
"""

import kaldi_hmm_gmm  # noqa: F401
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Model tests on one intra-op thread (same timings and results whatever the machine), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
