"""Train test_training_loop's small model in its own process: ``train_small.py ROOT RUN EPOCHS``.

Run under torchrun for the DDP test, or plainly and killed with SIGKILL for the resume trials.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blspeech.training.distributed import init_from_environment, leave_process_group  # noqa: E402
from test_training_loop import make_trainer  # noqa: E402

if __name__ == "__main__":
    init_from_environment("cpu")
    make_trainer(Path(sys.argv[1]), sys.argv[2], epochs=int(sys.argv[3])).fit()
    leave_process_group()
