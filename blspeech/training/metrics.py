"""Training metrics as a CSV table, TensorBoard scalars and a PNG of the curves.

metrics.csv is the record of truth: on resume, rows newer than the checkpoint are dropped, so
the table never holds steps that were lost with a killed process.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from blspeech.fileio import atomic_write

COLUMNS = ("step", "epoch", "split", "loss", "wer", "lr", "frames_per_s", "elapsed_s")


class MetricsLog:
    """Append-only metrics for one run directory."""

    def __init__(self, run_dir: str | Path, resume_step: int = 0, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.csv"
        self.png = Path(run_dir) / "curves.png"
        rows = self.read(self.path) if self.path.exists() else []
        kept = [row for row in rows if int(row["step"]) <= resume_step]
        with atomic_write(self.path) as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(kept)
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=resume_step + 1)

    @staticmethod
    def read(path: str | Path) -> list[dict[str, str]]:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def log(self, step: int, epoch: int, split: str, **values: float) -> None:
        row = {"step": step, "epoch": epoch, "split": split}
        row.update({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()})
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=COLUMNS).writerow(row)
        if self._writer is not None:
            for name, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.plot()

    def plot(self) -> None:
        """Write curves.png: train/dev loss and dev WER against the step."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.read(self.path)
        fig, (ax_loss, ax_wer) = plt.subplots(1, 2, figsize=(10, 4))
        for split in ("train", "dev"):
            points = [(int(r["step"]), float(r["loss"])) for r in rows if r["split"] == split and r["loss"]]
            if points:
                ax_loss.plot(*zip(*points), label=f"{split} loss")
        wer = [(int(r["step"]), float(r["wer"])) for r in rows if r["split"] == "dev" and r["wer"]]
        if wer:
            ax_wer.plot(*zip(*wer), marker="o", label="dev WER (greedy)")
        for axis, label in ((ax_loss, "loss"), (ax_wer, "WER %")):
            axis.set_xlabel("step")
            axis.set_ylabel(label)
            if axis.lines:
                axis.legend()
        fig.tight_layout()
        with atomic_write(self.png, "wb") as handle:
            fig.savefig(handle, format="png", dpi=80)
        plt.close(fig)
