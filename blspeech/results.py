"""The score stage: every decode scored the NIST way, and one WER table for all models of a recipe.

``python -m blspeech.results EXP_DIR [EXP_DIR ...]`` prints the tables of several recipes side by
side (e.g. the CTC and the hybrid recipe on the same corpus), one row per model and decoding.

Test sets are scored against their stm/glm (hub5 rules, SWB and CallHome subsets). The dev set
has no stm from the corpus, so one is written from its data dir (segments + text), which lets
the same scorer report it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from blspeech.cli import report_errors
from blspeech.config import FeatureConfig
from blspeech.data.kaldi_dir import DataDir, Segment, read_table
from blspeech.experiment import Experiment
from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.score import score
from blspeech.score.report import SUBSET_ORDER, splits_into_subsets

log = logging.getLogger("blspeech")
MODES = ("greedy", "lm", "graph")  # CTC: greedy and LM beam search; hybrid: HCLG best path
GMM_ROW = "gmm-hmm (alignments)"  # the results.md row of a hybrid recipe's own GMM-HMM system
MODE_NAMES = {"greedy": "CTC, greedy", "lm": "CTC, lexicon + LM beam search", "graph": "hybrid, HCLG"}


def write_reference_stm(data: DataDir, path: Path, durations: Mapping[str, float]) -> None:
    """An stm for a data dir that has none: one segment per utterance, speaker = Kaldi speaker.

    Without ``segments`` every utterance is a recording of its own from 0 to its duration
    (``durations``, seconds), as the hypotheses' ctm places it; one without a duration (no
    features, so never decoded) gets 0.01 s, and its words all count as deletions.
    """
    segments = data.segments or {utt: Segment(utt, 0.0, durations.get(utt, 0.01)) for utt in data.utt2spk}
    with atomic_write(path) as handle:
        handle.write(';; LABEL "O" "Overall" "Overall"\n')
        for utt in sorted(segments, key=lambda u: (segments[u].recording, segments[u].start)):
            seg = segments[utt]
            file, channel = data.reco2file_and_channel.get(seg.recording, (seg.recording, "A"))
            handle.write(f"{file} {channel} {data.utt2spk[utt]} {seg.start:.2f} {seg.end:.2f} <O> {data.text[utt]}\n")


@dataclass
class ModelResult:
    """One scored system, a row of results.md: a network (results.json holds these) or a hybrid
    recipe's own GMM-HMM system."""

    name: str
    params: int
    gflops: float
    wer: dict[str, dict[str, float]]  # "set/mode" -> {"Overall": .., "SWB": .., "CallHome": ..}


def reference_stm(directory: Path, written: Path, frame_shift_ms: float) -> Path | None:
    """The stm a data dir is scored against: its own, else one written to ``written`` from its
    text (and segments) each time, so it follows the data dir; None for a data dir without text.
    Text that leaves out utterances is an error naming one: their hypotheses would have no
    reference to be scored against."""
    if (directory / "stm").exists():
        return directory / "stm"
    if not (directory / "text").exists():
        return None
    data = DataDir.read(directory)
    untranscribed = sorted(set(data.utt2spk) - set(data.text))
    if untranscribed:
        raise ValueError(f"{directory}/text has no transcript for {len(untranscribed)} of {len(data.utt2spk)} "
                         f"utterances (first: {untranscribed[0]}), so they cannot be scored")
    write_reference_stm(data, written, _durations(directory, frame_shift_ms))
    return written


def reference_files(exp: Experiment, set_name: str) -> tuple[Path, Path | None]:
    """The stm (written for dev) and glm a set is scored against; a set without a glm borrows the
    test sets' one, so dev and test follow the same hub5 mapping rules."""
    directory = exp.data_dir(set_name)
    stm = reference_stm(directory, exp.exp_dir / f"{set_name}.stm", exp.recipe.features.frame_shift_ms)
    if stm is None:
        raise ValueError(f"{directory} has neither stm nor text: nothing to score {set_name} against")
    candidates = [directory / "glm"] + [exp.data_dir(name) / "glm" for name in exp.recipe.data.test_sets]
    return stm, next((glm for glm in candidates if glm.exists()), None)


