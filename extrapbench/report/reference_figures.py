"""Every method's test MAE on one task against the reference predictors: one panel per backbone, a bar per
method (mean ± std over seeds), the constant references as horizontal lines (edge of the train range, edge of
train ∪ val, train mean) and the classical composition baselines (random forest, ridge) as hatched bars. Every bar,
a method's or a classical baseline's, is coloured by one question: does its mean beat the ``edge (train)`` line
(blue) or not (grey: no better than predicting the edge of the training labels; a tie within the report's tolerance,
extrapbench.report.compare, does not beat it). The hatching only says which bars are classical baselines."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the workflow machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from extrapbench.report.compare import beats  # noqa: E402
from extrapbench.report.figures import EDGE_STYLES  # noqa: E402
from extrapbench.naming import display_name, order_backbones, order_methods  # noqa: E402
from extrapbench.report.io import PathLike, save_figure  # noqa: E402

#: constant references drawn as lines: label, colour, style
REFERENCE_LINES = {**EDGE_STYLES, "train_mean": ("train mean", "0.5", "-.")}
#: bar colours: beats the train edge / does not (or no edge to compare with: BEATS's colour is not claimed then)
BEATS, DOES_NOT, NO_EDGE = "#4C72B0", "0.72", "#8C8C8C"
#: the hatching of the classical baselines' bars, drawn over whichever colour the bar has
CLASSICAL_HATCH, HATCH_COLOUR = "//", "0.2"


def plot_mae_vs_references(summary: pd.DataFrame | PathLike, references: pd.DataFrame | PathLike, task: str,
                           png_path: PathLike, pdf_path: PathLike | None = None,
                           method_order: Sequence[str] | None = None,
                           backbone_order: Sequence[str] | None = None) -> plt.Figure:
    summary = summary if isinstance(summary, pd.DataFrame) else pd.read_csv(summary)
    references = references if isinstance(references, pd.DataFrame) else pd.read_csv(references)
    summary, references = summary[summary["task"] == task], references[references["task"] == task]
    if summary.empty:
        raise ValueError(f"the summary has no runs of task {task!r}")
    backbones = order_backbones(summary["backbone"].unique(), backbone_order)
    methods = order_methods(summary["method"].unique(), method_order)
    classical = [r for r in references["method"].unique() if r not in REFERENCE_LINES]
    bars = methods + classical
    figure, axes = plt.subplots(len(backbones), 1, figsize=(max(6.0, 0.45 * len(bars) + 2.5), 3.4 * len(backbones)),
                                squeeze=False, layout="constrained")
    for axis, backbone in zip(axes[:, 0], backbones):
        mine = pd.concat([summary, references])
        mine = mine[mine["backbone"] == backbone].set_index("method")
        lines = {name: float(mine.loc[name, "mae_mean"]) for name in REFERENCE_LINES if name in mine.index}
        edge = lines.get("edge_train")
        for position, name in enumerate(bars):
            if name not in mine.index or pd.isna(mine.loc[name, "mae_mean"]):
                continue
            mean, std = float(mine.loc[name, "mae_mean"]), mine.loc[name].get("mae_std", np.nan)
            is_classical = name in classical
            colour = NO_EDGE if edge is None else (BEATS if beats(mean, edge) else DOES_NOT)
            axis.bar(position, mean, width=0.7, color=colour, hatch=CLASSICAL_HATCH if is_classical else None,
                     edgecolor=HATCH_COLOUR if is_classical else colour, linewidth=0.0,
                     yerr=None if pd.isna(std) else std, capsize=2, error_kw={"elinewidth": 0.8})
        for name, value in lines.items():
            label, colour, style = REFERENCE_LINES[name]
            axis.axhline(value, color=colour, linestyle=style, linewidth=1.2, label=f"{label}: {value:.3f}")
        axis.set_xticks(np.arange(len(bars)))
        axis.set_xticklabels([display_name(b) for b in bars], rotation=35, ha="right", fontsize=8)
        axis.set_ylabel("test MAE")
        axis.set_title(display_name(backbone), fontsize=10)
        axis.grid(axis="y", linewidth=0.4, alpha=0.6)
        axis.set_axisbelow(True)
        handles, labels = axis.get_legend_handles_labels()
        if edge is not None:
            handles += [plt.Rectangle((0, 0), 1, 1, color=BEATS), plt.Rectangle((0, 0), 1, 1, color=DOES_NOT)]
            labels += ["beats the train edge (method or baseline)", "does not beat the train edge"]
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", hatch=CLASSICAL_HATCH,
                                     edgecolor=HATCH_COLOUR, linewidth=0.0))
        labels.append("hatched: classical baseline (Magpie)")
        axis.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.suptitle(f"{task}: test MAE against the reference predictors (mean ± std over seeds)")
    save_figure(figure, png_path, pdf_path)
    return figure
