"""Apply a task's split and summarise it as results/splits/{task}.json (n, min, max and ids per part)."""
from __future__ import annotations

import inspect

import pandas as pd

from extrapbench.registry import SPLITS
from extrapbench.tasks import Task
from extrapbench.naming import PARTS
# the split's identity lives apart, importable without the registry; named here too, where it always was
from extrapbench.splits.digest import SPLIT_DIGEST_RULE, split_digest  # noqa: F401



def task_table(task: Task, dataset_table: pd.DataFrame) -> pd.DataFrame:
    if task.target not in dataset_table.columns:
        raise KeyError(f"task {task.id}: dataset {task.dataset!r} has no column {task.target!r}; "
                       f"columns: {list(dataset_table.columns)}")
    from extrapbench.data.errors import DataValidationError
    from extrapbench.data.validation import non_finite_error

    if message := non_finite_error(task.dataset, dataset_table, task.target):
        raise DataValidationError(f"task {task.id}: {message}")
    if task.transform == "log":
        values = dataset_table[task.target].astype(float)
        bad = dataset_table.index[values <= 0]
        if len(bad):
            raise DataValidationError(
                f"task {task.id}: dataset {task.dataset!r}: {len(bad)} of {len(values)} rows have {task.target!r} <= 0, "
                f"which the natural-log transform cannot take, first ids: {', '.join(map(str, bad[:5]))}. Fix or "
                f"remove those rows, or define the task with transform: none.")
    table = dataset_table.copy()
    table["target"] = task.transform_target(table[task.target])
    if message := non_finite_error(task.dataset, table, task.target, table["target"],
                                   f" after the {task.transform!r} transform"):
        raise DataValidationError(f"task {task.id}: {message}")
    return table


def check_parts(task: Task, table: pd.DataFrame, assignment: dict, min_part_size: int | None = None) -> None:
    """Refuse a split whose numbers would look complete but rest on nothing: a part with fewer than
    `min_part_size` materials (config key ``min_part_size``; None: no minimum), or a part of several materials
    whose (transformed) labels are all equal (no variance: train labels cannot be standardised, and a method, the
    train mean and the train edge all predict the same value, so "beats the edge" would be decided by rounding)."""
    from extrapbench.data.errors import DataValidationError

    small = [f"the {part} part has {len(assignment[part])} material(s)" for part in reversed(PARTS)
             if min_part_size is not None and len(assignment[part]) < min_part_size]
    if small:
        raise DataValidationError(
            f"task {task.id}: {', '.join(small)}, fewer than min_part_size={min_part_size} ({len(table)} materials "
            f"in all): a test MAE, a validation choice or a train range from so few materials says next to "
            f"nothing, yet every table would look complete. Use a larger dataset or other split fractions, or "
            f"lower the config key min_part_size.")
    for part in PARTS:
        n = len(assignment[part])
        values = table.loc[assignment[part], "target"]
        if n > 1 and values.nunique() == 1:
            raise DataValidationError(
                f"task {task.id}: all {n} {part} labels are equal ({float(values.iloc[0]):g}, transformed): a part "
                f"without label variance cannot be standardised or compared (every method and every constant "
                f"reference predicts the same value). Check the dataset's {task.target!r} column, or split it "
                f"otherwise.")


def make_split(task: Task, table: pd.DataFrame, split_ties: str | None = None,
               min_part_size: int | None = None) -> dict:
    """Apply the task's split. `split_ties` (config key ``split_ties``: held_out | both_sides) reaches split kinds
    that cut on label values (those taking a ``ties`` parameter, i.e. ``range``); others ignore it. Under
    ``both_sides`` a material tied at a cut is listed in both neighbouring parts (never in test and train).
    Refused (:func:`check_parts`): a part below `min_part_size` materials (config key ``min_part_size``; the
    workflow passes it, None here: no minimum) and a part whose labels are all equal."""
    split_fn = SPLITS.get(task.split)
    params = dict(task.split_params)
    takes_ties = "ties" in inspect.signature(split_fn).parameters
    if takes_ties and split_ties is not None:
        params.setdefault("ties", split_ties)
    ties = params.get("ties", "held_out") if takes_ties else None
    assignment = split_fn(table, **params)
    for part in PARTS:
        if len(set(assignment[part])) != len(assignment[part]):
            raise AssertionError(f"task {task.id}: the {part} part lists a material twice")
    for first, second in (("train", "val"), ("val", "test"), ("train", "test")):
        overlap = set(assignment[first]).intersection(assignment[second])
        # both_sides shares tied materials between neighbouring parts only
        if overlap and not (ties == "both_sides" and "val" in (first, second)):
            raise AssertionError(f"task {task.id}: split parts {first} and {second} overlap on "
                                 f"{sorted(overlap)[:5]}")
    check_parts(task, table, assignment, min_part_size)
    tie_rule = (split_fn.tie_rules[ties] if ties is not None and hasattr(split_fn, "tie_rules")
                else getattr(split_fn, "tie_rule", ""))
    summary = {"task": task.id, "dataset": task.dataset, "target": task.target, "transform": task.transform,
               "split": task.split, "side": task.side, "split_params": params,
               "n_total": int(len(table)), "split_ties": ties, "tie_rule": tie_rule,
               "n_in_two_parts": int(sum(len(assignment[p]) for p in PARTS)
                                     - len(set().union(*(assignment[p] for p in PARTS))))}
    for part in PARTS:
        values = table.loc[assignment[part], "target"]
        summary[part] = {"n": int(len(values)), "min": float(values.min()), "max": float(values.max()),
                         "ids": list(assignment[part])}
    return summary


def split_frame(summary: dict, table: pd.DataFrame) -> pd.DataFrame:
    """id, target, split, one row per (material, part) (used by figures and extrapbench.training.run): a material that a
    ``both_sides`` split puts in two parts has two rows, with the same target."""
    rows = [(i, float(table.at[i, "target"]), part) for part in PARTS for i in summary[part]["ids"]]
    return pd.DataFrame(rows, columns=["id", "target", "split"])