def _durations(directory: Path, frame_shift_ms: float) -> dict[str, float]:
    """Seconds per utterance from its feature frames (what the decoder saw), or {} before features exist."""
    frames = directory / "utt2num_frames"
    return {utt: int(n) * frame_shift_ms / 1000 for utt, n in read_table(frames).items()} if frames.exists() else {}


def score_model(exp: Experiment, model_name: str) -> ModelResult:
    from blspeech.decode.recognize import load_model
    from blspeech.models import count_parameters

    run_dir = exp.run_dir(model_name)
    results = score_decodes(exp, run_dir, model_name)
    model, _ = load_model(run_dir / "final.pt")
    return ModelResult(model_name, count_parameters(model), gflops_per_second_of_audio(model, exp.recipe.features),
                       results)


def gflops_per_second_of_audio(model, features: FeatureConfig) -> float:
    """The model's GFLOPs for one second of audio at the recipe's frame shift."""
    from blspeech.models import flops_per_second

    return flops_per_second(model, in_channels=features.channels, num_mel_bins=features.num_mel_bins,
                            frame_rate=round(1000 / features.frame_shift_ms)) / 1e9


def score_decodes(exp: Experiment, run_dir: Path, label: str) -> dict[str, dict[str, float]]:
    """WER per subset of every ``run_dir/decode_<set>/<mode>/hyp.ctm`` there is, by "set/mode";
    each decode dir gets its sclite-style reports and a ``wer.txt``."""
    results: dict[str, dict[str, float]] = {}
    for set_name in exp.eval_sets:
        stm, glm = reference_files(exp, set_name)
        for mode in MODES:
            decode_dir = run_dir / f"decode_{set_name}" / mode
            hyp = decode_dir / "hyp.ctm"
            if not hyp.exists():
                continue
            report = score(stm, hyp, glm=glm, out_dir=decode_dir)
            write_text_atomic(decode_dir / "wer.txt", report.summary() + "\n")
            results[f"{set_name}/{mode}"] = {name: counts.wer for name, counts in report.subsets.items()}
            log.info("%s %s %s: %s", label, set_name, mode, report.summary())
    return results


def score_gmm_system(exp: Experiment) -> ModelResult | None:
    """The recipe's own GMM-HMM system, scored like the networks, or None when it has not been
    decoded (a recipe with an external Kaldi system, or an earlier run)."""
    system = exp.gmm_system_dir
    if not (system / "decode.json").exists():
        return None
    from blspeech.hybrid_system.decode_gmm import gmm_size
    from blspeech.hybrid_system.model_io import read_acoustic_model
    from blspeech.hybrid_system.system import HybridSystemPaths

    model = read_acoustic_model(HybridSystemPaths.under(system, with_dev=False).transition_model)
    params, flops = gmm_size(model, 1000.0 / exp.recipe.features.frame_shift_ms)
    return ModelResult(GMM_ROW, params, flops / 1e9, score_decodes(exp, system, GMM_ROW))


