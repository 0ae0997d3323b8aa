"""Significance tests of each method against a reference method (ERM by default) over seeds.

* :func:`paired_t` — ``scipy.stats.ttest_rel`` on two paired samples, with why there is no test (fewer than two
  pairs, or the same difference on every pair).
* :func:`paired_tests` — per task and backbone, each method against the reference across seeds: the paired
  t-test on the per-seed metric, with the mean difference (method − reference) and its sign.
* :func:`wilcoxon_tests` — per backbone, each method against the reference on all paired (task, seed) values:
  the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences dropped).
* :func:`holm` — Holm–Bonferroni adjusted p-values over one family of comparisons.

The report that prints them with the rank analysis: :mod:`extrapbench.report.statistics`.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from extrapbench.naming import order_backbones, order_methods, order_tasks
from extrapbench.report.compare import RELATIVE_TOLERANCE, direction, ties
from extrapbench.report.format import NA
from extrapbench.report.summary import metric_higher_is_better


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    running = 0.0
    for position, index in enumerate(present[np.argsort(p[present], kind="stable")]):
        running = max(running, (m - position) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def paired_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """``scipy.stats.ttest_rel(x, y)``'s t and two-sided p, with why there is none (fewer than two pairs, or the
    same difference on every pair, up to :data:`~extrapbench.report.compare.RELATIVE_TOLERANCE` of the values)."""
    if len(x) < 2:
        return math.nan, math.nan, f"{len(x)} paired seed(s): no test"
    if np.ptp(x - y) <= RELATIVE_TOLERANCE * float(np.max(np.maximum(np.abs(x), np.abs(y)))):
        return math.nan, math.nan, "identical difference on every seed: t undefined"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_rel(x, y)
    return float(result.statistic), float(result.pvalue), ""


def _direction(mine: float, theirs: float, higher_is_better: bool) -> str:
    """better / worse / equal (a tie within the report's tolerance, extrapbench.report.compare); n/a for NaN."""
    return direction(mine, theirs, higher_is_better) or NA


# ----------------------------------------------------------------------------------------------------------
# (a) paired t-tests per task and backbone
# ----------------------------------------------------------------------------------------------------------

def paired_tests(runs: pd.DataFrame, metric: str = "mae", reference: str = "erm",
                 higher_is_better: bool | None = None, task_order: Sequence[str] | None = None,
                 method_order: Sequence[str] | None = None,
                 backbone_order: Sequence[str] | None = None, std_ddof: int = 1) -> pd.DataFrame:
    """One row per (task, backbone, method ≠ reference): the seeds both ran, both means over those seeds, the
    mean and std (ddof `std_ddof`, the config's) of the per-seed difference (method − reference), its direction
    (better / worse / equal, by the metric's direction) and :func:`paired_t`'s t and two-sided p
    (``scipy.stats.ttest_rel(method, reference)``); Holm-adjusted p over the methods of the same task and backbone.
    ``runs``: one row per run (:func:`extrapbench.report.summary.collect`)."""
    higher = metric_higher_is_better(metric, higher_is_better)
    runs = runs[runs[metric].notna()] if metric in runs.columns else runs.iloc[0:0]
    rows = []
    for task in order_tasks(runs["task"].unique(), task_order):
        for backbone in order_backbones(runs.loc[runs["task"] == task, "backbone"].unique(), backbone_order):
            block = runs[(runs["task"] == task) & (runs["backbone"] == backbone)]
            ref = block[block["method"] == reference].set_index("seed")[metric]
            family = []
            for method in order_methods(block["method"].unique(), method_order):
                if method == reference:
                    continue
                values = block[block["method"] == method].set_index("seed")[metric]
                seeds = sorted(set(values.index) & set(ref.index))
                x, y = values.loc[seeds].to_numpy(float), ref.loc[seeds].to_numpy(float)
                diff = x - y
                row = {"task": task, "backbone": backbone, "method": method, "reference": reference,
                       "n_pairs": len(seeds), "seeds": ",".join(map(str, seeds)),
                       "reference_mean": y.mean() if len(seeds) else math.nan,
                       "method_mean": x.mean() if len(seeds) else math.nan,
                       "mean_diff": diff.mean() if len(seeds) else math.nan,
                       "std_diff": diff.std(ddof=std_ddof) if len(seeds) > 1 else math.nan,
                       "t_statistic": math.nan, "p_value": math.nan, "note": ""}
                row["direction"] = _direction(row["method_mean"], row["reference_mean"], higher)
                if ref.empty:
                    row["note"] = f"{reference} not run"
                else:
                    row["t_statistic"], row["p_value"], row["note"] = paired_t(x, y)
                family.append(row)
            for row, adjusted in zip(family, holm([r["p_value"] for r in family])):
                row["p_holm"] = adjusted
            rows.extend(family)
    columns = ["task", "backbone", "method", "reference", "n_pairs", "seeds", "reference_mean", "method_mean",
               "mean_diff", "std_diff", "direction", "t_statistic", "p_value", "p_holm", "note"]
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------------------------------------
# (b) Wilcoxon signed-rank across tasks × seeds
# ----------------------------------------------------------------------------------------------------------

def wilcoxon_tests(runs: pd.DataFrame, metric: str = "mae", reference: str = "erm",
                   higher_is_better: bool | None = None, method_order: Sequence[str] | None = None,
                   backbone_order: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (backbone, method ≠ reference): the (task, seed) pairs both ran, how many favour the method,
    the median and mean difference (method − reference) and ``scipy.stats.wilcoxon(method, reference)``'s
    statistic and two-sided p (zero differences dropped, scipy's default); Holm-adjusted p over the methods of
    the backbone. No non-zero difference: n/a."""
    higher = metric_higher_is_better(metric, higher_is_better)
    runs = runs[runs[metric].notna()] if metric in runs.columns else runs.iloc[0:0]
    rows = []
    for backbone in order_backbones(runs["backbone"].unique(), backbone_order):
        block = runs[runs["backbone"] == backbone]
        ref = block[block["method"] == reference].set_index(["task", "seed"])[metric]
        family = []
        for method in order_methods(block["method"].unique(), method_order):
            if method == reference:
                continue
            values = block[block["method"] == method].set_index(["task", "seed"])[metric]
            pairs = sorted(set(values.index) & set(ref.index))
            x = values.loc[pairs].to_numpy(float) if pairs else np.array([])
            y = ref.loc[pairs].to_numpy(float) if pairs else np.array([])
            # a pair within the report's tolerance is a tie: a zero difference, dropped by the test as scipy does
            diff = np.where(ties(x, y), 0.0, x - y)
            better = int(np.sum(diff > 0) if higher else np.sum(diff < 0))
            n_tied = int(np.sum(diff == 0))
            row = {"backbone": backbone, "method": method, "reference": reference, "n_pairs": len(pairs),
                   "n_tasks": len({task for task, _ in pairs}), "n_better": better,
                   "n_worse": len(pairs) - better - n_tied, "n_ties": n_tied,
                   "median_diff": float(np.median(diff)) if len(pairs) else math.nan,
                   "mean_diff": float(np.mean(diff)) if len(pairs) else math.nan,
                   "statistic": math.nan, "p_value": math.nan, "note": ""}
            row["direction"] = _direction(row["median_diff"], 0.0, higher)
            if ref.empty:
                row["note"] = f"{reference} not run"
            elif len(pairs) - n_tied < 1:
                row["note"] = "no non-zero paired difference: no test"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on tiny / tied samples
                    result = stats.wilcoxon(diff)
                row["statistic"], row["p_value"] = float(result.statistic), float(result.pvalue)
                if len(pairs) - n_tied < 6:
                    row["note"] = (f"{len(pairs) - n_tied} non-zero differences: the smallest two-sided p "
                                   f"attainable is {2 * 0.5 ** (len(pairs) - n_tied):.3g}")
            family.append(row)
        for row, adjusted in zip(family, holm([r["p_value"] for r in family])):
            row["p_holm"] = adjusted
        rows.extend(family)
    columns = ["backbone", "method", "reference", "n_pairs", "n_tasks", "n_better", "n_worse", "n_ties",
               "median_diff", "mean_diff", "direction", "statistic", "p_value", "p_holm", "note"]
    return pd.DataFrame(rows, columns=columns)
