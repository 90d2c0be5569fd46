"""Where every stage of a recipe reads and writes: one place that derives all paths from the recipe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blspeech.config import Recipe

if TYPE_CHECKING:
    from blspeech.models import AcousticModel


@dataclass(frozen=True)
class Experiment:
    """Paths of one recipe's corpus, data dirs and experiment dir (see DESIGN.md's data flow)."""

    recipe: Recipe

    @property
    def corpus_dir(self) -> Path:
        return Path(self.recipe.corpus.dir)

    def corpus_part(self, relative: str) -> Path:
        """A real-corpus location from the recipe; relative ones are under the corpus dir."""
        path = Path(relative)
        return path if path.is_absolute() else self.corpus_dir / path

    @property
    def data_root(self) -> Path:
        return Path(self.recipe.data.dir)

    def data_dir(self, name: str) -> Path:
        return self.data_root / name

    @property
    def train_dir(self) -> Path:
        """The training data dir (the speed-perturbed copy when the recipe asks for one)."""
        base = self.recipe.data.train_set
        return self.data_dir(f"{base}_sp" if self.recipe.features.speed_perturb else base)

    @property
    def exp_dir(self) -> Path:
        return Path(self.recipe.exp_dir)

    @property
    def gmm_system_dir(self) -> Path:
        """Where the units stage builds a hybrid recipe's own GMM-HMM system (``hybrid.build_system``)."""
        return self.exp_dir / "gmm"

    @property
    def tokenizer_prefix(self) -> Path:
        return self.exp_dir / "tokenizer"

    @property
    def tokenizer_model(self) -> Path:
        return self.exp_dir / "tokenizer.model"

    @property
    def lexicon(self) -> Path:
        return self.exp_dir / "lexicon.txt"

    @property
    def arpa(self) -> Path:
        """The word LM: the recipe's own ARPA, or one built from the training text."""
        if self.recipe.decode.arpa:
            return Path(self.recipe.decode.arpa)
        return self.exp_dir / f"lm_{self.recipe.decode.lm_order}gram.arpa"

    @property
    def model_names(self) -> list[str]:
        return [self.recipe.model.name, *self.recipe.model.compare]

    def run_dir(self, model_name: str) -> Path:
        return self.exp_dir / model_name

    def build_model(self, name: str, num_outputs: int) -> AcousticModel:
        """The network the recipe trains under ``name``: its model settings, input features and output kind."""
        from blspeech.models import build_model  # (torch: only for the stages that build networks)

        model, features = self.recipe.model, self.recipe.features
        return build_model(name, num_outputs=num_outputs, in_channels=features.channels,
                           num_mel_bins=features.num_mel_bins, output=model.output,
                           time_subsampling=model.time_subsampling, **model.overrides)

    @property
    def eval_sets(self) -> list[str]:
        return [self.recipe.data.dev_set, *self.recipe.data.test_sets]
