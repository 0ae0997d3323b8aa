"""Per-run metrics -> per-configuration summary, and the names, orders and conventions every table shares.

* :func:`collect` stacks ``metrics.json`` records into one DataFrame (one row per run).
* :func:`summarize` gives one row per (task, backbone, method): mean and standard deviation over seeds of every
  metric. The std's ddof is the config key ``std_ddof``: 1 (default) is the sample std, the usual "mean ± std
  over 3 seeds"; 0 is numpy's default population std, what the MEX authors' ``compute_res_metric.py`` prints
  (their tables' std). The summary records it in a ``std_ddof`` column and every table's note says which one.
  With a single seed the std is NaN whatever the ddof (no spread to report), which the tables show as "—". A
  metric undefined for some seed (NaN, e.g. Spearman of a constant prediction) is averaged over the seeds where
  it is defined; a metric undefined for every run (detection precision / F1 without train predictions) is left
  out of the summary.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.evaluation.metrics import METRIC_KEYS
from extrapbench.naming import order_backbones, order_methods, order_tasks
from extrapbench.report.evidence import epoch_counts

RUN_ID_COLUMNS = ("task", "backbone", "method", "seed")
#: ddof of the std over seeds unless the config says otherwise (``std_ddof``): the sample std
DEFAULT_STD_DDOF = 1
GROUP_COLUMNS = ("task", "backbone", "method")
#: Per-run training bookkeeping summarised alongside the metrics (how long and how many epochs each run trained).
BOOKKEEPING_KEYS = ("wall_time_s", "epochs_run", "best_epoch")
#: The epoch cap each run trained under (metrics.json, from its provenance's config.train): with best_epoch, what
#: the "best at the cap" mark needs (extrapbench.report.evidence).
EPOCH_CAP_KEY = "max_epochs"
#: Counts that do not vary over seeds; the summary keeps them as they are.
COUNT_KEYS = ("n_test", "n_val", "n_extrapolative")
#: Metrics defined only when the runs saved train predictions: left out of the summary (and so of every table)
#: when no run has them.
OPTIONAL_METRICS = ("detect_precision", "detect_f1")

#: Direction of each metric for ranking and bold/italics.
HIGHER_IS_BETTER = {
    "mae": False, "gm": False, "val_mae": False, "spearman": True, "r2": True,
    "detect_recall": True, "detect_precision": True, "detect_f1": True, "detect_recall_release": True,
    "seconds_per_sample": False,
}

METRIC_LABELS = {
    "mae": "test MAE", "gm": "test GM (error geometric mean)", "spearman": "test Spearman correlation",
    "r2": "test R²", "val_mae": "validation MAE", "detect_recall": "detection recall",
    "detect_precision": "detection precision", "detect_f1": "detection F1",
    "detect_recall_release": "detection recall as the MEX authors' release computes it",
    "seconds_per_sample": "inference seconds per test sample",
}

MISSING = "—"


def check_std_ddof(std_ddof) -> int:
    if std_ddof not in (0, 1) or isinstance(std_ddof, bool):
        raise ValueError(f"std_ddof must be 0 (population std, the MEX authors') or 1 (sample std), got {std_ddof!r}")
    return int(std_ddof)


def std_ddof_of(summary: pd.DataFrame, std_ddof: int | None = None) -> int:
    """The ddof a summary's stds were computed with: its ``std_ddof`` column (summaries written before the
    column existed used 1); an explicit `std_ddof` that contradicts the column is an error, since relabelling
    a std does not recompute it."""
    recorded = summary["std_ddof"].dropna().unique() if "std_ddof" in summary.columns else []
    if len(recorded) > 1:
        raise ValueError(f"summary mixes std_ddof values {sorted(recorded)}")
    if len(recorded) == 1:
        if std_ddof is not None and int(recorded[0]) != check_std_ddof(std_ddof):
            raise ValueError(f"the summary's stds use ddof={int(recorded[0])}, not the requested {std_ddof}: "
                             "re-run the aggregation with the same std_ddof")
        return int(recorded[0])
    return DEFAULT_STD_DDOF if std_ddof is None else check_std_ddof(std_ddof)


def std_note(std_ddof: int) -> str:
    """How a table's std over seeds was computed, for its footnote."""
    return ("sample std, ddof=1" if std_ddof == 1
            else "population std, ddof=0, numpy's default, as the MEX authors' tables")


def metric_higher_is_better(metric: str, higher_is_better: bool | None = None) -> bool:
    """Whether a higher ``metric`` is better: ``higher_is_better`` when given, else the metric's entry in
    :data:`HIGHER_IS_BETTER` (an unknown metric without one is an error)."""
    if higher_is_better is not None:
        return bool(higher_is_better)
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"say whether higher is better for metric {metric!r}")
    return HIGHER_IS_BETTER[metric]


def mean_std(values: pd.Series, ddof: int) -> tuple[float, float]:
    """Mean and std (``ddof``) of the defined values (NaN dropped); NaN, NaN without any, and a NaN std for a
    single one (no spread to report, whatever the ddof)."""
    values = values.dropna().astype(float)
    if values.empty:
        return np.nan, np.nan
    return float(values.mean()), (float(values.std(ddof=ddof)) if len(values) > 1 else np.nan)


