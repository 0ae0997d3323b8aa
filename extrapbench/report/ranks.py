"""Average ranks within one backbone, the Friedman test (with the Iman–Davenport F) and the Nemenyi critical
difference CD = q_α · sqrt(k (k + 1) / (6 N)) (Demšar 2006), q_α = studentized-range quantile / sqrt(2)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.format import format_p
from extrapbench.report.io import PathLike
from extrapbench.report.summary import metric_higher_is_better

#: q_0.05 of the Nemenyi test for k = 2..12 compared groups: the studentized range distribution's 0.95 quantile
#: with infinite degrees of freedom divided by sqrt(2) (``scipy.stats.studentized_range.ppf(0.95, k, inf) /
#: sqrt(2)``; Demšar 2006, Table 5(a) gives the same to 3 decimals: 1.960, 2.343, 2.569, ...).
Q_ALPHA_005 = {2: 1.959964, 3: 2.343701, 4: 2.569032, 5: 2.727774, 6: 2.849705, 7: 2.948320, 8: 3.030878,
               9: 3.101730, 10: 3.163684, 11: 3.218654, 12: 3.268004}


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Critical value q_α of the Nemenyi test for k groups (the table for α = 0.05, k ≤ 12; scipy otherwise)."""
    if k < 2:
        raise ValueError("the Nemenyi test needs at least two groups")
    if math.isclose(alpha, 0.05) and k in Q_ALPHA_005:
        return Q_ALPHA_005[k]
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """CD = q_α · sqrt(k (k + 1) / (6 N)) for k methods ranked on N blocks (tasks)."""
    if n < 1:
        raise ValueError("the critical difference needs at least one block")
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


# ----------------------------------------------------------------------------------------------------------
# (c) average ranks, Friedman, Nemenyi
# ----------------------------------------------------------------------------------------------------------

def cd_groups(avg_rank: pd.Series, cd: float) -> list[list[str]]:
    """Maximal runs of methods (in average-rank order) whose average ranks all lie within less than ``cd`` of
    each other, i.e. not significantly different by the Nemenyi test; groups of one are left out."""
    if pd.isna(cd):
        return []
    ordered = avg_rank.dropna().sort_values(kind="stable")
    names, values = list(ordered.index), ordered.to_numpy(float)
    groups, last_end = [], -1
    for start in range(len(values)):
        end = start
        while end + 1 < len(values) and values[end + 1] - values[start] < cd:
            end += 1
        if end > start and end > last_end:
            groups.append(names[start:end + 1])
            last_end = end
    return groups


@dataclass
class RankAnalysis:
    """Average ranks over tasks for one backbone, with the Friedman test and the Nemenyi CD."""

    backbone: str
    metric: str
    higher_is_better: bool
    alpha: float
    tasks: list[str]                # blocks used (every method has a value)
    excluded_tasks: list[str]       # tasks where some method had no value
    means: pd.DataFrame             # tasks × methods: mean over seeds
    ranks: pd.DataFrame             # tasks × methods: rank within the task (1 = best)
    avg_rank: pd.Series             # methods, ascending
    friedman_statistic: float = math.nan
    friedman_p: float = math.nan
    iman_davenport_f: float = math.nan
    iman_davenport_p: float = math.nan
    q_alpha: float = math.nan
    cd: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.avg_rank)

    @property
    def n(self) -> int:
        return len(self.tasks)

    @property
    def groups(self) -> list[list[str]]:
        return cd_groups(self.avg_rank, self.cd)

    def summary_line(self) -> str:
        parts = [f"{display_name(self.backbone)}: k = {self.k} methods ranked on N = {self.n} tasks"]
        if not pd.isna(self.friedman_statistic):
            parts.append(f"Friedman χ² = {self.friedman_statistic:.3g}, p = {format_p(self.friedman_p)}; "
                         f"Iman–Davenport F = {self.iman_davenport_f:.3g}, p = {format_p(self.iman_davenport_p)}")
        else:
            parts.append("Friedman test n/a")
        if not pd.isna(self.cd):
            parts.append(f"Nemenyi CD(α = {self.alpha:g}) = {self.q_alpha:.3f} · sqrt(k(k+1)/(6N)) = {self.cd:.3f}")
            groups = self.groups
            parts.append("not significantly different: " + ("; ".join(
                "{" + ", ".join(display_name(m) for m in g) + "}" for g in groups) if groups else "none"))
        return "; ".join(parts) + "."


