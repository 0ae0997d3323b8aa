"""Detection of extrapolative samples per backbone, method and task: recall (paper A's Figure 5) and, when the
runs saved their train predictions, precision and F1 (the definitions are in
:mod:`extrapbench.evaluation.metrics`). Not ranked and not marked: the same recall can come from predicting everything
beyond the train range, which precision exposes. On request (config key ``detection_release_recall``) a second
recall column, "recall (MEX release)", holds the recall as the MEX authors' release computes it
(``detect_recall_release``, :func:`extrapbench.evaluation.metrics.release_detection_recall`)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from extrapbench.evaluation.metrics import PRECISION_DEFINITION, RECALL_DEFINITION, RELEASE_RECALL_DEFINITION
from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.format import mean_std_cell
from extrapbench.report.summary import std_ddof_of, std_note
from extrapbench.report.text_table import TextTable

PARTS = (("detect_recall", "recall"), ("detect_precision", "precision"), ("detect_f1", "F1"))
#: the release's recall, shown after ours when asked for (``release_recall``)
RELEASE_PART = ("detect_recall_release", "recall (MEX release)")


def detection_table(summary: pd.DataFrame, methods: Sequence[str] | None = None,
                    task_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                    decimals: int = 2, extra_notes: Sequence[str] = (), release_recall: bool = False) -> TextTable:
    """Rows = backbone × method (``methods`` in that order, default every method), columns = per task the
    recall and, where the summary has them, precision and F1, each mean(std) over seeds. Precision and F1 are
    left out entirely when no run saved train predictions. ``release_recall``: a "recall (MEX release)" column
    after the recall, the release's definition (``detect_recall_release``)."""
    if "detect_recall_mean" not in summary.columns:
        raise ValueError("summary has no detect_recall_mean column")
    if release_recall and "detect_recall_release_mean" not in summary.columns:
        raise ValueError("the release's detection recall was asked for (detection_release_recall: true), but the "
                         "summary has no detect_recall_release_mean column: the runs' metrics.json predate it; "
                         "re-run the evaluation (snakemake --forcerun evaluate_runs)")
    ddof = std_ddof_of(summary)
    if methods is not None:
        summary = summary[summary["method"].isin(list(methods))]
    metrics = [(key, label) for key, label in PARTS if f"{key}_mean" in summary.columns
               and summary[f"{key}_mean"].notna().any()]
    if release_recall:
        metrics.insert(1, RELEASE_PART)
    tasks = order_tasks(summary["task"].unique(), task_order)
    by_key = summary.set_index(["task", "backbone", "method"])
    header = ["Backbone", "Method"] + [f"{task}: {label}" for task in tasks for _, label in metrics]
    records, cells = [], []
    for backbone in order_backbones(summary["backbone"].unique(), backbone_order):
        present = summary.loc[summary["backbone"] == backbone, "method"].unique()
        ordered = [m for m in methods if m in set(present)] if methods is not None else order_methods(present)
        for method in ordered:
            record, row = {"backbone": backbone, "method": method}, [display_name(backbone), display_name(method)]
            for task in tasks:
                for key, _ in metrics:
                    mean = by_key[f"{key}_mean"].get((task, backbone, method), float("nan"))
                    std = by_key[f"{key}_std"].get((task, backbone, method), float("nan")) \
                        if f"{key}_std" in by_key.columns else float("nan")
                    record[f"{task}_{key}_mean"], record[f"{task}_{key}_std"] = mean, std
                    row.append(mean_std_cell(mean, std, decimals))
            records.append(record)
            cells.append(row)
    notes = [RECALL_DEFINITION] + ([RELEASE_RECALL_DEFINITION] if release_recall else []) + [
        PRECISION_DEFINITION, f"cells: mean(std) over seeds ({std_note(ddof)}); not ranked or marked."]
    if not any(key in ("detect_precision", "detect_f1") for key, _ in metrics):
        notes.append("precision and F1 are left out: no run saved its train predictions, and on val ∪ test alone "
                     "every sample of a range split is extrapolative, so precision would be 1 by construction.")
    notes.extend(extra_notes)
    return TextTable("Detection of extrapolative samples", header, cells, pd.DataFrame(records), notes,
                     align=["l", "l"] + ["r"] * (len(header) - 2))