def format_table(exp: Experiment, results: list[ModelResult]) -> str:
    """Markdown: one row per model, WER (%) per set and decoding mode, SWB/CallHome split for test sets."""
    from blspeech.models import baseline_name

    columns = [(set_name, mode, subset)
               for set_name in exp.eval_sets for mode in MODES
               for subset in SUBSET_ORDER
               if (subset == "Overall" or set_name != exp.recipe.data.dev_set)
               and any(subset in r.wer.get(f"{set_name}/{mode}", {}) for r in results)]
    gflops = {r.name: r.gflops for r in results}
    head = ["model", "params", "GFLOPs/s audio", "FLOPs vs baseline"] + [
        f"{s} {m}" + ("" if sub == "Overall" else f" {sub}") for s, m, sub in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        baseline = baseline_name(r.name)
        ratio = f"{r.gflops / gflops[baseline]:.3f}" if baseline in gflops else "-"
        cells = [r.name, f"{r.params / 1e6:.2f}M", f"{r.gflops:.3f}", ratio]
        cells += [f"{r.wer[f'{s}/{m}'][sub]:.1f}" if sub in r.wer.get(f"{s}/{m}", {}) else "-" for s, m, sub in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def score_experiment(exp: Experiment) -> str:
    """Score all models of the recipe; write exp_dir/results.md and results.json; return the table.
    A hybrid recipe's own GMM-HMM system, when decoded, gets a row in the table (results.json lists
    the networks only: the benchmark and the comparison read trained runs from it)."""
    results = [score_model(exp, name) for name in exp.model_names]
    gmm = score_gmm_system(exp) if exp.recipe.model.output == "hybrid" else None
    table = format_table(exp, results + ([gmm] if gmm else []))
    write_text_atomic(exp.exp_dir / "results.md", table)
    write_text_atomic(exp.exp_dir / "results.json",
                      json.dumps([r.__dict__ for r in results], indent=1) + "\n")
    return table


def read_results(exp_dir: Path) -> list[ModelResult]:
    """The models of a scored experiment, as its score stage wrote them to results.json."""
    return read_results_file(Path(exp_dir) / "results.json")


def read_results_file(path: Path) -> list[ModelResult]:
    """The models a score stage wrote to ``path``; a missing or malformed file is an error naming it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results; run the recipe through its score stage first")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from error
    keys = set(ModelResult.__dataclass_fields__)
    if not isinstance(entries, list) or not all(isinstance(e, dict) and keys <= e.keys() for e in entries):
        raise ValueError(f"{path}: expected a list of {{{', '.join(sorted(keys))}}} entries")
    return [ModelResult(**{key: entry[key] for key in keys}) for entry in entries]


def format_comparison(experiments: dict[str, list[ModelResult]]) -> str:
    """Markdown: one row per experiment, model and decoding mode; FLOPs relative to the baseline in
    the same experiment; WER (%) per set, with the SWB/CallHome split where the set has one."""
    from blspeech.models import baseline_name

    columns: list[tuple[str, str]] = []
    for results in experiments.values():
        for result in results:
            for key, subsets in result.wer.items():
                set_name = key.split("/")[0]
                split = splits_into_subsets(subsets)
                for subset in SUBSET_ORDER:
                    if subset in subsets and (subset == "Overall" or split) and (set_name, subset) not in columns:
                        columns.append((set_name, subset))
    columns.sort(key=lambda column: (column[0], SUBSET_ORDER.index(column[1])))
    head = ["experiment", "model", "decoding", "params", "GFLOPs/s audio", "FLOPs vs baseline"] + [
        set_name if subset == "Overall" else f"{set_name} {subset}" for set_name, subset in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for experiment, results in experiments.items():
        gflops = {r.name: r.gflops for r in results}
        for r in results:
            baseline = baseline_name(r.name)
            ratio = f"{r.gflops / gflops[baseline]:.3f}" if baseline in gflops else "-"
            for mode in MODES:
                scored = {key.split("/")[0]: subsets for key, subsets in r.wer.items() if key.endswith(f"/{mode}")}
                if not scored:
                    continue
                cells = [experiment, r.name, MODE_NAMES[mode], f"{r.params / 1e6:.2f}M", f"{r.gflops:.3f}", ratio]
                cells += [f"{scored[s][sub]:.1f}" if sub in scored.get(s, {}) else "-" for s, sub in columns]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blspeech.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_dirs", nargs="+", type=Path, help="experiment directories (exp_dir of each recipe)")
    args = parser.parse_args(argv)
    return report_errors(parser.prog, lambda: print(format_comparison(
        {str(directory): read_results(directory) for directory in args.exp_dirs}), end=""))


if __name__ == "__main__":
    sys.exit(main())
