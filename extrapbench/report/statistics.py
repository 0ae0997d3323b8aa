"""The statistical comparison report of the benchmark's test MAE (by default) against ERM: three tables in
Markdown / LaTeX / CSV.

(a) paired t-tests per task and backbone, each method against ERM across seeds
    (:func:`extrapbench.report.significance.paired_tests`): the mean per-seed difference (method − ERM), its
    sign and ``scipy.stats.ttest_rel``'s p. Fewer than two paired seeds, or identical differences on every
    seed, give n/a.
(b) Wilcoxon signed-rank tests per backbone, each method against ERM on all paired (task, seed) values
    (:func:`extrapbench.report.significance.wilcoxon_tests`, two-sided, zero differences dropped).
(c) average ranks per backbone (:func:`extrapbench.report.ranks.rank_analysis`): each method's rank over tasks
    (by the mean over seeds within each task, ties share the average rank), the Friedman test
    (``scipy.stats.friedmanchisquare``) with the Iman–Davenport F correction, and the Nemenyi critical difference
    CD = q_α · sqrt(k (k + 1) / (6 N)) (Demšar 2006), q_α = studentized-range quantile / sqrt(2).
    :func:`extrapbench.report.cd_diagram.plot_critical_difference` draws it: methods on the average-rank axis,
    methods whose average ranks differ by less than CD joined by a bar.

How weak these are with the paper's protocol (3 seeds, 7 tasks) is part of every output's notes: a paired t-test
on 3 seeds has 2 degrees of freedom; the seeds of one task share its split, so the (task, seed) pairs of the
Wilcoxon test are not independent; the Friedman/Nemenyi analysis has N = 7 blocks (tasks), so its CD spans
several ranks. p-values are per comparison; the Holm-adjusted column corrects for the methods compared within
one family (one task and backbone for (a), one backbone for (b)).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from extrapbench.naming import display_name, order_tasks
from extrapbench.report.format import format_num, format_p
from extrapbench.report.io import write_text
from extrapbench.report.ranks import RankAnalysis, rank_analyses
from extrapbench.report.significance import paired_tests, wilcoxon_tests
from extrapbench.report.summary import MISSING, check_std_ddof, std_note, summarize
from extrapbench.report.text_table import TextTable

log = logging.getLogger(__name__)


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
                  format_num(r.reference_mean), format_num(r.method_mean), format_num(r.mean_diff, signed=True),
                  r.direction, format_num(r.t_statistic, 2), format_p(r.p_value), format_p(r.p_holm)]
                 for r in self.paired.itertuples()]
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
                  str(r.n_better), str(r.n_worse), str(r.n_ties), format_num(r.median_diff, signed=True),
                  format_num(r.statistic, 1), format_p(r.p_value), format_p(r.p_holm), r.note or ""]
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
            cells.append([display_name(r["backbone"]), display_name(r["method"]), format_num(r["avg_rank"], 2),
                          *(format_num(r.get(f"{t}_rank", math.nan), 1)
                            if not pd.isna(r.get(f"{t}_rank", math.nan)) else MISSING for t in tasks),
                          r["cd_groups"] or MISSING])
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
        write_text(markdown_path, self.to_markdown())
        write_text(latex_path, self.to_latex())
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
    """(a), (b) and (c) from per-run records (:func:`extrapbench.report.summary.collect`); ``std_ddof`` (config
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
