"""Significance tests for the benchmark's comparisons (test MAE by default), and the critical-difference diagram.

(a) :func:`paired_tests` — per task and backbone, each method against ERM across seeds: a paired t-test
    (``scipy.stats.ttest_rel``) on the per-seed metric, with the mean difference (method − ERM) and its sign.
    Fewer than two paired seeds, or identical differences on every seed, give n/a.
(b) :func:`wilcoxon_tests` — per backbone, each method against ERM on all paired (task, seed) values: the
    Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences dropped).
(c) :func:`rank_analysis` — per backbone, the average rank of each method over tasks (rank by the mean over
    seeds within each task, ties share the average rank), the Friedman test (``scipy.stats.friedmanchisquare``)
    with the Iman–Davenport F correction, and the Nemenyi critical difference
    CD = q_α · sqrt(k (k + 1) / (6 N)) (Demšar 2006), q_α = studentized-range quantile / sqrt(2).
    :func:`plot_critical_difference` draws it: methods on the average-rank axis, methods whose average ranks
    differ by less than CD joined by a bar.

How weak these are with the paper's protocol (3 seeds, 7 tasks) is part of every output's notes: a paired t-test
on 3 seeds has 2 degrees of freedom; the seeds of one task share its split, so the (task, seed) pairs of the
Wilcoxon test are not independent; the Friedman/Nemenyi analysis has N = 7 blocks (tasks), so its CD spans
several ranks. p-values are per comparison; the Holm-adjusted column corrects for the methods compared within
one family (one task and backbone for (a), one backbone for (b)).
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from extrapbench.report.cd_diagram import plot_critical_difference  # noqa: F401
from extrapbench.report.ranks import (  # noqa: F401
    NA, Q_ALPHA_005, RankAnalysis, _higher_is_better, cd_groups, nemenyi_critical_difference, nemenyi_q,
    rank_analyses, rank_analysis)
from extrapbench.report.summary import MISSING, check_std_ddof, std_note, summarize
from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.text_table import TextTable, _write_text

log = logging.getLogger(__name__)


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


def _direction(difference: float, higher_is_better: bool) -> str:
    if pd.isna(difference):
        return NA
    if difference == 0:
        return "equal"
    return "better" if (difference > 0) == higher_is_better else "worse"



# ----------------------------------------------------------------------------------------------------------
# (a) paired t-tests per task and backbone
# ----------------------------------------------------------------------------------------------------------

def paired_tests(runs: pd.DataFrame, metric: str = "mae", reference: str = "erm",
                 higher_is_better: bool | None = None, task_order: Sequence[str] | None = None,
                 method_order: Sequence[str] | None = None,
                 backbone_order: Sequence[str] | None = None, std_ddof: int = 1) -> pd.DataFrame:
    """One row per (task, backbone, method ≠ reference): the seeds both ran, both means over those seeds, the
    mean and std (ddof `std_ddof`, the config's) of the per-seed difference (method − reference), its direction (better / worse /
    equal, by the metric's direction) and ``scipy.stats.ttest_rel(method, reference)``'s t and two-sided p;
    Holm-adjusted p over the methods of the same task and backbone. ``runs``: one row per run
    (:func:`extrapbench.report.tables.collect`)."""
    higher = _higher_is_better(metric, higher_is_better)
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
                row["direction"] = _direction(row["mean_diff"], higher)
                if ref.empty:
                    row["note"] = f"{reference} not run"
                elif len(seeds) < 2:
                    row["note"] = f"{len(seeds)} paired seed(s): no test"
                elif np.ptp(diff) == 0:
                    row["note"] = "identical difference on every seed: t undefined"
                else:
                    result = stats.ttest_rel(x, y)
                    row["t_statistic"], row["p_value"] = float(result.statistic), float(result.pvalue)
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
    higher = _higher_is_better(metric, higher_is_better)
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
            diff = x - y
            better = int(np.sum(diff > 0) if higher else np.sum(diff < 0))
            ties = int(np.sum(diff == 0))
            row = {"backbone": backbone, "method": method, "reference": reference, "n_pairs": len(pairs),
                   "n_tasks": len({task for task, _ in pairs}), "n_better": better,
                   "n_worse": len(pairs) - better - ties, "n_ties": ties,
                   "median_diff": float(np.median(diff)) if len(pairs) else math.nan,
                   "mean_diff": float(np.mean(diff)) if len(pairs) else math.nan,
                   "statistic": math.nan, "p_value": math.nan, "note": ""}
            row["direction"] = _direction(row["median_diff"], higher)
            if ref.empty:
                row["note"] = f"{reference} not run"
            elif len(pairs) - ties < 1:
                row["note"] = "no non-zero paired difference: no test"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on tiny / tied samples
                    result = stats.wilcoxon(x, y)
                row["statistic"], row["p_value"] = float(result.statistic), float(result.pvalue)
                if len(pairs) - ties < 6:
                    row["note"] = (f"{len(pairs) - ties} non-zero differences: the smallest two-sided p "
                                   f"attainable is {2 * 0.5 ** (len(pairs) - ties):.3g}")
            family.append(row)
        for row, adjusted in zip(family, holm([r["p_value"] for r in family])):
            row["p_holm"] = adjusted
        rows.extend(family)
    columns = ["backbone", "method", "reference", "n_pairs", "n_tasks", "n_better", "n_worse", "n_ties",
               "median_diff", "mean_diff", "direction", "statistic", "p_value", "p_holm", "note"]
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------------------------------------
# The report: Markdown / LaTeX / CSVs
# ----------------------------------------------------------------------------------------------------------

def _p(value: float) -> str:
    return NA if pd.isna(value) else f"{value:.3g}"


def _num(value: float, decimals: int = 3, signed: bool = False) -> str:
    if pd.isna(value):
        return NA
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def weakness_notes(runs: pd.DataFrame, n_tasks: int) -> list[str]:
    seeds = sorted({int(n) for n in runs.groupby(["task", "backbone", "method"])["seed"].nunique()})
    seed_text = "/".join(map(str, seeds)) if seeds else "0"
    fewest = seeds[0] if seeds else 0
    return [
        f"Seeds per configuration: {seed_text}. A paired t-test on n seeds has n − 1 degrees of freedom (2 for "
        f"the paper's 3 seeds{'' if fewest == 3 else f'; {max(fewest - 1, 0)} here at the fewest'}): only a "
        f"large, very consistent difference reaches p < 0.05, and a non-significant p is no evidence of equality "
        f"— it mostly says that 3 seeds cannot tell.",
        "Seeds of one task share its split and data, so the (task, seed) pairs of the Wilcoxon test are not "
        "independent: its p-values are optimistic. With n non-zero differences its smallest two-sided p is "
        "2·0.5ⁿ.",
        f"The rank analysis treats tasks as blocks (N = {n_tasks}): with few tasks the Nemenyi critical "
        f"difference spans several ranks, so most methods end up in one group.",
        "p-values are per comparison; p (Holm) adjusts for the methods compared within a family (per task and "
        "backbone in (a), per backbone in (b)). No correction across families, metrics or backbones.",
    ]


@dataclass
class StatisticsReport:
    metric: str
    reference: str
    alpha: float
    paired: pd.DataFrame
    wilcoxon: pd.DataFrame
    analyses: list[RankAnalysis]
    notes: list[str]
    std_ddof: int = 1

    def paired_table(self) -> TextTable:
        ref = display_name(self.reference)
        header = ["Task", "Backbone", "Method", "Seeds", f"{ref} mean", "Method mean", f"Δ (method − {ref})",
                  "Direction", "t", "p", "p (Holm)"]
        cells = [[r.task, display_name(r.backbone), display_name(r.method), str(r.n_pairs),
                  _num(r.reference_mean), _num(r.method_mean), _num(r.mean_diff, signed=True), r.direction,
                  _num(r.t_statistic, 2), _p(r.p_value), _p(r.p_holm)] for r in self.paired.itertuples()]
        notes = [f"Paired t-test (scipy.stats.ttest_rel, two-sided) of each method against {ref} on the per-seed "
                 f"test {self.metric.upper()} of the seeds both ran; Δ is the mean per-seed difference; "
                 f"direction: better / worse than {ref} by the metric's direction; n/a: fewer than 2 paired "
                 f"seeds or an identical difference on every seed.",
                 f"Bold p: below α = {self.alpha:g} before correction; check p (Holm) as well.",
                 f"std_diff (CSV only): std of the per-seed difference, {std_note(self.std_ddof)}; the t-test "
                 f"itself always uses the sample std."]
        bold = {(i, 9) for i, r in enumerate(self.paired.itertuples()) if r.p_value < self.alpha}
        return TextTable(f"(a) Paired t-tests against {ref}, per task and backbone", header, cells,
                         self.paired, notes, align=["l"] * 3 + ["r"] * 4 + ["l"] + ["r"] * 3, bold=bold)

    def wilcoxon_table(self) -> TextTable:
        ref = display_name(self.reference)
        header = ["Backbone", "Method", "Pairs", "Tasks", "Better", "Worse", "Ties", f"median Δ (method − {ref})",
                  "W", "p", "p (Holm)", "Note"]
        cells = [[display_name(r.backbone), display_name(r.method), str(r.n_pairs), str(r.n_tasks),
                  str(r.n_better), str(r.n_worse), str(r.n_ties), _num(r.median_diff, signed=True),
                  _num(r.statistic, 1), _p(r.p_value), _p(r.p_holm), r.note or ""]
                 for r in self.wilcoxon.itertuples()]
        notes = [f"Wilcoxon signed-rank test (scipy.stats.wilcoxon, two-sided, zero differences dropped) of each "
                 f"method against {ref} on the paired (task, seed) test {self.metric.upper()} values; better / "
                 f"worse: pairs where the method beats / trails {ref}.",
                 f"Bold p: below α = {self.alpha:g} before correction; check p (Holm) as well."]
        bold = {(i, 9) for i, r in enumerate(self.wilcoxon.itertuples()) if r.p_value < self.alpha}
        return TextTable(f"(b) Wilcoxon signed-rank tests against {ref}, across tasks × seeds", header, cells,
                         self.wilcoxon, notes, align=["l", "l"] + ["r"] * 9 + ["l"], bold=bold)

    def ranks_frame(self) -> pd.DataFrame:
        rows = []
        for analysis in self.analyses:
            group_of = {}
            for number, group in enumerate(analysis.groups, start=1):
                for method in group:
                    group_of.setdefault(method, []).append(str(number))
            for position, (method, value) in enumerate(analysis.avg_rank.items(), start=1):
                row = {"backbone": analysis.backbone, "method": method, "avg_rank": value, "position": position,
                       "n_tasks": analysis.n, "k": analysis.k, "friedman_chi2": analysis.friedman_statistic,
                       "friedman_p": analysis.friedman_p, "iman_davenport_f": analysis.iman_davenport_f,
                       "iman_davenport_p": analysis.iman_davenport_p, "alpha": analysis.alpha,
                       "q_alpha": analysis.q_alpha, "cd": analysis.cd,
                       "cd_groups": ";".join(group_of.get(method, [])),
                       "excluded_tasks": ",".join(analysis.excluded_tasks)}
                for task in analysis.tasks:
                    row[f"{task}_mean"] = analysis.means.loc[task, method]
                    row[f"{task}_rank"] = analysis.ranks.loc[task, method]
                rows.append(row)
        return pd.DataFrame(rows)

    def ranks_table(self) -> TextTable:
        frame = self.ranks_frame()
        tasks = order_tasks({t for a in self.analyses for t in a.tasks})
        header = ["Backbone", "Method", "avg. rank", *tasks, "CD groups"]
        cells = []
        for r in frame.to_dict("records"):
            cells.append([display_name(r["backbone"]), display_name(r["method"]), _num(r["avg_rank"], 2),
                          *(_num(r.get(f"{t}_rank", math.nan), 1) if not pd.isna(r.get(f"{t}_rank", math.nan))
                            else MISSING for t in tasks), r["cd_groups"] or MISSING])
        notes = [f"Rank of each method's mean test {self.metric.upper()} over seeds within each task (1 = best; "
                 f"ties share the average rank), averaged over the tasks where every method of the backbone has a "
                 f"value. CD groups: numbered groups of methods whose average ranks differ by less than the "
                 f"Nemenyi critical difference (not significantly different at α = {self.alpha:g})."]
        for analysis in self.analyses:
            notes.append(analysis.summary_line())
            notes.extend(f"{display_name(analysis.backbone)}: {note}" for note in analysis.notes)
        return TextTable("(c) Average ranks, Friedman test and Nemenyi critical difference", header, cells, frame,
                         notes, align=["l", "l"] + ["r"] * (len(tasks) + 1) + ["l"], group_rule_column=0)

    def to_markdown(self) -> str:
        parts = [f"# Statistical comparison of test {self.metric.upper()} against {display_name(self.reference)}",
                 ""]
        parts += [f"- {note}" for note in self.notes] + [""]
        for table in (self.paired_table(), self.wilcoxon_table(), self.ranks_table()):
            parts.append(table.to_markdown(heading_level=2))
        return "\n".join(parts)

    def to_latex(self) -> str:
        parts = [f"% Statistical comparison of test {self.metric} against {self.reference}"]
        parts += [f"% {note}" for note in self.notes]
        for table in (self.paired_table(), self.wilcoxon_table(), self.ranks_table()):
            parts += ["", table.to_latex()]
        return "\n".join(parts)

    def write(self, markdown_path=None, latex_path=None, paired_csv=None, wilcoxon_csv=None,
              ranks_csv=None) -> None:
        _write_text(markdown_path, self.to_markdown())
        _write_text(latex_path, self.to_latex())
        for path, frame in ((paired_csv, self.paired), (wilcoxon_csv, self.wilcoxon),
                            (ranks_csv, self.ranks_frame())):
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(path, index=False)


def statistics_report(runs: pd.DataFrame, metric: str = "mae", reference: str = "erm", alpha: float = 0.05,
                      task_order: Sequence[str] | None = None, method_order: Sequence[str] | None = None,
                      backbone_order: Sequence[str] | None = None, std_ddof: int = 1,
                      methods: Sequence[str] | None = None, ranked_methods: Sequence[str] | None = None,
                      set_notes: Sequence[str] = ()) -> StatisticsReport:
    """(a), (b) and (c) from per-run records (:func:`extrapbench.report.tables.collect`); ``std_ddof`` (config
    key) for the std of the per-seed differences (the ranks use means only). ``methods``: the entries tested
    against the reference in (a) and (b) (every method, no ablation entry; default all present);
    ``ranked_methods``: the entries of the rank analysis (c), ranked within each backbone (the paper set;
    default ``methods``)."""
    std_ddof = check_std_ddof(std_ddof)
    if metric not in runs.columns:
        raise ValueError(f"runs have no {metric!r} column")
    if methods is not None:
        runs = runs[runs["method"].isin(list(methods))]
        method_order = list(methods)
    summary = summarize(runs, task_order=task_order, method_order=method_order, backbone_order=backbone_order,
                        std_ddof=std_ddof)
    paired = paired_tests(runs, metric, reference, task_order=task_order, method_order=method_order,
                          backbone_order=backbone_order, std_ddof=std_ddof)
    wilcoxon = wilcoxon_tests(runs, metric, reference, method_order=method_order, backbone_order=backbone_order)
    analyses = rank_analyses(summary, metric, alpha, task_order=task_order, method_order=method_order,
                             backbone_order=backbone_order, methods=ranked_methods)
    if reference not in set(runs["method"]):
        log.warning("reference method %s has no runs: (a) and (b) are all n/a", reference)
    n_tasks = max((a.n for a in analyses), default=0)
    notes = list(set_notes) + weakness_notes(runs, n_tasks)
    return StatisticsReport(metric, reference, alpha, paired, wilcoxon, analyses, notes, std_ddof)


__all__ = ["Q_ALPHA_005", "nemenyi_q", "nemenyi_critical_difference", "holm", "paired_tests", "wilcoxon_tests",
           "cd_groups", "RankAnalysis", "rank_analysis", "rank_analyses", "StatisticsReport",
           "statistics_report", "plot_critical_difference"]