def rank_analysis(summary: pd.DataFrame, backbone: str, metric: str = "mae", alpha: float = 0.05,
                  higher_is_better: bool | None = None, task_order: Sequence[str] | None = None,
                  method_order: Sequence[str] | None = None) -> RankAnalysis:
    """Average ranks of the backbone's methods over the tasks where every method has a ``{metric}_mean``
    (rank 1 = best; ties share the average rank), the Friedman test (k ≥ 3 methods, N ≥ 2 tasks) with the
    Iman–Davenport F, and the Nemenyi critical difference (k ≥ 2, N ≥ 1)."""
    higher = metric_higher_is_better(metric, higher_is_better)
    rows = summary[summary["backbone"] == backbone]
    means = rows.pivot_table(index="task", columns="method", values=f"{metric}_mean", aggfunc="first")
    methods = order_methods([m for m in means.columns if means[m].notna().any()], method_order)
    means = means.reindex(index=order_tasks(means.index, task_order), columns=methods)
    complete = means.notna().all(axis=1)
    tasks, excluded = list(means.index[complete]), list(means.index[~complete])
    means = means.loc[tasks]
    ranks = means.rank(axis=1, method="average", ascending=not higher)
    avg_rank = ranks.mean(axis=0).sort_values(kind="stable")
    analysis = RankAnalysis(backbone=backbone, metric=metric, higher_is_better=higher, alpha=alpha, tasks=tasks,
                            excluded_tasks=excluded, means=means, ranks=ranks, avg_rank=avg_rank)
    k, n = len(methods), len(tasks)
    if excluded:
        missing = {t: [m for m in methods if pd.isna(summary_value(rows, t, m, metric))] for t in excluded}
        analysis.notes.append("tasks left out (a method has no value there): " + "; ".join(
            f"{t} ({', '.join(display_name(m) for m in ms)})" for t, ms in missing.items()) + ".")
    if k >= 3 and n >= 2:
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.friedmanchisquare(*(means[m].to_numpy(float) for m in methods))
        analysis.friedman_statistic, analysis.friedman_p = float(result.statistic), float(result.pvalue)
        chi2 = analysis.friedman_statistic
        if not pd.isna(chi2):
            denominator = n * (k - 1) - chi2
            analysis.iman_davenport_f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
            analysis.iman_davenport_p = float(stats.f.sf(analysis.iman_davenport_f, k - 1, (k - 1) * (n - 1)))
    else:
        analysis.notes.append(f"Friedman test needs k ≥ 3 methods and N ≥ 2 tasks (k = {k}, N = {n}).")
    if k >= 2 and n >= 1:
        analysis.q_alpha = nemenyi_q(k, alpha)
        analysis.cd = nemenyi_critical_difference(k, n, alpha)
        if not pd.isna(analysis.friedman_p) and analysis.friedman_p >= alpha:
            analysis.notes.append(f"Friedman p ≥ {alpha:g}: the ranks do not differ significantly overall, so the "
                                  f"Nemenyi groups are shown for reference only.")
    return analysis


def summary_value(rows: pd.DataFrame, task: str, method: str, metric: str) -> float:
    match = rows[(rows["task"] == task) & (rows["method"] == method)]
    return float(match[f"{metric}_mean"].iloc[0]) if len(match) else math.nan


def rank_analyses(summary: pd.DataFrame | PathLike, metric: str = "mae", alpha: float = 0.05,
                  higher_is_better: bool | None = None, task_order: Sequence[str] | None = None,
                  method_order: Sequence[str] | None = None,
                  backbone_order: Sequence[str] | None = None,
                  methods: Sequence[str] | None = None) -> list[RankAnalysis]:
    """:func:`rank_analysis` for every backbone of the summary (a DataFrame or summary.csv): each backbone's
    methods are ranked among themselves only. ``methods``: the only methods ranked (the paper set; ablation
    entries never), in this order; default every method of the summary."""
    if not isinstance(summary, pd.DataFrame):
        summary = pd.read_csv(summary)
    if methods is not None:
        summary = summary[summary["method"].isin(list(methods))]
        method_order = list(methods)
    if f"{metric}_mean" not in summary.columns:
        raise ValueError(f"summary has no column {metric}_mean")
    return [rank_analysis(summary, backbone, metric, alpha, higher_is_better, task_order, method_order)
            for backbone in order_backbones(summary["backbone"].unique(), backbone_order)]


