"""Train test_training_loop's small model in its own process: ``train_small.py ROOT RUN EPOCHS``.

Run under torchrun for the DDP tests, or plainly and killed with SIGKILL for the resume trials.
With ``STOP_AT_STEP=N`` in the environment every process stops once N steps are trained (and
checkpointed), as if the run had been killed there.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blspeech.training.distributed import init_from_environment, leave_process_group  # noqa: E402
from blspeech.training.loop import Trainer  # noqa: E402
from test_training_loop import make_trainer  # noqa: E402


def stop_after(steps: int) -> None:
    train_batch = Trainer._train_batch

    def train_or_stop(self, batch):
        if self.step == steps:
            raise SystemExit(f"stopped after step {steps}")
        return train_batch(self, batch)

    Trainer._train_batch = train_or_stop


if __name__ == "__main__":
    init_from_environment("cpu")
    if os.environ.get("STOP_AT_STEP"):
        stop_after(int(os.environ["STOP_AT_STEP"]))
    make_trainer(Path(sys.argv[1]), sys.argv[2], epochs=int(sys.argv[3])).fit()
    leave_process_group()
