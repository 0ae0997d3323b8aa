"""Ablation tables: every ablation entry next to its reference entry, per task and backbone, with the difference
and a paired t-test over seeds — never a rank or a bold (which entries are ablations and what each is compared
with: :mod:`extrapbench.report.method_sets`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_tasks
from extrapbench.report.compare import direction as direction_of
from extrapbench.report.format import mean_std_cell
from extrapbench.report.io import write_table_files
from extrapbench.report.method_sets import MethodSets
from extrapbench.report.significance import paired_t
from extrapbench.report.summary import HIGHER_IS_BETTER, METRIC_LABELS, MISSING, mean_std, std_note
from extrapbench.report.text_table import TextTable

COLUMNS = ["metric", "task", "backbone", "entry", "reference", "leaky", "n_seeds", "entry_mean", "entry_std",
           "reference_mean", "reference_std", "n_pairs", "delta", "direction", "t_statistic", "p_value", "note"]


def ablation_frame(runs: pd.DataFrame, sets: MethodSets, metric: str = "mae", std_ddof: int = 1,
                   task_order: Sequence[str] | None = None,
                   backbone_order: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (task, backbone, ablation entry) with the entry's and its reference's mean and std over
    seeds, Δ = mean of the per-seed differences (entry − reference) over the seeds both ran, its direction by
    the metric's, and the paired t-test's t and p (``runs``: one row per run)."""
    higher = HIGHER_IS_BETTER.get(metric, False)
    rows = []
    if metric not in runs.columns or not sets.ablations:
        return pd.DataFrame(rows, columns=COLUMNS)
    order = {name: i for i, name in enumerate(sets.ablations)}
    for task in order_tasks(runs["task"].unique(), task_order):
        of_task = runs[runs["task"] == task]
        for backbone in order_backbones(of_task["backbone"].unique(), backbone_order):
            block = of_task[of_task["backbone"] == backbone]
            for entry in sorted(set(block["method"]) & set(sets.ablations), key=order.get):
                reference = sets.ablations[entry]
                values = block[block["method"] == entry].set_index("seed")[metric].astype(float)
                ref = (block[block["method"] == reference].set_index("seed")[metric].astype(float)
                       if reference else pd.Series(dtype=float))
                seeds = sorted(set(values.dropna().index) & set(ref.dropna().index))
                x, y = values.loc[seeds].to_numpy(float), ref.loc[seeds].to_numpy(float)
                delta = float(np.mean(x - y)) if seeds else math.nan
                t, p, note = paired_t(x, y) if reference else (math.nan, math.nan, "no reference entry")
                if reference and ref.dropna().empty:
                    note = f"{reference} not run here"
                # a tie within the report's tolerance is "equal" (extrapbench.report.compare)
                direction = (direction_of(float(np.mean(x)), float(np.mean(y)), higher) or MISSING) if seeds \
                    else MISSING
                entry_mean, entry_std = mean_std(values, std_ddof)
                ref_mean, ref_std = mean_std(ref, std_ddof)
                rows.append({"metric": metric, "task": task, "backbone": backbone, "entry": entry,
                             "reference": reference, "leaky": entry in sets.leaky,
                             "n_seeds": int(values.notna().sum()), "entry_mean": entry_mean, "entry_std": entry_std,
                             "reference_mean": ref_mean, "reference_std": ref_std, "n_pairs": len(seeds),
                             "delta": delta, "direction": direction, "t_statistic": t, "p_value": p, "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)


def ablation_table(frame: pd.DataFrame, metric: str, std_ddof: int = 1, decimals: int = 3,
                   alpha: float = 0.05) -> TextTable:
    """The rows of :func:`ablation_frame` for one metric as a :class:`TextTable` (blank repeated task /
    backbone; no marks, the p-value is the evidence)."""
    header = ["Task", "Backbone", "Entry", "Reference", "Entry mean(std)", "Reference mean(std)",
              "Δ (entry − reference)", "Seeds paired", "p (paired t)"]
    cells, previous = [], (None, None)
    for r in frame.itertuples():
        same = previous == (r.task, r.backbone)
        entry = display_name(r.entry) + (" (leaky range)" if r.leaky else "")
        p_text = f"{r.p_value:.3g}" if not pd.isna(r.p_value) else ("n/a: " + r.note if r.note else "n/a")
        cells.append(["" if same else r.task, "" if same else display_name(r.backbone), entry,
                      display_name(r.reference) if r.reference else "none",
                      mean_std_cell(r.entry_mean, r.entry_std, decimals),
                      mean_std_cell(r.reference_mean, r.reference_std, decimals),
                      MISSING if pd.isna(r.delta) else f"{r.delta:+.{decimals}f}", str(r.n_pairs), p_text])
        previous = (r.task, r.backbone)
    direction = "higher is better" if HIGHER_IS_BETTER.get(metric, False) else "lower is better"
    notes = [f"{METRIC_LABELS.get(metric, metric)} ({direction}); mean(std) over seeds ({std_note(std_ddof)}).",
             "Ablation entries (variants of another config entry, entries listed under the config key "
             "`ablations`, and any MEX entry searching the whole-dataset candidate range) are never ranked or "
             "marked in the main tables; each is shown here next to its reference entry: the one its `method:` "
             "names, else the one the `ablations` mapping names, else ERM.",
             "Δ: mean over the seeds both ran of the per-seed difference entry − reference (negative = lower). "
             "p: paired t-test (scipy.stats.ttest_rel, two-sided) over those seeds; with 2-3 seeds only a large, "
             f"consistent difference reaches p < {alpha:g}, and a large p is no evidence of equality."]
    if frame["leaky"].any():
        notes.append("(leaky range): MEX searching the whole data set's label range, which contains the test "
                     "labels' range — its difference to the reference is information from the test set.")
    if frame.empty:
        notes.append("No ablation entry in this config.")
    return TextTable(f"Ablations: {METRIC_LABELS.get(metric, metric)}", header, cells,
                     frame.reset_index(drop=True), notes, align=["l"] * 4 + ["r"] * 5)


@dataclass
class AblationTables:
    tables: dict[str, TextTable]

    def to_markdown(self) -> str:
        parts = ["# Ablations: each entry against its reference entry", ""]
        parts += [table.to_markdown(heading_level=2) for table in self.tables.values()]
        return "\n".join(parts)

    def to_latex(self) -> str:
        return "\n".join(["% Ablations: each entry against its reference entry"]
                         + ["\n" + table.to_latex() for table in self.tables.values()])

    def to_frame(self) -> pd.DataFrame:
        frames = [t.frame for t in self.tables.values() if not t.frame.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        write_table_files(self, markdown_path, latex_path, csv_path)


def ablation_tables(runs: pd.DataFrame, sets: MethodSets, metrics: Sequence[str] = ("mae", "gm", "spearman"),
                    std_ddof: int = 1, task_order: Sequence[str] | None = None,
                    backbone_order: Sequence[str] | None = None, decimals: int = 3) -> AblationTables:
    """One :func:`ablation_table` per metric present in ``runs``."""
    tables: Mapping[str, TextTable] = {
        metric: ablation_table(ablation_frame(runs, sets, metric, std_ddof, task_order, backbone_order), metric,
                               std_ddof, decimals)
        for metric in metrics if metric in runs.columns}
    return AblationTables(dict(tables))
