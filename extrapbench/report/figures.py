"""The paper's figures: label distributions with the split cuts (Fig. 3), parity plots (Fig. 4) and the recall
of extrapolative-sample detection (Fig. 5). Each function writes a PNG and a PDF and returns the Figure.

Labels are in transformed-target units throughout (the axis says which transform: "ln(n)" for a log task).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the workflow machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from extrapbench.evaluation.runs import check_predictions, read_predictions  # noqa: E402
from extrapbench.evaluation.metrics import mae  # noqa: E402
from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks  # noqa: E402
from extrapbench.report.io import PathLike, read_json, save_figure  # noqa: E402

SPLIT_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#C44E52"}


def target_axis_label(split_summary: dict) -> str:
    """"ln(n)" for a log-transformed target, the column name otherwise ("transformed target" if unknown)."""
    target = split_summary.get("target") or "target"
    if split_summary.get("transform") == "log":
        return f"ln({target})"
    return target if split_summary.get("target") else "transformed target"


def _grid(n_panels: int, max_columns: int, panel_size: tuple[float, float]):
    n_columns = max(1, min(max_columns, n_panels))
    n_rows = max(1, math.ceil(n_panels / n_columns))
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(panel_size[0] * n_columns, panel_size[1] * n_rows),
                                squeeze=False)
    return figure, axes


# ----------------------------------------------------------------------------------------------------------
# Fig. 3: label distributions
# ----------------------------------------------------------------------------------------------------------

def split_cuts(split_summary: dict) -> list[float]:
    """Cut positions between consecutive splits: midway between the neighbouring splits' extreme labels."""
    side = split_summary.get("side")
    if side == "top":  # train < val < test
        lower_to_upper = ("train", "val", "test")
    elif side == "bottom":  # test < val < train
        lower_to_upper = ("test", "val", "train")
    else:
        return []
    cuts = []
    for lower, upper in zip(lower_to_upper, lower_to_upper[1:]):
        if split_summary.get(lower, {}).get("n") and split_summary.get(upper, {}).get("n"):
            cuts.append(0.5 * (split_summary[lower]["max"] + split_summary[upper]["min"]))
    return cuts


def plot_label_distributions(split_csv_paths: Iterable[PathLike], split_json_paths: Iterable[PathLike],
                             png_path: PathLike, pdf_path: PathLike | None = None,
                             task_order: Sequence[str] | None = None, bins: int = 60) -> plt.Figure:
    """One panel per task: stacked histogram of the transformed target coloured by split, dashed lines at the
    cuts, title with the task and the split counts. CSV and JSON files are paired by file stem ({task})."""
    tables = {Path(path).stem: Path(path) for path in split_csv_paths}
    summaries = {}
    for path in split_json_paths:
        summary = read_json(path)
        summaries[summary.get("task", Path(path).stem)] = (summary, Path(path).stem)
    tasks = order_tasks(summaries, task_order)
    if not tasks:
        raise ValueError("no split summaries given")

    figure, axes = _grid(len(tasks), max_columns=4, panel_size=(4.2, 3.3))
    for axis, task in zip(axes.flat, tasks):
        summary, stem = summaries[task]
        if stem not in tables:
            raise ValueError(f"no split table {stem}.csv for split summary of task {task!r}")
        split_table = pd.read_csv(tables[stem], dtype={"id": str})
        edges = np.histogram_bin_edges(split_table["target"].to_numpy(float), bins=bins)
        splits = [s for s in ("train", "val", "test") if (split_table["split"] == s).any()]
        axis.hist([split_table.loc[split_table["split"] == s, "target"] for s in splits], bins=edges,
                  stacked=True, color=[SPLIT_COLOURS[s] for s in splits], label=splits)
        for cut in split_cuts(summary):
            axis.axvline(cut, color="black", linestyle="--", linewidth=1)
        counts = " / ".join(f"{s} {int((split_table['split'] == s).sum()):,}" for s in ("train", "val", "test"))
        axis.set_title(f"{task}\n{counts}", fontsize=9)
        axis.set_xlabel(target_axis_label(summary))
        axis.set_ylabel("number of materials")
        axis.legend(fontsize=8, frameon=False)
    for axis in list(axes.flat)[len(tasks):]:
        axis.set_visible(False)
    figure.suptitle("Label distributions and extrapolation splits (dashed: cuts)")
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    return figure


