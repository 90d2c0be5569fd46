"""Frame classifier on top of the CNN: one vector of logits per output frame.

The same head serves CTC (tokens + blank, at the model's time subsampling) and hybrid
training (pdf-ids, one output per 10 ms input frame); only the model's time subsampling
differs, so there is one class rather than two near-identical ones.
"""

from __future__ import annotations

from torch import Tensor, nn


class FrameClassifier(nn.Module):
    """(B, C, F', T') -> (B, T', num_outputs) logits.

    Frequency is collapsed by flattening C x F' per frame, then position-wise layers:
    Linear -> ReLU -> Dropout -> [GRU] -> Linear. The optional GRU is unidirectional
    (causal), so padded frames at the end of an utterance cannot reach real frames and it
    exports to TorchScript and ONNX without packed sequences.
    """

    def __init__(self, channels: int, frequency_bins: int, hidden: int, num_outputs: int, *,
                 recurrent: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Sequential(
            nn.Linear(channels * frequency_bins, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.recurrent = nn.GRU(hidden, hidden, batch_first=True) if recurrent else None
        self.classify = nn.Linear(hidden, num_outputs)

    def forward(self, x: Tensor) -> Tensor:
        frames = x.permute(0, 3, 1, 2).flatten(2)  # (B, T', C * F')
        hidden = self.project(frames)
        if self.recurrent is not None:
            hidden, _ = self.recurrent(hidden)
        return self.classify(hidden)
