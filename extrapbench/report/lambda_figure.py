"""Fig. 6: MEX test MAE against λ (``lambda_abs``) over the model-selection grid points, against ERM and the best
baseline."""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the workflow machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks  # noqa: E402
from extrapbench.report.io import PathLike, read_json, save_figure  # noqa: E402
from extrapbench.report.variants import LAMBDA_KEY  # noqa: E402


# ----------------------------------------------------------------------------------------------------------
# Fig. 6: sensitivity to λ
# ----------------------------------------------------------------------------------------------------------

_POINT_PATH = re.compile(r"(?P<task>[^/]+)/(?P<backbone>[^/]+)/(?P<method>[^/]+)/(?P<point>p\d+)/[^/]+$")


def read_point_metrics(point_metrics_paths: Iterable[PathLike], metric: str = "mae") -> dict:
    """{(task, backbone, method, point): metric} from the grid points' metrics: a selection's grid_metrics.json
    (``results/selection/{task}/{backbone}/{method}/grid_metrics.json``, ``{"points": [record, ...]}``, each record
    naming its task, backbone, method and point) or one point's metrics.json in a ``.../{point}/`` folder."""
    values = {}
    for path in point_metrics_paths:
        record = read_json(path)
        if isinstance(record, Mapping) and isinstance(record.get("points"), list):
            for point in record["points"]:
                value = point.get(metric)
                values[(point["task"], point["backbone"], point["method"], point["point"])] = (
                    math.nan if value is None else float(value))
            continue
        match = _POINT_PATH.search(Path(path).as_posix())
        if match is not None:
            key = (match["task"], match["backbone"], match["method"], match["point"])
        elif all(k in record for k in ("task", "backbone", "method", "point")):
            key = (record["task"], record["backbone"], record["method"], record["point"])
        else:
            raise ValueError(f"{path}: not inside a .../{{task}}/{{backbone}}/{{method}}/{{point}}/ folder")
        value = record.get(metric)
        values[key] = math.nan if value is None else float(value)
    return values


def lambda_curves(selected: Iterable[Mapping | PathLike], point_metrics: Mapping | Iterable[PathLike],
                  lambda_key: str = LAMBDA_KEY, metric: str = "mae") -> pd.DataFrame:
    """One row per grid point on the λ curve of each selection: the points whose hyper-parameters other than
    ``lambda_key`` equal the selected point's, with their λ, val MAE (from selected.json) and test ``metric``
    (from the point's metrics.json). A selection whose grid has no ``lambda_key`` gives one row with
    ``lambda_in_grid`` False (and λ NaN)."""
    if not isinstance(point_metrics, Mapping):
        point_metrics = read_point_metrics(point_metrics, metric)
    rows = []
    for record in selected:
        if isinstance(record, (str, os.PathLike)):
            record = read_json(record)
        key = (record["task"], record["backbone"], record["method"])
        chosen = dict(record.get("selected_params") or {})
        base = {"task": key[0], "backbone": key[1], "method": key[2], "seed": record.get("seed"),
                "selected_point": record.get("selected")}
        if lambda_key not in chosen:
            rows.append({**base, "point": record.get("selected"), "lambda": math.nan, "lambda_in_grid": False,
                         "val_mae": math.nan, f"test_{metric}": point_metrics.get((*key, record.get("selected")),
                                                                                  math.nan), "is_selected": True})
            continue
        others = {k: v for k, v in chosen.items() if k != lambda_key}
        for point in record.get("points", []):
            params = point.get("params") or {}
            if lambda_key not in params or {k: v for k, v in params.items() if k != lambda_key} != others:
                continue
            rows.append({**base, "point": point["point"], "lambda": float(params[lambda_key]),
                         "lambda_in_grid": True, "val_mae": point.get("val_mae", math.nan),
                         f"test_{metric}": point_metrics.get((*key, point["point"]), math.nan),
                         "is_selected": point["point"] == record.get("selected")})
    columns = ["task", "backbone", "method", "seed", "selected_point", "point", "lambda", "lambda_in_grid",
               "val_mae", f"test_{metric}", "is_selected"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["task", "backbone", "method", "lambda"], kind="stable").reset_index(drop=True)


def baseline_lines(summary: pd.DataFrame, task: str, backbone: str, reference: str, exclude: set,
                   metric: str) -> tuple[float, tuple[str, float] | None]:
    """The horizontal lines of a panel: ``reference``'s mean ``metric`` on the task and backbone (NaN when it did
    not run), and (name, mean) of the best other method, leaving out ``exclude`` and every entry whose name starts
    with "mex" (None when no method is left)."""
    rows = summary[(summary["task"] == task) & (summary["backbone"] == backbone)]
    rows = rows[rows[f"{metric}_mean"].notna()] if f"{metric}_mean" in rows.columns else rows.iloc[0:0]
    reference_rows = rows[rows["method"] == reference]
    reference_value = float(reference_rows[f"{metric}_mean"].iloc[0]) if len(reference_rows) else math.nan
    baselines = rows[(rows["method"] != reference) & ~rows["method"].isin(exclude)
                     & ~rows["method"].str.lower().str.startswith("mex")]
    best = None
    if len(baselines):
        row = baselines.loc[baselines[f"{metric}_mean"].idxmin()]
        best = (row["method"], float(row[f"{metric}_mean"]))
    return reference_value, best


