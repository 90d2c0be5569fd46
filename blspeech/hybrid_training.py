"""The train stage for hybrid models: pdf-id frame targets from Kaldi alignments, priors, the Trainer.

The pdf count comes from the Kaldi tree/model and sizes the network's output; alignments are
checked against it (an id >= the count names the utterance). An alignment whose length differs
from the utterance's feature frames (features made with other framing) is a counted skip.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from blspeech.config import Recipe, to_dict
from blspeech.decode.recognize import feature_dataset, utterance_frames
from blspeech.experiment import Experiment
from blspeech.features.front_end import front_end_record
from blspeech.hybrid.alignments import pdf_alignments, read_int32_vectors, read_pdf_alignments
from blspeech.hybrid.priors import count_pdfs, write_counts
from blspeech.hybrid.transition_model import load_transition_model
from blspeech.skips import SkipLog
from blspeech.training.checkpoint import training_needed
from blspeech.training.distributed import init_from_environment
from blspeech.training.loop import Trainer

log = logging.getLogger("blspeech")
PRIOR_COUNTS = "ali_train_pdf.counts"


def transition_model_of(recipe: Recipe):
    """The recipe's Kaldi TransitionModel: from final.mdl, or built from tree + topo."""
    hybrid = recipe.hybrid
    if hybrid.transition_model:
        return load_transition_model(hybrid.transition_model)
    return load_transition_model(tree=hybrid.tree or None, topo=hybrid.topo or None)


def frame_targets(source: str, recipe: Recipe, transition_model, num_frames: dict[str, int], stage: str) -> dict[str, np.ndarray]:
    """pdf-id per frame for every aligned utterance whose length matches its features."""
    num_pdfs = int(transition_model.num_pdfs)
    if recipe.hybrid.pdf_alignments:
        aligned = read_pdf_alignments(source, num_pdfs)
    else:
        aligned = pdf_alignments(read_int32_vectors(source), transition_model)
    skips = SkipLog(stage)
    targets: dict[str, np.ndarray] = {}
    for utt, pdfs in aligned:
        frames = num_frames.get(utt)
        if frames is None:
            skips.skip(utt, "aligned but has no features")
        elif frames != len(pdfs):
            skips.skip(f"{utt} ({len(pdfs)} alignment frames, {frames} feature frames)", "alignment length differs from features")
        else:
            targets[utt] = pdfs
            skips.ok()
    skips.summary()
    return targets


def train_hybrid_model(exp: Experiment, model_name: str, *, resume: bool) -> Path:
    """Train ``model_name`` with frame cross-entropy on pdf-ids; writes priors beside the weights."""
    recipe = exp.recipe
    run_dir = exp.run_dir(model_name)
    if not training_needed(run_dir, resume):
        return run_dir / "final.pt"
    if not recipe.hybrid.alignments:
        raise ValueError("model.output is hybrid but hybrid.alignments is not set in the recipe")
    init_from_environment(recipe.train.device)
    torch.manual_seed(recipe.seed)
    transition_model = transition_model_of(recipe)
    num_pdfs = int(transition_model.num_pdfs)

    def dataset(directory: Path, alignments: str, train: bool):
        targets = frame_targets(alignments, recipe, transition_model, utterance_frames(recipe, directory),
                                f"pdf targets {directory.name}")
        return feature_dataset(recipe, directory, targets=targets, train=train), targets

    train_set, train_targets = dataset(exp.train_dir, recipe.hybrid.alignments, train=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_counts(run_dir / PRIOR_COUNTS, count_pdfs(train_targets.items(), num_pdfs))
    dev_set = None
    if recipe.hybrid.dev_alignments:
        dev_set, _ = dataset(exp.data_dir(recipe.data.dev_set), recipe.hybrid.dev_alignments, train=False)
    model = exp.build_model(model_name, num_outputs=num_pdfs)
    extra = {"recipe": to_dict(recipe), "model_config": model.config, "objective": "hybrid", **front_end_record(exp)}
    trainer = Trainer(model, train_set, dev_set, recipe.train, run_dir, objective="hybrid", seed=recipe.seed,
                      extra_state=extra)
    return trainer.fit()
