"""Train the test_training_loop model under torchrun (gloo, CPU): ``torchrun --nproc-per-node N ddp_train.py ROOT RUN``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blspeech.training.distributed import init_from_environment  # noqa: E402
from test_training_loop import make_trainer  # noqa: E402

if __name__ == "__main__":
    init_from_environment()
    make_trainer(Path(sys.argv[1]), sys.argv[2], epochs=2).fit()