def plot_lambda_sensitivity(selected: Iterable[Mapping | PathLike], point_metrics: Mapping | Iterable[PathLike],
                            summary: pd.DataFrame | PathLike, png_path: PathLike, pdf_path: PathLike | None = None,
                            lambda_key: str = LAMBDA_KEY, reference: str = "erm", metric: str = "mae",
                            task_order: Sequence[str] | None = None,
                            backbone_order: Sequence[str] | None = None) -> plt.Figure:
    """Fig. 6: a panel per task; per backbone (colour) and MEX entry (marker), the test ``metric`` of the
    selection grid points along λ with every other hyper-parameter at its selected value (one seed: the
    selection seed), the selected point starred, and the final runs' mean ± std over seeds at the selected λ.
    Horizontal lines: ERM's mean test MAE (dashed) and the best other baseline's (dotted), from the summary.
    A panel whose grid had no λ says so instead of drawing a curve."""
    if not isinstance(summary, pd.DataFrame):
        summary = pd.read_csv(summary)
    curves = lambda_curves(list(selected), point_metrics, lambda_key, metric)
    value_column = f"test_{metric}"
    tasks = order_tasks(list(curves["task"].unique()) or list(summary["task"].unique()), task_order)
    if not tasks:
        raise ValueError("no selections and no summary rows to plot")
    backbones = order_backbones(list(curves["backbone"].unique()) or list(summary["backbone"].unique()),
                                backbone_order)
    mex_methods = order_methods(curves["method"].unique())
    colours = dict(zip(backbones, plt.get_cmap("tab10")(np.arange(len(backbones)))))
    markers = dict(zip(mex_methods, "osD^v<>ph*"))

    n_columns = min(4, len(tasks))
    n_rows = math.ceil(len(tasks) / n_columns)
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(4.4 * n_columns, 3.6 * n_rows), squeeze=False)
    seeds = sorted({int(s) for s in curves["seed"].dropna()})
    for axis, task in zip(axes.flat, tasks):
        of_task = curves[curves["task"] == task]
        notes = []
        for backbone in backbones:
            colour = colours[backbone]
            for method in mex_methods:
                curve = of_task[(of_task["backbone"] == backbone) & (of_task["method"] == method)]
                if curve.empty:
                    continue
                if not curve["lambda_in_grid"].any():
                    notes.append(f"{display_name(backbone)}/{display_name(method)}: λ not in the selection grid")
                    continue
                label = f"{display_name(backbone)} {display_name(method)} (grid, seed "
                label += f"{int(curve['seed'].iloc[0])})" if not pd.isna(curve["seed"].iloc[0]) else "?)"
                axis.plot(curve["lambda"], curve[value_column], color=colour, marker=markers.get(method, "o"),
                          markersize=5, linewidth=1.2, label=label)
                chosen = curve[curve["is_selected"]]
                axis.scatter(chosen["lambda"], chosen[value_column], marker="*", s=160, color=colour,
                             edgecolors="black", linewidths=0.6, zorder=5)
                final = summary[(summary["task"] == task) & (summary["backbone"] == backbone)
                                & (summary["method"] == method)]
                if len(chosen) and len(final) and f"{metric}_mean" in final.columns:
                    std = final[f"{metric}_std"].iloc[0] if f"{metric}_std" in final.columns else math.nan
                    axis.errorbar(chosen["lambda"].iloc[0], final[f"{metric}_mean"].iloc[0],
                                  yerr=None if pd.isna(std) else std, fmt="o", mfc="white", color=colour,
                                  capsize=3, zorder=4,
                                  label=f"{display_name(backbone)} {display_name(method)} final runs "
                                        f"(mean ± std over {int(final['n_seeds'].iloc[0])} seeds)")
            ref_value, best = baseline_lines(summary, task, backbone, reference, set(mex_methods), metric)
            if not math.isnan(ref_value):
                axis.axhline(ref_value, color=colour, linestyle="--", linewidth=1,
                             label=f"{display_name(backbone)} {display_name(reference)} (mean over seeds)")
            if best is not None:  # the best baseline differs per task: its name goes on the line
                axis.axhline(best[1], color=colour, linestyle=":", linewidth=1.4,
                             label=f"{display_name(backbone)} best other baseline (named on the line)")
                axis.annotate(display_name(best[0]), xy=(1.0, best[1]), xycoords=("axes fraction", "data"),
                              xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7,
                              color=colour)
        if of_task.empty:
            notes = ["no MEX selection grid for this task"]
        elif not of_task["lambda_in_grid"].any():
            notes = [f"λ ({lambda_key}) was not part of\nthe selection grid: no sensitivity curve"]
        if notes:
            axis.text(0.5, 0.5, "\n".join(notes), transform=axis.transAxes, ha="center", va="center", fontsize=8,
                      bbox={"facecolor": "#fff3cd", "edgecolor": "#c9a227", "alpha": 0.9})
        lambdas = sorted(of_task["lambda"].dropna().unique())
        if lambdas:
            axis.set_xticks(lambdas)
            axis.set_xticklabels([f"{v:g}" for v in lambdas])
        axis.set_title(task, fontsize=9)
        axis.set_xlabel(f"λ ({lambda_key})")
        axis.set_ylabel(f"test {metric.upper()}")
        axis.grid(linewidth=0.4, alpha=0.6)
    for axis in list(axes.flat)[len(tasks):]:
        axis.set_visible(False)
    legend = {}  # one legend for the figure: the same backbone / method / baseline styles in every panel
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    legend["selected by val MAE"] = plt.Line2D([], [], marker="*", markersize=11, color="0.5",
                                               markeredgecolor="black", linestyle="none")
    figure.legend(list(legend.values()), list(legend.keys()), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=min(3, len(legend)), fontsize=7, frameon=False)
    seed_text = f"seed {', '.join(map(str, seeds))}" if seeds else "one seed"
    figure.suptitle(f"MEX sensitivity to λ: test {metric.upper()} of the selection grid points\n({seed_text}: a "
                    f"single seed per point; other hyper-parameters at their selected values)", fontsize=10)
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    return figure
