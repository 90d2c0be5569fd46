"""The train stage for CTC models: targets from the tokenizer, datasets, the model, the Trainer."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from blspeech.config import to_dict
from blspeech.data.kaldi_dir import read_table
from blspeech.decode.recognize import compute_log_probs, feature_dataset, greedy, hypothesis_wer, utterance_frames
from blspeech.experiment import Experiment
from blspeech.features.front_end import front_end_record
from blspeech.skips import SkipLog
from blspeech.tokenizer import Tokenizer, encode_transcripts
from blspeech.training.checkpoint import training_needed
from blspeech.training.distributed import init_from_environment
from blspeech.training.loop import Trainer
from blspeech.training.objectives import ctc_feasible

log = logging.getLogger("blspeech")


def ctc_targets(data_dir: Path, tokenizer: Tokenizer, time_subsampling: int, num_frames: dict[str, int],
                stage: str) -> dict[str, list[int]]:
    """Unit ids per utterance, leaving out (counted) empty texts, unknown characters and
    utterances too short for their label sequence after time subsampling."""
    encoded = SkipLog(stage)
    targets = encode_transcripts(read_table(data_dir / "text"), tokenizer, encoded)
    encoded.summary()
    length_check = SkipLog(f"{stage} (CTC length)")
    feasible = {}
    for utt, labels in targets.items():
        frames = num_frames.get(utt)
        out_frames = -(-frames // time_subsampling) if frames is not None else None
        if out_frames is not None and not ctc_feasible(out_frames, labels):
            length_check.skip(f"{utt} ({out_frames} frames, {len(labels)} labels)", "too short for its CTC label sequence")
            continue
        length_check.ok()
        feasible[utt] = labels
    length_check.summary()
    return feasible


def train_ctc_model(exp: Experiment, model_name: str, *, resume: bool) -> Path:
    """Train ``model_name`` with CTC on the recipe's training set; returns the final weights path."""
    recipe = exp.recipe
    run_dir = exp.run_dir(model_name)
    if not training_needed(run_dir, resume):
        return run_dir / "final.pt"
    init_from_environment(recipe.train.device)
    torch.manual_seed(recipe.seed)
    tokenizer = Tokenizer.load(exp.tokenizer_model)
    model = exp.build_model(model_name, num_outputs=tokenizer.vocab_size)

    def dataset(directory: Path, train: bool):
        frames = utterance_frames(recipe, directory)
        targets = ctc_targets(directory, tokenizer, model.time_subsampling, frames, f"targets {directory.name}")
        return feature_dataset(recipe, directory, targets=targets, train=train)

    train_set = dataset(exp.train_dir, train=True)
    dev_dir = exp.data_dir(recipe.data.dev_set)
    dev_set = dataset(dev_dir, train=False)
    dev_text = read_table(dev_dir / "text")
    shift = recipe.features.frame_shift_ms / 1000

    def dev_wer(trained: torch.nn.Module) -> float:
        return hypothesis_wer(greedy(compute_log_probs(trained, dev_set), tokenizer, shift), dev_text)

    extra = {"recipe": to_dict(recipe), "model_config": model.config, "objective": "ctc", **front_end_record(exp)}
    trainer = Trainer(model, train_set, dev_set, recipe.train, run_dir, objective="ctc", seed=recipe.seed,
                      extra_state=extra, dev_wer=dev_wer)
    return trainer.fit()
