"""Running time: inference seconds per test sample per method and backbone, pooled over tasks and seeds, with
the ratio to ERM."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_methods
from extrapbench.report.format import fmt_sig
from extrapbench.report.summary import MISSING, std_ddof_of, std_note
from extrapbench.report.text_table import TextTable


# ----------------------------------------------------------------------------------------------------------
# Running time
# ----------------------------------------------------------------------------------------------------------

def pooled_mean_std(means: Sequence[float], stds: Sequence[float], counts: Sequence[int],
                    ddof: int = 1) -> tuple[float, float, int]:
    """Mean and std (with `ddof`) of all the underlying values, from per-group means, stds computed with the
    same ddof, and counts (a group of one has no std: it contributes no within-group spread). NaN groups are
    skipped; a single value overall has no std (NaN)."""
    frame = pd.DataFrame({"m": means, "s": stds, "n": counts}).dropna(subset=["m", "n"])
    frame = frame[frame["n"] > 0]
    total = int(frame["n"].sum())
    if total == 0:
        return math.nan, math.nan, 0
    mean = float((frame["n"] * frame["m"]).sum() / total)
    if total < 2:
        return mean, math.nan, total
    within = ((frame["n"] - ddof) * frame["s"].fillna(0.0) ** 2).sum()      # each group's sum of squares
    between = (frame["n"] * (frame["m"] - mean) ** 2).sum()
    return mean, float(math.sqrt((within + between) / (total - ddof))), total


def running_time_table(summary: pd.DataFrame, reference: str = "erm", metric: str = "seconds_per_sample",
                       method_order: Sequence[str] | None = None,
                       backbone_order: Sequence[str] | None = None, std_ddof: int | None = None) -> TextTable:
    """Inference seconds per test sample: rows = methods, columns = backbones; each cell the mean ± std
    over every (task, seed) run of that method and backbone (pooled exactly from the summary's per-task mean,
    std and n_seeds, with the summary's ddof: ``std_ddof``, default its ``std_ddof`` column, else 1), and its
    ratio to ``reference`` (ERM) computed on the tasks both ran."""
    ddof = std_ddof_of(summary, std_ddof)
    mean_column, std_column = f"{metric}_mean", f"{metric}_std"
    if mean_column not in summary.columns:
        raise ValueError(f"summary has no column {mean_column!r}")
    summary = summary.copy()
    if std_column not in summary.columns:
        summary[std_column] = np.nan
    backbones = order_backbones(summary["backbone"].unique(), backbone_order)
    methods = order_methods(summary["method"].unique(), method_order)
    records = []
    for method in methods:
        for backbone in backbones:
            rows = summary[(summary["method"] == method) & (summary["backbone"] == backbone)
                           & summary[mean_column].notna()]
            if rows.empty:
                continue
            mean, std, n_runs = pooled_mean_std(rows[mean_column], rows[std_column], rows["n_seeds"], ddof)
            ref = summary[(summary["method"] == reference) & (summary["backbone"] == backbone)
                          & summary[mean_column].notna()]
            common = sorted(set(rows["task"]) & set(ref["task"]))
            ratio = math.nan
            if common:
                method_common = pooled_mean_std(*(rows[rows["task"].isin(common)][c] for c in
                                                  (mean_column, std_column, "n_seeds")))[0]
                ref_common = pooled_mean_std(*(ref[ref["task"].isin(common)][c] for c in
                                               (mean_column, std_column, "n_seeds")))[0]
                ratio = method_common / ref_common if ref_common > 0 else math.nan
            records.append({"method": method, "backbone": backbone, "seconds_per_sample_mean": mean,
                            "seconds_per_sample_std": std, "n_runs": n_runs, "n_tasks": int(rows["task"].nunique()),
                            f"ratio_to_{reference}": ratio, "n_tasks_in_ratio": len(common)})
    frame = pd.DataFrame(records)
    if frame.empty:
        raise ValueError(f"summary has no {mean_column} values")
    header = ["Method"]
    for backbone in backbones:
        header += [f"{display_name(backbone)}: s / sample", f"{display_name(backbone)}: × {display_name(reference)}"]
    cells = []
    for method in methods:
        row = [display_name(method)]
        for backbone in backbones:
            match = frame[(frame["method"] == method) & (frame["backbone"] == backbone)]
            if match.empty:
                row += [MISSING, MISSING]
                continue
            r = match.iloc[0]
            row.append(f"{fmt_sig(r['seconds_per_sample_mean'])} ± {fmt_sig(r['seconds_per_sample_std'], 2)}"
                       if not pd.isna(r["seconds_per_sample_std"]) else fmt_sig(r["seconds_per_sample_mean"]))
            row.append(MISSING if pd.isna(r[f"ratio_to_{reference}"]) else f"{r[f'ratio_to_{reference}']:.2f}")
        cells.append(row)
    notes = ["Seconds per test sample of the timed test-set prediction (after a warm-up batch): mean ± std "
             f"({std_note(ddof)}) over all tasks and seeds of the method and backbone.",
             f"× {display_name(reference)}: the method's mean over the tasks that {display_name(reference)} also "
             f"ran, divided by {display_name(reference)}'s mean over the same tasks.",
             "Timings depend on the machine and batch size each run had (see each run's provenance.json "
             "'device'); compare within a backbone column, and only between runs on the same hardware."]
    runs = sorted({int(n) for n in frame["n_runs"]})
    notes.append("runs per cell: " + "/".join(map(str, runs)) + ".")
    if len(runs) == 1 and runs[0] < 2:
        notes.append("A single run per cell: no standard deviation.")
    return TextTable("Running time: inference seconds per test sample", header, cells, frame, notes,
                     align=["l"] + ["r"] * (len(header) - 1))


