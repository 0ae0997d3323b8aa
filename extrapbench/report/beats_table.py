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

A verdict needs p < alpha *and* means that differ by more than a tie (:mod:`extrapbench.report.compare`); one from
two seeds reads "beats?" / "trails?" / "≈?" (one degree of freedom: indicative only). The test MAE cell carries
the marks of :mod:`extrapbench.report.evidence` (a seed whose best checkpoint came at epoch ≤ 2, or at the epoch
cap), and the notes count them.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.compare import TOLERANCE_NOTE, direction, ties
from extrapbench.report.evidence import TWO_SEED_MARK, TWO_SEED_NOTE, epoch_flags, epoch_notes, marks
from extrapbench.report.format import format_num, format_p, mean_std_cell
from extrapbench.report.references import EDGE_REFERENCE, REFERENCE_PREFIX
from extrapbench.report.significance import paired_tests
from extrapbench.report.summary import MISSING, mean_std, std_note
from extrapbench.report.text_table import TextTable

ERM = "erm"


def _verdict(mine: float, theirs: float, p: float, alpha: float, n_pairs: int = 3) -> str:
    """"beats" / "trails" where the paired test rejects equality at ``alpha`` and the means (``mine`` against
    ``theirs``, over the paired seeds; MAE: lower is better) differ by more than a tie
    (:mod:`extrapbench.report.compare`), "≈" otherwise, "—" where there is no test. A verdict from two seeds
    gets TWO_SEED_MARK ("beats?"): one degree of freedom makes it indicative only."""
    if pd.isna(mine) or pd.isna(theirs):
        return MISSING
    if pd.isna(p):  # no test; but means that tie over two or more seeds are a tie, whatever a t-test would say
        return ("≈" + (TWO_SEED_MARK if n_pairs == 2 else "")) if n_pairs >= 2 and ties(mine, theirs) else MISSING
    verdict = {"better": "beats", "worse": "trails"}.get(direction(mine, theirs), "≈") if p < alpha else "≈"
    return verdict + (TWO_SEED_MARK if n_pairs == 2 else "")


def seeds_note(seed_counts, alpha: float = 0.05) -> str:
    """What the number of seeds lets a paired t-test show, for the seed counts of the table's rows."""
    counts = sorted(n for n in seed_counts if n >= 2)
    if not counts:
        return "No row has two seeds: no test."
    spelled = "/".join(map(str, counts))
    return (f"With {spelled} seeds a paired t-test has {'/'.join(str(n - 1) for n in counts)} degree(s) of "
            f"freedom: only large, consistent differences reach p < {alpha:g}, and ≈ is no evidence of equality.")


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
    flags = epoch_flags(method_runs)
    two_seed_verdicts, seed_counts = 0, set()
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
                erm_verdict = _verdict(erm_row["method_mean"], erm_row["reference_mean"], erm_p, alpha,
                                       int(erm_row["n_pairs"]) if not pd.isna(erm_row["n_pairs"]) else 0)
                edge_verdict = _verdict(edge_row["method_mean"], edge_row["reference_mean"], edge_p, alpha,
                                        int(edge_row["n_pairs"]))
                versus_erm_cells = ([MISSING, MISSING, f"({display_name(erm)})"] if method == erm else
                                    [format_num(erm_diff, decimals, signed=True), format_p(erm_p), erm_verdict])
                two_seed_verdicts += sum(v.endswith(TWO_SEED_MARK) for v in (versus_erm_cells[2], edge_verdict))
                seed_counts.add(int(mae.notna().sum()))
                mine = flags.loc[mae.index]
                evidence = marks(mine["best_early"].sum(), mine["best_at_cap"].sum())
                row = [task, display_name(backbone), display_name(method), str(int(mae.notna().sum())),
                       mean_std_cell(mean, std, decimals) + (f" {evidence}" if evidence else ""),
                       *versus_erm_cells, format_num(edge_diff, decimals, signed=True), format_p(edge_p),
                       edge_verdict]
                for column, p in ((6, erm_p), (9, edge_p)):
                    if not pd.isna(p) and p < alpha:
                        bold.add((len(cells), column))
                cells.append(row)
                records.append({"task": task, "backbone": backbone, "method": method,
                                "n_seeds": int(mae.notna().sum()), "mae_mean": mean, "mae_std": std,
                                "erm_mean_diff": erm_diff, "erm_p": erm_p, "erm_p_holm": erm_row["p_holm"],
                                "edge_mae": edge_mae, "edge_mean_diff": edge_diff, "edge_p": edge_p,
                                "edge_p_holm": edge_row["p_holm"],
                                "erm_verdict": MISSING if method == erm else erm_verdict,
                                "edge_verdict": edge_verdict,
                                "n_best_early": int(mine["best_early"].sum()),
                                "n_best_at_cap": int(mine["best_at_cap"].sum())})
    frame = pd.DataFrame.from_records(records)
    edge_label = f"{REFERENCE_PREFIX}{display_name(edge_reference)}"
    notes = [f"test MAE: mean(std) over seeds ({std_note(std_ddof)}). Δ: mean per-seed difference "
             f"(method − comparator; < 0: the method's MAE is lower). p: two-sided paired t-test "
             f"(scipy.stats.ttest_rel) over the seeds both ran; bold: p < {alpha:g}. beats / trails: p < {alpha:g} "
             f"and Δ < 0 / > 0; ≈: no difference the seeds can show; — / n/a: no test (fewer than two seeds, or an "
             f"identical difference on every seed). " + TOLERANCE_NOTE,
             f"edge = {edge_label}, the constant that predicts the train range's edge on the held-out side. It is "
             f"the same on every seed, so the test against it is a one-sample t-test of the method's per-seed MAE "
             f"against the constant's MAE (in the CSV: edge_mae).",
             seeds_note(seed_counts, alpha) + " p is per comparison; the CSV has Holm-adjusted p over the methods "
             "of one task and backbone (erm_p_holm, edge_p_holm)."]
    if two_seed_verdicts:
        notes.append(TWO_SEED_NOTE)
    notes.extend(epoch_notes(int(flags["best_early"].sum()), int(flags["best_at_cap"].sum()),
                             int(flags["best_early"].notna().sum()), int(flags["best_at_cap"].notna().sum())))
    return TextTable(title="paired t-tests against ERM and the train-edge constant", header=header, cells=cells,
                     frame=frame, notes=notes, align=["l", "l", "l", "r", "r", "r", "r", "l", "r", "r", "l"],
                     bold=bold, group_rule_column=0)
