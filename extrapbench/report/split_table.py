"""Table 1: per task, sample counts and train/val/test label ranges, from the split JSONs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from extrapbench.naming import PARTS, order_tasks
from extrapbench.report.figures import target_axis_label
from extrapbench.report.format import fmt_range
from extrapbench.report.io import PathLike, read_json
from extrapbench.report.summary import MISSING
from extrapbench.report.text_table import TextTable


# ----------------------------------------------------------------------------------------------------------
# Table 1: splits
# ----------------------------------------------------------------------------------------------------------

def split_rule_text(summary: Mapping[str, Any]) -> str:
    """Short description of a task's split for the split tables: the side of a range split, the held-out
    elements, the element counts."""
    kind, params = summary.get("split", "range"), summary.get("split_params") or {}
    if kind == "range":
        return str(summary.get("side") or MISSING)
    if kind == "held_out_elements":
        joiner = " and " if params.get("match", "all") == "all" else " or "
        return "test: contains " + joiner.join(params.get("elements", []))
    if kind == "element_count":
        return (f"train: ≤{params.get('train_max_elements', 2)} elements, "
                f"test: ≥{params.get('test_min_elements', 3)}")
    return str(kind)


def split_table(split_json_paths: Iterable[PathLike], task_order: Sequence[str] | None = None,
                decimals: int = 2,
                title: str = "Table 1: extrapolation tasks, sample counts and label ranges") -> TextTable:
    """Table 1 from ``results/splits/{task}.json``: counts (total, train, val, test) and "[min, max]" label
    ranges per part, rounded to ``decimals`` (the CSV keeps full precision). Rows in the paper's task order."""
    summaries = {}
    for path in split_json_paths:
        summary = read_json(path)
        summaries[summary.get("task", Path(path).stem)] = summary
    if not summaries:
        raise ValueError("no split summaries given")
    records, cells = [], []
    for task in order_tasks(summaries, task_order):
        s = summaries[task]
        record = {"task": task, "dataset": s.get("dataset"), "target": s.get("target"),
                  "transform": s.get("transform"), "split": s.get("split", "range"), "side": s.get("side"),
                  "split_rule": split_rule_text(s), "n_total": s.get("n_total")}
        for part in PARTS:
            record[f"n_{part}"] = s[part]["n"]
        for part in PARTS:
            record[f"{part}_min"], record[f"{part}_max"] = s[part]["min"], s[part]["max"]
        record["tie_rule"] = s.get("tie_rule")
        records.append(record)
        n_total = record["n_total"] if record["n_total"] is not None else sum(s[p]["n"] for p in PARTS)
        cells.append([task, str(s.get("dataset") or MISSING), target_axis_label(s), split_rule_text(s),
                      f"{int(n_total):,}", *(f"{int(s[p]['n']):,}" for p in PARTS),
                      *(fmt_range(s[p]["min"], s[p]["max"], decimals) for p in PARTS)])
    frame = pd.DataFrame(records)
    notes = [f"Label ranges are [min, max] of the transformed target (ln for log-transformed tasks), rounded to "
             f"{decimals} decimals; the CSV holds the exact values."]
    if all(s.get("split", "range") == "range" for s in summaries.values()):
        notes.append("Range split: the 15% most extreme labels on the task's side are test, the next 15% "
                     "val, the rest train.")
    else:
        notes.append("Each task's parts follow its split rule (the split JSON's 'split' and 'split_params').")
        if any(s.get("split") in ("held_out_elements", "element_count") for s in summaries.values()):
            notes.append("Held-out-element and element-count splits (paper B) have no validation set of their "
                         "own: val is a seeded random 15% of the train pool; test is exactly the held-out set.")
    part_sum = frame[[f"n_{p}" for p in PARTS]].sum(axis=1)
    unassigned = frame["n_total"].notna() & (frame["n_total"] > part_sum)
    if unassigned.any():
        notes.append("total > train + val + test for " + ", ".join(frame.loc[unassigned, "task"])
                     + ": some rows were assigned to no part (see the split's tie_rule / split rule).")
    shared = frame["n_total"].notna() & (frame["n_total"] < part_sum)
    if shared.any():
        notes.append("total < train + val + test for " + ", ".join(frame.loc[shared, "task"])
                     + ": materials whose label equals a cut are counted in both neighbouring parts "
                       "(split_ties: both_sides, the MEX authors' rule).")
    tie_rules = sorted({str(r) for r in frame["tie_rule"].dropna() if str(r)})
    if len(tie_rules) == 1:
        notes.append(f"Ties at a cut: {tie_rules[0]}.")
    all_range = all(s.get("split", "range") == "range" for s in summaries.values())
    header = ["Task", "Dataset", "Target", "Side" if all_range else "Split", "Total", "Train", "Val", "Test",
              "Train range", "Val range", "Test range"]
    return TextTable(title, header, cells, frame, notes,
                     align=["l"] * 4 + ["r"] * 7)


