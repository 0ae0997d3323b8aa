"""The reference tables: does any method beat the trivial predictors, and what does extrapolation
cost against the same model on a random split?

* :func:`reference_notes`: the notes a paper-style table (extrapbench.report.tables) gets when it shows the
  reference predictors' rows.
* :func:`skill_table` (``results/tables/skill``): skill = 1 − MAE / MAE(edge_train) per run, mean(std) over seeds,
  per backbone × method × task. > 0: the method beats the constant that predicts the train range's edge; 0: the
  constant itself; < 0: worse than it.
* :func:`penalty_table` (``results/tables/extrapolation_penalty``): MAE on the range task / MAE on its random twin
  (a random split of the same part sizes, same backbone and method), per seed, mean(std) over the seeds both have.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.compare import TOLERANCE_NOTE, beats
from extrapbench.report.format import mean_std_cell
from extrapbench.report.summary import MISSING, mean_std, std_note
from extrapbench.report.text_table import TextTable

EDGE_REFERENCE = "edge_train"
REFERENCE_PREFIX = "ref: "


def reference_notes(table) -> list[str]:
    """What a paper-style table's reference rows are and what its dagger means."""
    from extrapbench.references.base import describe_references

    notes = [f"{REFERENCE_PREFIX}rows: reference predictors, no training loop, the same for every backbone; never "
             "ranked, never marked. " + describe_references(table.references)]
    constants = [r for r in ("edge_train", "edge_known", "train_mean") if r in table.references]
    if table.metric == "spearman" and constants:
        notes.append(f"{MISSING} for a constant reference ({', '.join(map(display_name, constants))}): Spearman's "
                     "correlation is undefined for a constant prediction (it ranks nothing).")
    if table.metric == "r2" and constants:
        notes.append("R² of a constant prediction is defined (1 − SS_res/SS_tot ≤ 0) and printed.")
    if table.edge_reference is not None:
        better = "higher" if table.higher_is_better else "lower"
        notes.append(f"{table.REFERENCE_MARK}: the method does not beat the constant {REFERENCE_PREFIX}"
                     f"{display_name(table.edge_reference)} on that task (its mean is not {better}); a model that "
                     "only moves its predictions to the train range's edge scores that. " + TOLERANCE_NOTE)
    return notes


def skill_table(runs: pd.DataFrame, methods: Sequence[str], references: Sequence[str],
                task_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                std_ddof: int = 1, edge_reference: str = EDGE_REFERENCE, decimals: int = 3) -> TextTable:
    """Skill against ``edge_reference`` from per-run metrics (``extrapbench.report.summary.collect``): rows =
    backbone × (methods, then references), columns = tasks (those where the edge reference ran) and how many of
    them the row beats. A run's skill is 1 − its MAE / the edge reference's MAE on the same (task, backbone),
    averaged over that reference's seeds (a constant: all equal)."""
    edge = runs[runs["method"] == edge_reference]
    if edge.empty:
        raise ValueError(f"no runs of the reference {edge_reference!r}: the skill table needs it (config "
                         f"`references`)")
    edge_mae = edge.groupby(["task", "backbone"])["mae"].mean()
    tasks = order_tasks(edge["task"].unique(), task_order)
    rows_order = [*order_methods([m for m in methods if m not in references], list(methods)),
                  *[r for r in references if r in set(runs["method"])]]
    header = ["Backbone", "Method", *tasks, "beats the edge"]
    cells, records = [], []
    for backbone in order_backbones(runs["backbone"].unique(), backbone_order):
        block = runs[runs["backbone"] == backbone]
        for method in rows_order:
            mine = block[block["method"] == method]
            if mine.empty:
                continue
            is_reference = method in references
            label = f"{REFERENCE_PREFIX}{display_name(method)}" if is_reference else display_name(method)
            record = {"backbone": backbone, "method": method, "role": "reference" if is_reference else "method"}
            row, beaten, valued = [display_name(backbone), label], 0, 0
            for task in tasks:
                reference_mae = edge_mae.get((task, backbone), np.nan)
                runs_of_task = mine[mine["task"] == task]
                skill = 1.0 - runs_of_task["mae"] / reference_mae if reference_mae > 0 else pd.Series(dtype=float)
                mean, std = mean_std(skill, std_ddof)
                record.update({f"{task}_skill_mean": mean, f"{task}_skill_std": std,
                               f"{task}_n_seeds": int(skill.notna().sum()), f"{task}_edge_mae": reference_mae})
                row.append(mean_std_cell(mean, std, decimals, signed=True))
                if not pd.isna(mean):
                    valued += 1
                    beaten += beats(1.0 - mean, 1.0)  # mean MAE / edge MAE below 1 by more than a tie
            record["tasks_beaten"], record["tasks_with_value"] = beaten, valued
            row.append(f"{beaten}/{valued}" if valued else MISSING)
            cells.append(row)
            records.append(record)
    edge_line = "; ".join(f"{task} {edge_mae[(task, b)]:.{decimals}f} ({display_name(b)})"
                          for task in tasks for b in order_backbones(edge["backbone"].unique(), backbone_order)
                          if (task, b) in edge_mae.index)
    notes = [f"skill = 1 − test MAE / test MAE of {REFERENCE_PREFIX}{display_name(edge_reference)} (the constant "
             "that predicts the train range's edge on the held-out side) on the same task and backbone, per seed; "
             f"cells: mean(std) over seeds ({std_note(std_ddof)}). > 0: beats the constant; 0: the constant itself; "
             "< 0: worse than predicting the edge.",
             "beats the edge: tasks with mean skill > 0 / tasks with a value. Not ranked, not marked. "
             + TOLERANCE_NOTE,
             f"the edge constant's test MAE: {edge_line}."]
    return TextTable(title="skill against the train-edge constant", header=header, cells=cells,
                     frame=pd.DataFrame.from_records(records), notes=notes,
                     align=["l", "l"] + ["r"] * (len(tasks) + 1), group_rule_column=0)


