"""FLOPs against WER, one point per model, each baseline joined to its bL model by a line.

WERs come from the main job's ``exp/<recipe>/results.json`` (written by
:func:`blspeech.results.score_experiment`: a list of ``{name, params, gflops, wer: {"set/mode":
{"Overall": .., "SWB": .., "CallHome": ..}}}``). Without any, the plot shows the benchmarked
models' FLOPs alone and says so in its title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from blspeech.fileio import atomic_write  # noqa: E402
from blspeech.models import baseline_name  # noqa: E402
from blspeech.results import ModelResult, read_results_file  # noqa: E402
from blspeech.score.report import splits_into_subsets  # noqa: E402

MODE_PREFERENCE = ("lm", "graph", "greedy")


@dataclass(frozen=True)
class WerPoint:
    """One trained model: ``gflops`` per second of audio, ``wer`` in percent."""

    recipe: str
    name: str
    gflops: float
    wer: float


def choose_wer_key(entries: Sequence[ModelResult]) -> str | None:
    """The "set/mode" every entry was scored on, preferring a test set (one with both SWB and
    CallHome subsets; a dev set's stm may label its speakers SWB) and LM decoding; None when the
    entries share none."""
    shared = set.intersection(*(set(entry.wer) for entry in entries)) if entries else set()
    if not shared:
        return None

    def preference(key: str) -> tuple[int, int, str]:
        mode = key.rsplit("/", 1)[-1]
        is_test = any(splits_into_subsets(entry.wer[key]) for entry in entries)
        rank = MODE_PREFERENCE.index(mode) if mode in MODE_PREFERENCE else len(MODE_PREFERENCE)
        return (0 if is_test else 1, rank, key)

    return min(shared, key=preference)


def wer_points(paths: Sequence[Path], wer_key: str | None = None) -> tuple[list[WerPoint], str | None]:
    """Points of every results file (recipe = its directory's name) at ``wer_key`` (chosen per file
    when None; an entry without it is left out), and the keys used, comma-separated when files differ."""
    points, keys = [], set()
    for path in paths:
        entries = read_results_file(path)
        key = wer_key or choose_wer_key(entries)
        if key is None:
            continue
        keys.add(key)
        points += [WerPoint(path.parent.name, entry.name, float(entry.gflops), float(entry.wer[key]["Overall"]))
                   for entry in entries if key in entry.wer and "Overall" in entry.wer[key]]
    return points, (", ".join(sorted(keys)) if keys else None)


@dataclass(frozen=True)
class FlopsPoint:
    """One benchmarked model: registry ``name``, a short ``label`` (drawn for presets only: the
    alpha/beta grid's points crowd each other) and GFLOPs per second of audio."""

    name: str
    label: str
    gflops: float
    preset: bool = True


def _family(name: str) -> str:
    """The baseline a model is compared with (itself for a baseline)."""
    return baseline_name(name) or name


def _marker(name: str) -> str:
    return "s" if baseline_name(name) is None else "o"


def _draw_wer(axes, points: Sequence[WerPoint], wer_key: str | None) -> None:
    for recipe in dict.fromkeys(point.recipe for point in points):
        mine = {point.name: point for point in points if point.recipe == recipe}
        for name, point in mine.items():
            twin = mine.get(baseline_name(name) or "")
            if twin is not None:
                axes.plot([twin.gflops, point.gflops], [twin.wer, point.wer], color="0.6", zorder=1)
            axes.scatter(point.gflops, point.wer, marker=_marker(name), zorder=2)
            axes.annotate(f"{name} ({recipe})", (point.gflops, point.wer), textcoords="offset points",
                          xytext=(5, 4), fontsize=8)
    axes.set_ylabel(f"WER (%), {wer_key}, Overall")
    axes.set_title("FLOPs vs WER (squares: baselines, circles: bL; a line joins each pair)", fontsize=10)


def _draw_flops_only(axes, flops: Sequence[FlopsPoint]) -> None:
    rows: dict[str, int] = {}
    for point in flops:
        row = rows.setdefault(_family(point.name), len(rows))
        axes.scatter(point.gflops, row, marker=_marker(point.name), zorder=2, s=36 if point.preset else 14)
        if point.preset:
            axes.annotate(point.label, (point.gflops, row), textcoords="offset points", xytext=(0, 7), fontsize=8,
                          ha="left", rotation=30)
    for family, row in rows.items():
        values = [point.gflops for point in flops if _family(point.name) == family]
        axes.plot([min(values), max(values)], [row, row], color="0.6", zorder=1)
    axes.set_xscale("log")
    axes.set_yticks(range(len(rows)), [f"{family} family" for family in rows])
    axes.set_ylim(-0.5, len(rows) - 0.2)
    axes.set_title("FLOPs only: no WER results yet (no exp/<recipe>/results.json)\n"
                   "squares: baselines; circles: bL presets (a=alpha, b=beta), small ones the alpha/beta grid",
                   fontsize=10)


def plot_flops_vs_wer(path: Path, points: Sequence[WerPoint], wer_key: str | None,
                      flops: Sequence[FlopsPoint]) -> None:
    """Write the PNG: WER against GFLOPs if there are WER ``points``, else the benchmarked
    models' ``flops`` alone, one row per baseline family."""
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    if points:
        _draw_wer(axes, points, wer_key)
    else:
        _draw_flops_only(axes, flops)
    axes.set_xlabel("GFLOPs per second of audio")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
