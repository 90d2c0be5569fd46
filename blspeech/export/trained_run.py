"""A trained run directory as the export needs it: the model, its recipe, its objective, its units.

``exp/<recipe>/<model>/final.pt`` (written by the training loop) holds the weights, the model's
architecture, the resolved recipe and the objective; the units live beside it: the CTC tokenizer
one level up (shared by every model of the recipe), the hybrid priors in the run dir itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from blspeech.config import Recipe, recipe_from_dict
from blspeech.decode.recognize import decode_settings, load_model
from blspeech.features.front_end import training_sample_rate
from blspeech.hybrid_training import PRIOR_COUNTS
from blspeech.models import AcousticModel

FINAL_WEIGHTS = "final.pt"
TOKENIZER_MODEL = "tokenizer.model"  # in the recipe's exp dir, as blspeech.experiment.Experiment places it
REQUIRED_KEYS = ("model", "model_config", "recipe", "objective")


@dataclass(frozen=True)
class TrainedRun:
    """One trained model: ``model`` in eval mode, ``objective`` "ctc" or "hybrid", ``sample_rate``
    of its training audio (None where the run does not say)."""

    run_dir: Path
    model: AcousticModel
    recipe: Recipe
    objective: str
    sample_rate: int | None

    @property
    def weights(self) -> Path:
        return self.run_dir / FINAL_WEIGHTS

    @property
    def tokenizer_model(self) -> Path:
        """The recipe's sentencepiece model (CTC units), shared by the models of one exp dir."""
        return self.run_dir.parent / TOKENIZER_MODEL

    @property
    def acoustic_scale(self) -> tuple[float, str]:
        """The acoustic scale to decode a hybrid run's log-likelihoods with, and where it comes from:
        tuned on dev by the decode stage (``decode.json``), else the recipe's."""
        tuned = decode_settings(self.run_dir).get("acoustic_scale")
        if tuned is not None:
            return float(tuned), "tuned on dev"
        return self.recipe.hybrid.acoustic_scale, "the recipe's"

    @property
    def prior_counts(self) -> Path:
        """Pdf counts (``analyze-counts --binary=false`` format) written by hybrid training."""
        return self.run_dir / PRIOR_COUNTS


def load_trained_run(run_dir: str | os.PathLike) -> TrainedRun:
    """Read ``run_dir/final.pt``; a missing file or a checkpoint without export metadata raises naming it."""
    root = Path(run_dir)
    weights = root / FINAL_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found: {root} is not a finished training run")
    model, state = load_model(weights)
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(f"{weights}: checkpoint lacks {', '.join(missing)} "
                         "(not a final.pt written by the training loop's finalize)")
    # The checkpoint's own recipe, not today's YAML: it is what the model was trained with.
    recipe = recipe_from_dict(state["recipe"], f"{weights} (recipe)")
    return TrainedRun(run_dir=root, model=model, recipe=recipe, objective=str(state["objective"]),
                      sample_rate=training_sample_rate(state, recipe))