def penalty_table(runs: pd.DataFrame, twins: Mapping[str, str], methods: Sequence[str] | None = None,
                  task_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                  std_ddof: int = 1, decimals: int = 3) -> TextTable:
    """Extrapolation penalty from per-run metrics of the range tasks and their random twins (``twins``: twin task
    -> range task): per (backbone, method, task) and seed, MAE(range task) / MAE(random twin); cells "ratio(std)"
    over the seeds both have, with both MAEs (means over those seeds) beside it."""
    tasks = order_tasks([t for t in twins.values() if t in set(runs["task"])], task_order)
    twin_of = {task: twin for twin, task in twins.items()}
    present = [m for m in runs.loc[runs["task"].isin(list(twins)), "method"].unique()]
    rows_order = [m for m in (methods or order_methods(present)) if m in set(present)]
    header = ["Backbone", "Method", *tasks]
    cells, records = [], []
    by_key = runs.set_index(["task", "backbone", "method", "seed"])["mae"]
    for backbone in order_backbones(runs["backbone"].unique(), backbone_order):
        for method in rows_order:
            record, row = {"backbone": backbone, "method": method}, [display_name(backbone), display_name(method)]
            any_value = False
            for task in tasks:
                seeds = sorted(set(runs.loc[(runs["task"] == task) & (runs["backbone"] == backbone)
                                            & (runs["method"] == method), "seed"])
                               & set(runs.loc[(runs["task"] == twin_of[task]) & (runs["backbone"] == backbone)
                                              & (runs["method"] == method), "seed"]))
                range_mae = pd.Series([by_key[(task, backbone, method, s)] for s in seeds], dtype=float)
                random_mae = pd.Series([by_key[(twin_of[task], backbone, method, s)] for s in seeds], dtype=float)
                mean, std = mean_std(range_mae / random_mae, std_ddof)
                record.update({f"{task}_penalty_mean": mean, f"{task}_penalty_std": std,
                               f"{task}_range_mae": range_mae.mean() if seeds else np.nan,
                               f"{task}_random_mae": random_mae.mean() if seeds else np.nan,
                               f"{task}_n_seeds": len(seeds)})
                if pd.isna(mean):
                    row.append(MISSING)
                    continue
                any_value = True
                row.append(f"{mean_std_cell(mean, std, 2)}× ({range_mae.mean():.{decimals}f} / "
                           f"{random_mae.mean():.{decimals}f})")
            if any_value:
                cells.append(row)
                records.append(record)
    notes = ["extrapolation penalty = test MAE on the range task / test MAE on its random twin (`<task>_random`: a "
             "random split with the same train / val / test sizes, the same backbone, method and protocol), per "
             f"seed; cells: ratio mean(std) over the seeds both ran ({std_note(std_ddof)}), then (range MAE / "
             "random-split MAE), means over those seeds. 1×: extrapolating costs nothing; the larger, the more of "
             "the error comes from leaving the training range."]
    return TextTable(title="extrapolation penalty: range task vs a random split of the same sizes", header=header,
                     cells=cells, frame=pd.DataFrame.from_records(records), notes=notes,
                     align=["l", "l"] + ["r"] * len(tasks), group_rule_column=0)