# ----------------------------------------------------------------------------------------------------------
# Fig. 4: parity plots
# ----------------------------------------------------------------------------------------------------------

_RUN_PATH = re.compile(r"(?P<task>[^/]+)/(?P<backbone>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/[^/]+$")


def parse_run_path(path: PathLike) -> dict:
    """task, backbone, method and seed of a file in ``results/runs/{task}/{backbone}/{method}/seed{seed}/``."""
    match = _RUN_PATH.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path} is not inside a .../{{task}}/{{backbone}}/{{method}}/seed{{seed}}/ run folder")
    parts = match.groupdict()
    parts["seed"] = int(parts["seed"])
    return parts


def plot_parity(prediction_paths: Iterable[PathLike], split_json_path: PathLike, png_path: PathLike,
                pdf_path: PathLike | None = None, seed: int | None = None,
                method_order: Sequence[str] | None = None,
                backbone_order: Sequence[str] | None = None) -> plt.Figure:
    """Predicted vs true labels for one task: a row per backbone, a column per method.

    Each panel shows one seed's test predictions (val in a lighter colour), the y = x line, the train label
    range shaded on the prediction axis (a prediction inside the band is not detected as extrapolative) and
    the test MAE. ``seed`` defaults to the lowest seed present; a (backbone, method) pair without that seed
    falls back to its own lowest seed, and the panel title always names the seed shown.
    """
    summary = read_json(split_json_path)
    runs = pd.DataFrame([{**parse_run_path(path), "path": Path(path)} for path in prediction_paths])
    if runs.empty:
        raise ValueError("no predictions given")
    other_tasks = set(runs["task"]) - {summary["task"]}
    if other_tasks:
        raise ValueError(f"predictions of tasks {sorted(other_tasks)} given for the {summary['task']} parity plot")
    wanted_seed = int(runs["seed"].min()) if seed is None else int(seed)

    backbones = order_backbones(runs["backbone"].unique(), backbone_order)
    methods = order_methods(runs["method"].unique(), method_order)
    # each backbone gets a block of rows with at most PARITY_COLUMNS methods per row, so many methods wrap
    columns = min(PARITY_COLUMNS, len(methods))
    rows_per_backbone = -(-len(methods) // columns)
    # constrained layout reserves room for the figure legend outside the panels ("outside lower center"), so
    # it can never cover the bottom row's axis labels, however many rows the figure has
    figure, axes = plt.subplots(len(backbones) * rows_per_backbone, columns,
                                figsize=(3.2 * columns, 3.6 * len(backbones) * rows_per_backbone + 0.4),
                                squeeze=False, layout="constrained")
    for axis in axes.flat:
        axis.set_visible(False)
    train_min, train_max = summary["train"]["min"], summary["train"]["max"]
    edges = reference_edges(summary)
    axis_label = target_axis_label(summary)
    for block, backbone in enumerate(backbones):
        for index, method in enumerate(methods):
            axis = axes[block * rows_per_backbone + index // columns, index % columns]
            axis.set_visible(True)
            candidates = runs[(runs["backbone"] == backbone) & (runs["method"] == method)]
            if candidates.empty:
                axis.set_visible(False)
                continue
            chosen = candidates[candidates["seed"] == wanted_seed]
            run = (chosen if not chosen.empty else candidates.sort_values("seed")).iloc[0]
            predictions = read_predictions(run["path"])
            # a truncated or stale file would be drawn with a wrong MAE: refused, naming the file (its evaluation
            # removes it, so that a plain rerun retrains the run)
            check_predictions(predictions, summary, run["path"])
            _parity_panel(axis, predictions, train_min, train_max, summary.get("side"), edges)
            axis.set_title(f"{display_name(backbone)} / {display_name(method)} (seed {run['seed']})", fontsize=9)
            axis.set_xlabel(f"true {axis_label}")
            axis.set_ylabel(f"predicted {axis_label}")
    handles, labels = next(ax for ax in axes.flat if ax.get_visible()).get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    figure.suptitle(f"{summary['task']}: predicted vs true")
    save_figure(figure, png_path, pdf_path)
    return figure


PARITY_COLUMNS = 5
#: the constant references' lines (extrapbench.references.constants): label, colour, line style
EDGE_STYLES = {"edge_train": ("edge (train)", "#2F2F2F", "--"), "edge_known": ("edge (train ∪ val)", "#8172B3", ":")}


def reference_edges(split_summary: dict) -> dict[str, float]:
    """The constant references' predictions on a range task: the train range's edge on the held-out side
    (edge_train) and the most extreme label over train ∪ val (edge_known); {} for a split without a side."""
    side = split_summary.get("side")
    if side not in ("top", "bottom"):
        return {}
    pick = max if side == "top" else min
    key = "max" if side == "top" else "min"
    known = [split_summary[part][key] for part in ("train", "val") if split_summary.get(part, {}).get("n")]
    return {"edge_train": split_summary["train"][key], "edge_known": pick(known)}


def _parity_panel(axis: plt.Axes, predictions: pd.DataFrame, train_min: float, train_max: float,
                  side: str | None, edges: dict[str, float] | None = None) -> None:
    test = predictions[predictions["split"] == "test"]
    val = predictions[predictions["split"] == "val"]
    # Zoom on the val/test points and the train-range edge they must cross, not the whole train range
    # (which would squeeze the points into a corner); the shaded band is clipped by the axes.
    train_edges = {"top": [train_max], "bottom": [train_min]}.get(side, [train_min, train_max])
    values = np.concatenate([predictions["y_true"], predictions["y_pred"], train_edges, list((edges or {}).values())])
    low, high = float(np.min(values)), float(np.max(values))
    margin = 0.05 * (high - low or 1.0)
    low, high = low - margin, high + margin

    axis.axhspan(train_min, train_max, color="0.85", zorder=0, label="train label range")
    axis.plot([low, high], [low, high], color="black", linewidth=0.8, zorder=1, label="y = x")
    for name, value in (edges or {}).items():  # what the constant references predict for every material
        label, colour, style = EDGE_STYLES[name]
        axis.axhline(value, color=colour, linestyle=style, linewidth=1.0, zorder=1, label=f"{label} constant")
    axis.scatter(val["y_true"], val["y_pred"], s=6, color=SPLIT_COLOURS["val"], alpha=0.35, linewidths=0,
                 zorder=2, label="val")
    axis.scatter(test["y_true"], test["y_pred"], s=6, color=SPLIT_COLOURS["test"], alpha=0.8, linewidths=0,
                 zorder=3, label="test")
    axis.set_xlim(low, high)
    axis.set_ylim(low, high)
    axis.set_box_aspect(1)  # equal x and y ranges: a square box is an equal aspect, and the layout sees it
    if len(test):
        axis.text(0.04, 0.96, f"test MAE {mae(test['y_true'], test['y_pred']):.3f}", transform=axis.transAxes,
                  va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})


# ----------------------------------------------------------------------------------------------------------
# Fig. 5: detection recall
# ----------------------------------------------------------------------------------------------------------

#: eight colours a reader tells apart, colour-blind safe (Okabe & Ito); past eight bars hatches vary as well
DISTINCT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
DISTINCT_HATCHES = ("", "//", "..", "xx")
#: more methods than this per task group: Fig. 5 draws paper A's eight only (the rest are in tables/detection)
MAX_DETECTION_BARS = len(DISTINCT_COLOURS)


def detection_figure_methods(present: Iterable[str], method_order: Sequence[str] | None = None) -> tuple[list, bool]:
    """The methods Fig. 5 draws, and whether that leaves some out: every method present when they are at most
    MAX_DETECTION_BARS, else paper A's eight as far as present (DenseWeight in LDS's slot without LDS;
    extrapbench.report.method_sets); every method when none of the eight is present."""
    from extrapbench.report.method_sets import method_sets

    methods = order_methods(list(present), method_order)
    if len(methods) <= MAX_DETECTION_BARS:
        return methods, False
    paper = method_sets(methods).paper
    return (paper, True) if paper else (methods, False)


def plot_detection_recall(summary: pd.DataFrame | PathLike, png_path: PathLike, pdf_path: PathLike | None = None,
                          task_order: Sequence[str] | None = None, method_order: Sequence[str] | None = None,
                          backbone_order: Sequence[str] | None = None,
                          methods: Sequence[str] | None = None) -> plt.Figure:
    """Grouped bars of the mean recall of extrapolative-sample detection (val ∪ test), error bars = std over
    seeds; one panel per backbone, a group per task, a bar per method, each method in its own colour
    (DISTINCT_COLOURS, then hatches). Missing (task, method) pairs leave a gap. ``methods``: the bars to draw;
    default :func:`detection_figure_methods` (more than eight methods: paper A's eight, the figure says so and
    tables/detection has every method)."""
    if not isinstance(summary, pd.DataFrame):
        summary = pd.read_csv(summary)
    if "detect_recall_mean" not in summary.columns:
        raise ValueError("summary has no detect_recall_mean column")
    tasks = order_tasks(summary["task"].unique(), task_order)
    if methods is None:
        methods, left_out = detection_figure_methods(summary["method"].unique(), method_order)
    else:
        methods, left_out = [m for m in methods if m in set(summary["method"])], False
    left_out = left_out and len(methods) < summary["method"].nunique()
    backbones = order_backbones(summary["backbone"].unique(), backbone_order)
    colours = [DISTINCT_COLOURS[i % len(DISTINCT_COLOURS)] for i in range(len(methods))]
    hatches = [DISTINCT_HATCHES[(i // len(DISTINCT_COLOURS)) % len(DISTINCT_HATCHES)] for i in range(len(methods))]

    width = 0.8 / len(methods)
    figure_width = max(7.0, 0.25 * len(tasks) * len(methods) + 2.0)
    figure, axes = plt.subplots(len(backbones), 1, figsize=(figure_width, 3.2 * len(backbones)), squeeze=False)
    for axis, backbone in zip(axes[:, 0], backbones):
        of_backbone = summary[summary["backbone"] == backbone].set_index(["task", "method"])
        for position, (method, colour, hatch) in enumerate(zip(methods, colours, hatches)):
            offsets, means, errors = [], [], []
            for task_position, task in enumerate(tasks):
                if (task, method) not in of_backbone.index:
                    continue  # not run: leave a gap
                row = of_backbone.loc[(task, method)]
                if pd.isna(row["detect_recall_mean"]):
                    continue
                offsets.append(task_position - 0.4 + width * (position + 0.5))
                means.append(row["detect_recall_mean"])
                std = row.get("detect_recall_std", np.nan)
                errors.append(std)
            axis.bar(offsets, means, width=width, color=colour, hatch=hatch or None, edgecolor="white",
                     linewidth=0.5, label=display_name(method))
            with_std = [i for i, error in enumerate(errors) if not pd.isna(error)]  # single seed: no bar
            axis.errorbar([offsets[i] for i in with_std], [means[i] for i in with_std],
                          yerr=[errors[i] for i in with_std], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            for offset, mean in zip(offsets, means):
                if mean == 0:  # a zero-height bar is invisible: say "0" so it is not mistaken for a missing run
                    axis.text(offset, 0.01, "0", ha="center", va="bottom", fontsize=7, color=colour)
        axis.set_xticks(np.arange(len(tasks)))
        axis.set_xticklabels(tasks, rotation=20, ha="right", fontsize=8)
        axis.set_xlim(-0.5, len(tasks) - 0.5)
        axis.set_ylim(0, 1.05)
        axis.set_ylabel("recall (val ∪ test)")
        axis.set_title(display_name(backbone))
        axis.grid(axis="y", linewidth=0.4, alpha=0.6)
        axis.set_axisbelow(True)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=colour, hatch=hatch or None, edgecolor="white")
               for colour, hatch in zip(colours, hatches)]
    figure.legend(handles, [display_name(m) for m in methods], loc="center left", bbox_to_anchor=(1.0, 0.5),
                  frameon=False, title="method")
    title = "Recall of extrapolative-sample detection (prediction beyond the train range)"
    if left_out:
        title += (f"\npaper A's {len(methods)} methods; all {summary['method'].nunique()} methods: "
                  "tables/detection.md")
    figure.suptitle(title)
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    return figure