# ----------------------------------------------------------------------------------------------------------
# collect / summarize
# ----------------------------------------------------------------------------------------------------------

def collect(metrics_records: Iterable[Mapping[str, Any] | str | os.PathLike]) -> pd.DataFrame:
    """One row per run from metrics dicts (or paths to ``metrics.json`` files). JSON nulls become NaN.

    Raises ``ValueError`` when two records describe the same (task, backbone, method, seed).
    """
    records = []
    for record in metrics_records:
        if isinstance(record, (str, os.PathLike)):
            path = record
            try:
                with open(path) as metrics_file:
                    record = json.load(metrics_file)
            except ValueError as exc:  # truncated or corrupt (JSONDecodeError, UnicodeDecodeError): name the file
                raise ValueError(f"{path}: not valid JSON ({exc}); delete it and rerun its evaluation") from exc
            if not isinstance(record, Mapping):
                raise ValueError(f"{path}: not a metrics record (a JSON {type(record).__name__}, expected an "
                                 f"object); delete it and rerun its evaluation")
        records.append(dict(record))
    if not records:
        raise ValueError("no metrics records to collect")
    runs = pd.DataFrame.from_records(records)
    missing = [column for column in RUN_ID_COLUMNS if column not in runs.columns]
    if missing:
        raise ValueError(f"metrics records lack {missing}")
    for column in (*METRIC_KEYS, *BOOKKEEPING_KEYS, *COUNT_KEYS, EPOCH_CAP_KEY):
        if column in runs.columns:
            runs[column] = pd.to_numeric(runs[column]).astype(float)
    runs["seed"] = runs["seed"].astype(int)
    duplicated = runs.duplicated(list(RUN_ID_COLUMNS), keep=False)
    if duplicated.any():
        raise ValueError("duplicate runs:\n" + runs.loc[duplicated, list(RUN_ID_COLUMNS)].to_string())
    return runs


def summarize(runs: pd.DataFrame, task_order: Sequence[str] | None = None,
              method_order: Sequence[str] | None = None,
              backbone_order: Sequence[str] | None = None, std_ddof: int = DEFAULT_STD_DDOF) -> pd.DataFrame:
    """One row per (task, backbone, method) with ``n_seeds``, ``seeds``, ``n_diverged`` (seeds whose metrics say
    ``diverged``), the best-epoch counts of :func:`extrapbench.report.evidence.epoch_counts` (``n_best_early``,
    ``n_best_at_cap`` and of how many runs each is known) and ``{metric}_mean``/``{metric}_std``
    for every metric present (std with `std_ddof`, NaN for a single seed; the ddof is recorded in a
    ``std_ddof`` column). Rows follow task, backbone, method order."""
    std_ddof = check_std_ddof(std_ddof)
    metric_columns = [key for key in (*METRIC_KEYS, *BOOKKEEPING_KEYS) if key in runs.columns
                      and not (key in OPTIONAL_METRICS and runs[key].isna().all())]
    rows = []
    for (task, backbone, method), group in runs.groupby(list(GROUP_COLUMNS), sort=False):
        row: dict[str, Any] = {"task": task, "backbone": backbone, "method": method,
                               "n_seeds": int(group["seed"].nunique()),
                               "seeds": ",".join(str(s) for s in sorted(group["seed"]))}
        # seeds whose metrics.json says diverged (extrapbench.evaluation.divergence): marked in the tables, never bold
        row["n_diverged"] = (int(sum(value is True or value == 1 for value in group["diverged"]))
                             if "diverged" in group.columns else 0)
        # runs whose best checkpoint came at epoch <= 2 or at the epoch cap: marked in the tables
        row.update(epoch_counts(group))
        for column in COUNT_KEYS:
            if column in group.columns:
                row[column] = group[column].iloc[0]
        for column in metric_columns:
            values = group[column].astype(float)
            row[f"{column}_mean"] = values.mean()
            # one defined value has no spread: NaN for either ddof (ddof=0 would print a misleading 0)
            row[f"{column}_std"] = values.std(ddof=std_ddof) if values.notna().sum() > 1 else np.nan
        row["std_ddof"] = std_ddof
        rows.append(row)
    summary = pd.DataFrame(rows)
    for column in COUNT_KEYS:
        if column in summary.columns:
            summary[column] = summary[column].astype("Int64")  # counts read back as floats (JSON null -> NaN)

    task_rank = {t: i for i, t in enumerate(order_tasks(summary["task"], task_order))}
    backbone_rank = {b: i for i, b in enumerate(order_backbones(summary["backbone"], backbone_order))}
    method_rank = {m: i for i, m in enumerate(order_methods(summary["method"], method_order))}
    sort_key = pd.DataFrame({"t": summary["task"].map(task_rank), "b": summary["backbone"].map(backbone_rank),
                             "m": summary["method"].map(method_rank)})
    return summary.loc[sort_key.sort_values(["t", "b", "m"]).index].reset_index(drop=True)


