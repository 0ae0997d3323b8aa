"""Which methods beat ERM and which beat the train-edge constant, with paired p-values over seeds
(``results/tables/beats_erm_edge``): the two questions a reader of an extrapolation benchmark asks first, in one
table.

One row per (task, backbone, method): the method's test MAE mean(std) over seeds, then for each comparison
(ERM, ``ref: Edge (train)``) the mean per-seed difference (method − comparator) and the two-sided p of a paired
t-test over the seeds both ran (:func:`extrapbench.report.significance.paired_tests`, scipy's ``ttest_rel``).

The edge constant predicts the same value on every seed, so its test MAE is one number per (task, backbone) and
the paired test against it is a one-sample t-test of the method's per-seed MAE against that number: it asks
whether the method's seed-to-seed spread leaves its mean clearly below (or above) the constant, not whether a
single run beats it.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.format import format_num, format_p, mean_std_cell
from extrapbench.report.references import EDGE_REFERENCE, REFERENCE_PREFIX
from extrapbench.report.significance import paired_tests
from extrapbench.report.summary import MISSING, mean_std, std_note
from extrapbench.report.text_table import TextTable

ERM = "erm"


def _verdict(diff: float, p: float, alpha: float) -> str:
    """"beats" / "trails" where the paired test rejects equality at ``alpha`` (MAE: lower is better), "≈" where
    it does not, "—" where there is no test."""
    if pd.isna(p) or pd.isna(diff):
        return MISSING
    if p >= alpha:
        return "≈"
    return "beats" if diff < 0 else "trails"


def beats_table(runs: pd.DataFrame, methods: Sequence[str], task_order: Sequence[str] | None = None,
                backbone_order: Sequence[str] | None = None, std_ddof: int = 1, alpha: float = 0.05,
                erm: str = ERM, edge_reference: str = EDGE_REFERENCE, decimals: int = 3) -> TextTable:
    """The table from per-run metrics (``extrapbench.report.summary.collect``) of the ``methods`` (the config's
    method entries, references excluded) and of ``edge_reference``; tasks are those where the edge reference
    ran. Raises when ``edge_reference`` has no runs (config ``references`` without it)."""
    edge_runs = runs[runs["method"] == edge_reference]
    if edge_runs.empty:
        raise ValueError(f"no runs of the reference {edge_reference!r}: this table needs it (config "
                         f"`references`)")
    method_runs = runs[runs["method"].isin([m for m in methods if m != edge_reference])]
    method_runs = method_runs[method_runs["task"].isin(set(edge_runs["task"]))]
    order = order_methods(method_runs["method"].unique(), list(methods))
    tasks = order_tasks(edge_runs["task"].unique(), task_order)
    common = dict(task_order=tasks, method_order=order, backbone_order=backbone_order, std_ddof=std_ddof)
    key = ["task", "backbone", "method"]
    versus_erm = paired_tests(method_runs, "mae", erm, **common).set_index(key)
    versus_edge = paired_tests(pd.concat([method_runs, edge_runs]), "mae", edge_reference,
                               **common).set_index(key)

    header = ["Task", "Backbone", "Method", "Seeds", "test MAE", f"Δ vs {display_name(erm)}", "p",
              f"vs {display_name(erm)}", "Δ vs edge", "p", "vs edge"]
    cells, records, bold = [], [], set()
    for task in tasks:
        for backbone in order_backbones(method_runs.loc[method_runs["task"] == task, "backbone"].unique(),
                                        backbone_order):
            block = method_runs[(method_runs["task"] == task) & (method_runs["backbone"] == backbone)]
            edge_mae = float(edge_runs.loc[(edge_runs["task"] == task) & (edge_runs["backbone"] == backbone),
                                           "mae"].mean())
            for method in order:
                mae = block.loc[block["method"] == method, "mae"]
                if mae.empty:
                    continue
                mean, std = mean_std(mae, std_ddof)
                # ERM has no row against itself: reindex gives it (and any method without ERM runs) NaNs
                erm_row = versus_erm.reindex([(task, backbone, method)]).iloc[0]
                edge_row = versus_edge.loc[(task, backbone, method)]
                erm_diff, erm_p = erm_row["mean_diff"], erm_row["p_value"]
                edge_diff, edge_p = edge_row["mean_diff"], edge_row["p_value"]
                versus_erm_cells = ([MISSING, MISSING, "(ERM)"] if method == erm else
                                    [format_num(erm_diff, decimals, signed=True), format_p(erm_p),
                                     _verdict(erm_diff, erm_p, alpha)])
                row = [task, display_name(backbone), display_name(method), str(int(mae.notna().sum())),
                       mean_std_cell(mean, std, decimals), *versus_erm_cells,
                       format_num(edge_diff, decimals, signed=True), format_p(edge_p),
                       _verdict(edge_diff, edge_p, alpha)]
                for column, p in ((6, erm_p), (9, edge_p)):
                    if not pd.isna(p) and p < alpha:
                        bold.add((len(cells), column))
                cells.append(row)
                records.append({"task": task, "backbone": backbone, "method": method,
                                "n_seeds": int(mae.notna().sum()), "mae_mean": mean, "mae_std": std,
                                "erm_mean_diff": erm_diff, "erm_p": erm_p, "erm_p_holm": erm_row["p_holm"],
                                "edge_mae": edge_mae, "edge_mean_diff": edge_diff, "edge_p": edge_p,
                                "edge_p_holm": edge_row["p_holm"]})
    frame = pd.DataFrame.from_records(records)
    edge_label = f"{REFERENCE_PREFIX}{display_name(edge_reference)}"
    notes = [f"test MAE: mean(std) over seeds ({std_note(std_ddof)}). Δ: mean per-seed difference "
             f"(method − comparator; < 0: the method's MAE is lower). p: two-sided paired t-test "
             f"(scipy.stats.ttest_rel) over the seeds both ran; bold: p < {alpha:g}. beats / trails: p < {alpha:g} "
             f"and Δ < 0 / > 0; ≈: no difference the seeds can show; — / n/a: no test (fewer than two seeds, or an "
             f"identical difference on every seed).",
             f"edge = {edge_label}, the constant that predicts the train range's edge on the held-out side. It is "
             f"the same on every seed, so the test against it is a one-sample t-test of the method's per-seed MAE "
             f"against the constant's MAE (in the CSV: edge_mae).",
             "With three seeds a t-test has 2 degrees of freedom: only large, consistent differences reach "
             "p < 0.05. p is per comparison; the CSV has Holm-adjusted p over the methods of one task and "
             "backbone (erm_p_holm, edge_p_holm)."]
    return TextTable(title="paired t-tests against ERM and the train-edge constant", header=header, cells=cells,
                     frame=frame, notes=notes, align=["l", "l", "l", "r", "r", "r", "r", "l", "r", "r", "l"],
                     bold=bold, group_rule_column=0)
