"""The main job: every stage of a recipe, in order, each skipped when its outputs are complete.

    python -m blspeech.train recipes/swbd_mini.yaml
    python -m blspeech.train recipes/swbd.yaml --set corpus.dir=/data/ldc --set train.epochs=20
    python -m blspeech.train recipes/tiny.yaml --stage train --stop-stage decode --resume

Stages: corpus (synthesize if the recipe says so) -> prep (Kaldi data dirs) -> features
(log-mel + CMVN stats) -> units (CTC: sentencepiece, lexicon, n-gram LM; hybrid: the GMM-HMM
system, tree and HCLG when the recipe asks to build one) -> train (the bL model and
each baseline in ``model.compare``) -> decode (greedy and LM beam search, LM weights tuned on
dev) -> score (sclite-style reports and the WER table).

This module only wires stages together; each stage's work lives in its own module, which also
has its own ``python -m`` entry.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from blspeech.allocator import retain_freed_memory
from blspeech.cli import USER_ERRORS
from blspeech.config import ConfigError, Recipe, load_recipe, recipe_changes, save_recipe
from blspeech.experiment import Experiment
from blspeech.fileio import write_text_atomic
from blspeech.markers import complete_with, mark_complete
from blspeech.training.checkpoint import RunExists
from blspeech.training.distributed import leave_process_group
from blspeech.training.lock import ExperimentLock, ExperimentLocked

log = logging.getLogger("blspeech")
STAGES = ("corpus", "prep", "features", "units", "train", "decode", "score")
COMPLETE = ".complete"


class StageFailed(RuntimeError):
    """A stage stopped on bad input or settings; the message names the stage and the cause."""


def stage_corpus(exp: Experiment, args: argparse.Namespace) -> None:
    """Synthesize the LDC-layout corpus (embedded recipes), or check the real one is there."""
    corpus = exp.recipe.corpus
    if not corpus.synthesize:
        for key in ("swb1", "transcripts"):
            path = exp.corpus_part(getattr(corpus, key))
            if not path.is_dir():
                raise FileNotFoundError(f"corpus part {path} not found (recipe corpus.dir and corpus.{key})")
        return
    from blspeech.corpus.synth import synthesize_corpus

    # Always asked, even for a complete corpus: it returns the stored summary when the corpus was
    # synthesized with these settings and refuses one made with others.
    summary = synthesize_corpus(exp.corpus_dir, hours=corpus.hours, speakers=corpus.speakers,
                                eval_minutes=corpus.eval_minutes, seed=corpus.seed, jobs=corpus.jobs)
    write_text_atomic(exp.corpus_dir / COMPLETE, f"{summary}\n")


def prep_settings(exp: Experiment) -> dict[str, str | int]:
    """What decides the data dirs prep writes: the corpus parts it reads and the data settings."""
    corpus, data = exp.recipe.corpus, exp.recipe.data
    parts = {key: str(exp.corpus_part(getattr(corpus, key)).resolve())
             for key in ("swb1", "transcripts", "hub5", "hub5_transcripts")}
    return {**parts, "sph_reader": corpus.sph_reader, "dev_utterances": data.dev_utterances,
            "max_duplicates": data.max_duplicates}


def stage_prep(exp: Experiment, args: argparse.Namespace) -> None:
    """LDC layout -> data/<train, dev, eval2000>; data dirs prepared with other settings are
    refused (recipes share them, so another recipe's would otherwise be used as this one's)."""
    marker = exp.data_root / COMPLETE
    if complete_with(marker, prep_settings(exp), f"{exp.data_root} (data.dir)"):
        log.info("prep: %s is complete, skipping", exp.data_root)
        return
    from blspeech.data.swbd import prepare_switchboard

    corpus, data = exp.recipe.corpus, exp.recipe.data
    hub5 = exp.corpus_part(corpus.hub5)
    prepare_switchboard(exp.corpus_part(corpus.swb1), exp.corpus_part(corpus.transcripts),
                        hub5_dir=hub5 if hub5.exists() else None,
                        hub5_transcripts_dir=exp.corpus_part(corpus.hub5_transcripts), output_dir=exp.data_root,
                        dev_utterances=data.dev_utterances, max_duplicates=data.max_duplicates,
                        sph_reader=corpus.sph_reader)
    mark_complete(marker, prep_settings(exp))


def stage_features(exp: Experiment, args: argparse.Namespace) -> None:
    """Speed perturbation (optional), then fbank + CMVN stats for every set (complete sets are kept)."""
    from blspeech.features.compute import check_same_sample_rate, compute_features
    from blspeech.features.speed_perturb import speed_perturb_data_dir

    feats = exp.recipe.features
    if feats.speed_perturb and not (exp.train_dir / "wav.scp").exists():
        speed_perturb_data_dir(exp.data_dir(exp.recipe.data.train_set), exp.train_dir, feats.speed_perturb)
    directories = [exp.train_dir, *(exp.data_dir(name) for name in exp.eval_sets)]
    for directory in directories:
        compute_features(directory, num_mel_bins=feats.num_mel_bins, frame_length_ms=feats.frame_length_ms,
                         frame_shift_ms=feats.frame_shift_ms, dither=feats.dither, jobs=feats.jobs)
    check_same_sample_rate(directories)


def stage_units(exp: Experiment, args: argparse.Namespace) -> None:
    """CTC units, the decoding lexicon and the word n-gram LM, all from the training text."""
    if exp.recipe.model.output == "hybrid":
        if exp.recipe.hybrid.build_system:
            from blspeech.hybrid_system import build_hybrid_system

            # The LM and vocabulary from the training text as it is, not from a speed-perturbed
            # copy (every sentence three times would change the n-gram discounts).
            lm_text = exp.data_dir(exp.recipe.data.train_set) / "text"
            build_hybrid_system(exp.train_dir, lm_text, exp.gmm_system_dir,
                                dev_dir=exp.data_dir(exp.recipe.data.dev_set), lm_order=exp.recipe.decode.lm_order)
        else:
            log.info("units: the hybrid model's units are the pdfs of the recipe's Kaldi tree")
        return
    from blspeech.units import prepare_units

    prepare_units(exp)


def stage_train(exp: Experiment, args: argparse.Namespace) -> None:
    """Train the recipe's model and every baseline it is compared with, on the same data and budget."""
    if exp.recipe.model.output == "hybrid":
        from blspeech.hybrid_training import train_hybrid_model as train_model
    else:
        from blspeech.ctc_training import train_ctc_model as train_model
    for name in exp.model_names:
        train_model(exp, name, resume=args.resume)
    leave_process_group()  # the later stages run on every rank alone


