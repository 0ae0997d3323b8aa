"""The paper-style tables (the paper's Tables 2, 3, 6): rows = backbone × method, columns = the tasks present +
average rank, cells "mean(std)" over seeds.

Everything that ranks works **within one backbone**: a row's rank in a task column is its place among the rows of
its own backbone, its average rank is over the tasks it has a value for, and bold / italics mark the best /
second-best of its backbone's rows (paper A ranks its eight methods within each backbone). A cell is bold only
where the best mean beats the next one by more than either's std over seeds (seed noise cannot make it the best),
italics need at least three rows. Which rows a table holds (the paper's eight methods, every method, no ablation
entry) is decided by :mod:`extrapbench.report.method_sets`; tables render to Markdown and LaTeX (booktabs) and
expose the raw numbers for a CSV (:class:`extrapbench.report.ranked_table.PaperTable`).

The names, orders and the summary itself live in :mod:`extrapbench.report.summary`.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.naming import order_backbones, order_methods, order_tasks
from extrapbench.report.evidence import COUNT_COLUMNS as EPOCH_COUNT_COLUMNS
from extrapbench.report.ranked_table import PaperTable
from extrapbench.report.summary import metric_higher_is_better, std_ddof_of


def paper_table(summary: pd.DataFrame, metric: str, higher_is_better: bool | None = None,
                method_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                task_order: Sequence[str] | None = None, decimals: int = 3,
                not_applicable: Iterable[Mapping[str, str]] | None = None,
                std_ddof: int | None = None, methods: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, extra_notes: Sequence[str] | None = None,
                marks: bool = True, references: Sequence[str] | None = None,
                edge_reference: str | None = "edge_train", external: Sequence[str] | None = None) -> PaperTable:
    """Build the paper-style table of ``metric`` from :func:`extrapbench.report.summary.summarize` output.

    Rows are backbone × method pairs that occur in ``summary`` (backbones in ``backbone_order`` then sorted;
    within a backbone ERM first, MEX last, the rest in ``method_order``); columns are the tasks present, in
    ``task_order`` (default the paper's). A (row, task) pair absent from the summary, or with a NaN mean, is
    a missing cell: shown as "—" and left out of that column's ranking. ``higher_is_better`` defaults to the
    metric's direction in :data:`extrapbench.report.summary.HIGHER_IS_BETTER`. ``not_applicable`` lists
    {task, backbone, reason} pairs that are not run by design: their cells read "n/a" with the reason in a note,
    and a backbone that runs none of the tasks still gets its rows, so the table says why it is empty.
    ``std_ddof``: the ddof of the summary's stds, for the note (default: the summary's ``std_ddof`` column, else
    1). ``methods``: the only methods to show, in this order (the paper set, every method:
    :mod:`extrapbench.report.method_sets`); default every method of the summary, ERM first and MEX last. Ranks
    and marks are within each backbone; ``labels`` rename rows, ``extra_notes`` follow the cell note,
    ``marks=False`` drops bold / italics. ``references``: reference predictors present in ``summary``
    (extrapbench.references), shown after each backbone's methods as "ref: ..." rows, never ranked or marked; a
    method cell that does not beat ``edge_reference`` (when that reference is among them) gets a dagger.
    ``external``: rows of other people's records present in ``summary`` (extrapbench.records.workflow), shown
    after the methods of their block, before its references, with the dagger but never ranked or marked.
    """
    std_ddof = std_ddof_of(summary, std_ddof)
    higher_is_better = metric_higher_is_better(metric, higher_is_better)
    mean_column, std_column = f"{metric}_mean", f"{metric}_std"
    if mean_column not in summary.columns:
        raise ValueError(f"summary has no column {mean_column!r}")

    skipped = {(str(s["backbone"]), str(s["task"])): str(s["reason"]) for s in (not_applicable or [])}
    tasks = order_tasks([*summary["task"].unique(), *(t for _, t in skipped)], task_order)
    references = [r for r in (references or []) if r in set(summary["method"])]
    external = [e for e in (external or []) if e in set(summary["method"]) and e not in references]
    if methods is not None:
        summary = summary[summary["method"].isin([*methods, *external, *references])]
    all_methods = summary["method"].unique()

    def ordered(present) -> list[str]:
        if methods is not None:
            found = [m for m in methods if m in set(present) and m not in external]
        else:
            found = order_methods([m for m in present if m not in references and m not in external], method_order)
        return found + [e for e in external if e in set(present)] + [r for r in references if r in set(present)]
    rows = [(backbone, method)
            for backbone in order_backbones([*summary["backbone"].unique(), *(b for b, _ in skipped)],
                                            backbone_order)
            for method in ordered(summary.loc[summary["backbone"] == backbone, "method"].unique()
                                  if (summary["backbone"] == backbone).any() else all_methods)]
    row_index = pd.MultiIndex.from_tuples(rows, names=["backbone", "method"])

    def pivot(column: str) -> pd.DataFrame:
        if column not in summary.columns:
            return pd.DataFrame(np.nan, index=row_index, columns=tasks)
        wide = summary.pivot_table(index=["backbone", "method"], columns="task", values=column,
                                   aggfunc="first", dropna=False)
        return wide.reindex(index=row_index, columns=tasks).astype(float)

    mean = pivot(mean_column)
    std = pivot(std_column)
    n_seeds = pivot("n_seeds")
    n_diverged = pivot("n_diverged") if "n_diverged" in summary.columns else None
    # runs whose best checkpoint came at epoch <= 2 or at the epoch cap (extrapbench.report.evidence): marked cells
    epoch_counts = ({key: pivot(key) for key in EPOCH_COUNT_COLUMNS}
                    if all(key in summary.columns for key in EPOCH_COUNT_COLUMNS) else {})
    # ranks within each backbone's rows; rank() skips NaN, so missing cells neither get a rank nor shift the others'
    # (a reference row and an external one are NaN here: never ranked)
    ranked_mean = mean.copy()
    ranked_mean.loc[mean.index.get_level_values("method").isin([*references, *external])] = np.nan
    rank = ranked_mean.groupby(level="backbone", sort=False).rank(method="average", ascending=not higher_is_better)
    rank = rank.reindex(index=row_index, columns=tasks)
    avg_rank = rank.mean(axis=1, skipna=True)
    return PaperTable(metric=metric, higher_is_better=bool(higher_is_better), tasks=tasks, rows=rows,
                      mean=mean, std=std, n_seeds=n_seeds, rank=rank, avg_rank=avg_rank, decimals=decimals,
                      not_applicable=skipped, std_ddof=std_ddof, labels=dict(labels or {}),
                      extra_notes=list(extra_notes or []), marks=marks, references=references,
                      edge_reference=edge_reference if edge_reference in references else None,
                      n_diverged=n_diverged, epoch_counts=epoch_counts, external=external)
