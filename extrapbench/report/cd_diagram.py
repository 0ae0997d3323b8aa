"""The critical-difference diagram (Demšar 2006): one panel per backbone, its methods at their average ranks over
tasks, the Nemenyi CD to scale, and methods not significantly different joined by a bar."""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the workflow machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from extrapbench.report.ranks import RankAnalysis, rank_analyses  # noqa: E402
from extrapbench.report.summary import METRIC_LABELS  # noqa: E402
from extrapbench.naming import display_name  # noqa: E402
from extrapbench.report.io import PathLike, save_figure  # noqa: E402


# ----------------------------------------------------------------------------------------------------------
# Critical-difference diagram
# ----------------------------------------------------------------------------------------------------------

def _cd_panel(axis: plt.Axes, analysis: RankAnalysis) -> None:
    axis.set_axis_off()
    k = analysis.k
    title = display_name(analysis.backbone)
    if k < 2 or analysis.n < 1:
        axis.text(0.5, 0.5, f"{title}: fewer than two methods or no complete task: nothing to rank",
                  transform=axis.transAxes, ha="center", va="center", fontsize=9)
        return
    low, high = 1, max(k, 2)
    names = list(analysis.avg_rank.index)
    values = analysis.avg_rank.to_numpy(float)
    n_left = math.ceil(k / 2)
    step = 0.32
    label_depth = step * (max(n_left, k - n_left) + 1)
    span = high - low
    left_x, right_x = low - 0.28 * span - 0.4, high + 0.28 * span + 0.4
    axis.set_xlim(left_x - 0.05 * span, right_x + 0.05 * span)
    axis.set_ylim(-label_depth - 0.3, 1.35)

    # rank axis
    axis.plot([low, high], [0, 0], color="black", linewidth=1)
    for tick in range(low, high + 1):
        axis.plot([tick, tick], [0, 0.08], color="black", linewidth=1)
        axis.text(tick, 0.13, str(tick), ha="center", va="bottom", fontsize=8)
    for tick in np.arange(low + 0.5, high, 1.0):
        axis.plot([tick, tick], [0, 0.04], color="black", linewidth=0.6)
    axis.text((low + high) / 2, 0.42, "average rank (1 = best)", ha="center", va="bottom", fontsize=8)

    # the critical difference
    if not pd.isna(analysis.cd):
        end = low + analysis.cd
        axis.plot([low, min(end, high)], [0.95, 0.95], color="#C44E52", linewidth=2)
        for x in (low, min(end, high)):
            axis.plot([x, x], [0.9, 1.0], color="#C44E52", linewidth=1)
        text = f"CD = {analysis.cd:.2f}" + (" (wider than the axis)" if end > high else "")
        axis.text(low, 1.05, text, ha="left", va="bottom", fontsize=8, color="#C44E52")

    # methods: the better half labelled on the left, the rest on the right
    for index, (name, value) in enumerate(zip(names, values)):
        if index < n_left:
            depth = -step * (index + 1)
            x_text, ha = left_x, "right"
        else:
            depth = -step * (k - index)
            x_text, ha = right_x, "left"
        axis.plot([value, value], [0, depth], color="0.25", linewidth=0.8)
        axis.plot([value, x_text], [depth, depth], color="0.25", linewidth=0.8)
        label = f"{display_name(name)} ({value:.2f})"
        axis.text(x_text + (-0.05 if ha == "right" else 0.05), depth, label, ha=ha, va="center", fontsize=8)

    # groups not significantly different: thick bars just under the axis
    groups = analysis.groups
    for number, group in enumerate(groups):
        ranks = analysis.avg_rank.loc[group]
        y = -0.08 - 0.1 * number
        axis.plot([ranks.min() - 0.03, ranks.max() + 0.03], [y, y], color="black", linewidth=3,
                  solid_capstyle="round")

    line = f"{title}: k = {k} methods, N = {analysis.n} tasks"
    if not pd.isna(analysis.friedman_p):
        line += f"; Friedman p = {analysis.friedman_p:.3g}"
        if analysis.friedman_p >= analysis.alpha:
            line += " (not significant: groups for reference only)"
    axis.set_title(line, fontsize=9)


def plot_critical_difference(summary: pd.DataFrame | PathLike | Iterable[RankAnalysis], png_path: PathLike,
                             pdf_path: PathLike | None = None, metric: str = "mae", alpha: float = 0.05,
                             task_order: Sequence[str] | None = None, method_order: Sequence[str] | None = None,
                             backbone_order: Sequence[str] | None = None,
                             methods: Sequence[str] | None = None) -> plt.Figure:
    """Critical-difference diagram (Demšar 2006), one panel per backbone: each method at its average rank over
    tasks, the Nemenyi CD drawn to scale, and methods not significantly different joined by a thick bar. Each
    panel ranks one backbone's ``methods`` (the paper set; default every method of the summary) among
    themselves."""
    if isinstance(summary, (pd.DataFrame, str, os.PathLike)):
        analyses = rank_analyses(summary, metric, alpha, task_order=task_order, method_order=method_order,
                                 backbone_order=backbone_order, methods=methods)
    else:
        analyses = list(summary)
    if not analyses:
        raise ValueError("no backbone to rank")
    heights = [1.6 + 0.32 * (math.ceil(max(a.k, 1) / 2) + 1) for a in analyses]
    figure, axes = plt.subplots(len(analyses), 1, figsize=(8.5, sum(heights)), squeeze=False,
                                gridspec_kw={"height_ratios": heights})
    for axis, analysis in zip(axes[:, 0], analyses):
        _cd_panel(axis, analysis)
    label = METRIC_LABELS.get(metric, metric)
    figure.suptitle(f"Critical-difference diagram: average rank of {label} over tasks\n"
                    f"(Nemenyi, α = {alpha:g}; bars join methods not significantly different)", fontsize=10)
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    return figure