def stage_decode(exp: Experiment, args: argparse.Namespace) -> None:
    """CTC: greedy and LM beam-search decoding of dev and test sets, LM weights tuned on dev only.
    Hybrid: HCLG decoding, and the recipe's own GMM-HMM system decoded too when it built one."""
    from blspeech.decode.recognize import decode_experiment, decode_hybrid_experiment

    decode = decode_hybrid_experiment if exp.recipe.model.output == "hybrid" else decode_experiment
    for name in exp.model_names:
        decode(exp, name)
    if exp.recipe.model.output == "hybrid" and exp.recipe.hybrid.build_system:
        from blspeech.hybrid_system.decode_gmm import decode_gmm_experiment

        decode_gmm_experiment(exp)


def stage_score(exp: Experiment, args: argparse.Namespace) -> None:
    """Score every decode against the stm/glm and print the WER table of all models."""
    from blspeech.results import score_experiment

    table = score_experiment(exp)
    print(table)


STAGE_FUNCTIONS: dict[str, Callable[[Experiment, argparse.Namespace], None]] = {
    "corpus": stage_corpus, "prep": stage_prep, "features": stage_features, "units": stage_units,
    "train": stage_train, "decode": stage_decode, "score": stage_score,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m blspeech.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", type=Path, help="YAML recipe, e.g. recipes/swbd_mini.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set train.lr=1e-3 (repeatable; type-checked)")
    parser.add_argument("--stage", choices=STAGES, default=STAGES[0], help="first stage to run (default: %(default)s)")
    parser.add_argument("--stop-stage", choices=STAGES, default=STAGES[-1], help="last stage to run (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue training from the last checkpoint of each model (without it, a model "
                             "dir that already holds checkpoints is an error, so no run is overwritten by accident)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def shared_dir_lock(exp: Experiment, stage: str) -> ExperimentLock | None:
    """The lock of the directory ``stage`` writes that other experiments may share (recipes of
    one corpus share its corpus and data dirs), or None. A run holds it for the stage, so two
    runs never prepare the same data at once, deleting each other's temporary files. The
    synthesized corpus's lock file sits beside it: synthesis writes only into an empty directory."""
    if stage == "corpus" and exp.recipe.corpus.synthesize:
        corpus = exp.corpus_dir
        return ExperimentLock(corpus, corpus.parent / f".{corpus.name}.lock")
    return ExperimentLock(exp.data_root) if stage in ("prep", "features") else None


GMM_SYSTEM_KEYS = ("alignments", "dev_alignments", "transition_model", "graph")  # hybrid.*, as HybridSystemPaths names them


def with_gmm_system_paths(recipe: Recipe, *, check: bool = True) -> Recipe:
    """``recipe`` with the hybrid paths pointing at the GMM system it builds (``hybrid.build_system``)
    under its exp_dir, so a run moved with ``--set exp_dir=...`` trains on and decodes with its own
    system. A recipe that names other paths for them is refused (``check``): it would train on one
    system and report another."""
    if not (recipe.model.output == "hybrid" and recipe.hybrid.build_system):
        return recipe
    from blspeech.hybrid_system.system import HybridSystemPaths

    system = HybridSystemPaths.under(Experiment(recipe).gmm_system_dir, with_dev=True)
    derived = {key: str(getattr(system, key)) for key in GMM_SYSTEM_KEYS}
    for key, path in derived.items():
        given = getattr(recipe.hybrid, key)
        if check and given and Path(given).resolve() != Path(path).resolve():
            raise ConfigError(f"hybrid.{key} {given} is not the GMM system this recipe builds ({path}, under exp_dir): "
                              "leave it out, or set hybrid.build_system=false to use a system of your own")
    return dataclasses.replace(recipe, hybrid=dataclasses.replace(recipe.hybrid, **derived))


def check_recipe_unchanged(exp: Experiment) -> None:
    """Refuse a recipe that differs from the one ``exp``'s outputs were made with.

    Every stage skips outputs that are complete, so a run with, say, other units or more epochs
    would silently reuse the old tokenizer or model and report them as the new recipe's.
    """
    recorded = exp.exp_dir / "recipe.yaml"
    if not recorded.exists() or not {path.name for path in exp.exp_dir.iterdir()} - {"recipe.yaml", ".lock"}:
        return  # nothing made yet (a first run, or one that failed before writing anything)
    # The recorded GMM-system paths are this exp_dir's however they were spelled (or left out) then.
    before = with_gmm_system_paths(dataclasses.replace(load_recipe(recorded), exp_dir=exp.recipe.exp_dir), check=False)
    changes = recipe_changes(before, exp.recipe)
    if changes:
        raise ConfigError(f"{exp.exp_dir} holds outputs made with the recipe in {recorded}; this run changes "
                          f"{'; '.join(changes)}. Run it in another exp_dir (--set exp_dir=...), or remove "
                          f"{exp.exp_dir} to start it over")


def check_settings(recipe: Recipe) -> None:
    """Settings checked before any stage runs and before the recipe is recorded: names from a
    fixed set, the schedule's counts and the models the train stage builds. A typo in
    ``model.name`` would otherwise surface at the train stage, after the corpus and features, and
    the corrected rerun be refused as a change of the recorded recipe."""
    from blspeech.data.swbd import SPH_READERS
    from blspeech.loader import CMVN_MODES
    from blspeech.models import list_models
    from blspeech.models.spec import OUTPUT_KINDS
    from blspeech.tokenizer import KINDS
    from blspeech.training.loop import check_schedule

    choices = {
        "model.name": ([recipe.model.name], list_models()), "model.compare": (recipe.model.compare, list_models()),
        "model.output": ([recipe.model.output], OUTPUT_KINDS), "features.cmvn": ([recipe.features.cmvn], CMVN_MODES),
        "units.kind": ([recipe.units.kind], KINDS), "corpus.sph_reader": ([recipe.corpus.sph_reader], SPH_READERS),
    }
    for key, (values, valid) in choices.items():
        for value in values:
            if value not in valid:
                raise ConfigError(f"{key} {value!r} is not one of {', '.join(valid)}")
    models = [recipe.model.name, *recipe.model.compare]
    if len(set(models)) != len(models):
        raise ConfigError(f"model.compare {recipe.model.compare} repeats a model (model.name is {recipe.model.name})")
    check_schedule(recipe.train)
    for name in models:  # what the train stage builds, with the recipe's model settings
        try:
            Experiment(recipe).build_model(name, num_outputs=2)
        except ValueError as error:
            raise ConfigError(f"model settings (model.name {name}, model.overrides {recipe.model.overrides}, "
                              f"features): {error}") from None


def run(recipe: Recipe, args: argparse.Namespace) -> None:
    """Run the selected stages of ``recipe`` under the experiment lock."""
    check_settings(recipe)
    recipe = with_gmm_system_paths(recipe)
    exp = Experiment(recipe)
    first, last = STAGES.index(args.stage), STAGES.index(args.stop_stage)
    if first > last:
        raise ConfigError(f"--stage {args.stage} comes after --stop-stage {args.stop_stage}")
    check_recipe_unchanged(exp)
    # Under torchrun every rank runs this; rank 0 alone holds the lock and writes shared files.
    # Only training is shared out: the stages before it write the corpus, data and units every
    # rank trains on, so they have run (in one process) first, and the ones after it run on rank 0.
    leader = int(os.environ.get("RANK", "0")) == 0
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and first < STAGES.index("train"):
        raise ConfigError(f"under torchrun ({world} processes) only training is shared out: run the stages before it "
                          f"in one process first (--stop-stage units), then torchrun ... --stage train")
    with ExperimentLock(exp.exp_dir) if leader else contextlib.nullcontext():
        if leader:
            save_recipe(recipe, exp.exp_dir / "recipe.yaml")
        for name in STAGES[first : last + 1]:
            if not leader and STAGES.index(name) > STAGES.index("train"):
                log.info("rank %s: stages after train run on rank 0", os.environ.get("RANK"))
                break
            log.info("=== stage %s ===", name)
            lock = shared_dir_lock(exp, name) if leader else None
            with lock if lock is not None else contextlib.nullcontext():
                try:
                    STAGE_FUNCTIONS[name](exp, args)
                except USER_ERRORS as error:  # one line naming the stage; --verbose adds where it happened
                    raise StageFailed(f"stage {name}: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        run(recipe, args)
    except (ConfigError, ExperimentLocked, RunExists, FileNotFoundError, StageFailed) as error:
        if args.verbose and isinstance(error, StageFailed):
            log.debug("where it failed", exc_info=error.__cause__)
        print(f"blspeech.train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
