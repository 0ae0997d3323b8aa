"""Per-run metrics -> per-configuration summary -> paper-style tables (SPEC §7, Tables 2, 3, 6).

* :func:`collect` stacks ``metrics.json`` records into one DataFrame (one row per run).
* :func:`summarize` gives one row per (task, backbone, method): mean and standard deviation over seeds of every
  metric. The std's ddof is the config key ``std_ddof``: 1 (default) is the sample std, the usual "mean ± std
  over 3 seeds"; 0 is numpy's default population std, what the MEX authors' ``compute_res_metric.py`` prints
  (their tables' std). The summary records it in a ``std_ddof`` column and every table's note says which one.
  With a single seed the std is NaN whatever the ddof (no spread to report), which the tables show as "—". A metric undefined for some seed (NaN, e.g. Spearman of a constant
  prediction) is averaged over the seeds where it is defined.
* :func:`paper_table` builds the table the paper prints: rows = backbone × method (ERM first, MEX last),
  columns = the tasks present + average rank, cells "mean(std)", best per column in bold, second in italics.
  It renders to Markdown and LaTeX (booktabs) and exposes the raw numbers for a CSV.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.metrics import METRIC_KEYS

#: The seven range-extrapolation tasks in the paper's column order (SPEC §2).
TASK_ORDER = (
    "formation_energy_bottom",
    "shear_modulus_bottom",
    "shear_modulus_top",
    "refractive_index_bottom",
    "refractive_index_top",
    "phonons_bottom",
    "phonons_top",
)

#: Backbones in the paper's row order; others follow alphabetically.
BACKBONE_ORDER = ("painn", "equiformer_v2")

RUN_ID_COLUMNS = ("task", "backbone", "method", "seed")
#: ddof of the std over seeds unless the config says otherwise (``std_ddof``): the sample std
DEFAULT_STD_DDOF = 1
GROUP_COLUMNS = ("task", "backbone", "method")
#: Per-run training bookkeeping summarised alongside the metrics (running time per method, SPEC §7).
BOOKKEEPING_KEYS = ("wall_time_s", "epochs_run", "best_epoch")
#: Counts that do not vary over seeds; the summary keeps them as they are.
COUNT_KEYS = ("n_test", "n_val", "n_extrapolative")

#: Direction of each metric for ranking and bold/italics.
HIGHER_IS_BETTER = {
    "mae": False, "gm": False, "val_mae": False, "spearman": True, "r2": True,
    "detect_recall": True, "detect_precision": True, "detect_f1": True, "seconds_per_sample": False,
}

METRIC_LABELS = {
    "mae": "test MAE", "gm": "test GM (error geometric mean)", "spearman": "test Spearman correlation",
    "r2": "test R²", "val_mae": "validation MAE", "detect_recall": "detection recall",
    "detect_precision": "detection precision", "detect_f1": "detection F1",
    "seconds_per_sample": "inference seconds per test sample",
}

# Display names for the tables and figures; unknown names are shown as they are.
_DISPLAY_NAMES = {
    "erm": "ERM", "lds": "LDS", "fds": "FDS", "lds_fds": "LDS+FDS", "ranksim": "RankSim",
    "balanced_mse": "BalancedMSE", "balancedmse": "BalancedMSE", "bmse": "BalancedMSE",
    "balanced_mse_gai": "BalancedMSE-GAI", "conr": "ConR", "denseweight": "DenseWeight",
    "cmixup": "C-Mixup", "c_mixup": "C-Mixup", "c-mixup": "C-Mixup", "foma": "FOMA", "mex": "MEX",
    "ane": "ANE", "painn": "PaiNN", "equiformer_v2": "EquiformerV2", "equiformerv2": "EquiformerV2",
    "schnet": "SchNet", "magpie_mlp": "Magpie-MLP",
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


def display_name(name: str) -> str:
    """Paper spelling of a method/backbone registry name (``"ranksim"`` -> ``"RankSim"``)."""
    return _DISPLAY_NAMES.get(str(name).lower(), str(name))


# ----------------------------------------------------------------------------------------------------------
# Ordering
# ----------------------------------------------------------------------------------------------------------

def _ordered(present: Iterable[str], preferred: Sequence[str] | None) -> list[str]:
    """Names in ``present``: first those listed in ``preferred`` (in that order), then the rest sorted."""
    present = list(dict.fromkeys(present))
    preferred = [name for name in (preferred or []) if name in present]
    return preferred + sorted(name for name in present if name not in preferred)


def order_tasks(tasks: Iterable[str], task_order: Sequence[str] | None = None) -> list[str]:
    """Tasks in the given order (default: the paper's, :data:`TASK_ORDER`); unknown ones appended sorted."""
    return _ordered(tasks, task_order if task_order is not None else TASK_ORDER)


def order_methods(methods: Iterable[str], method_order: Sequence[str] | None = None) -> list[str]:
    """ERM first, MEX (and MEX variants, names starting with "mex") last, the others in ``method_order``
    (then alphabetically). Names are compared case-insensitively for the ERM/MEX placement."""
    ordered = _ordered(methods, method_order)
    erm = [m for m in ordered if m.lower() == "erm"]
    mex = [m for m in ordered if m.lower().startswith("mex")]
    mex.sort(key=lambda m: m.lower() != "mex")  # plain MEX before its variants; stable otherwise
    middle = [m for m in ordered if m not in erm and m not in mex]
    return erm + middle + mex


def order_backbones(backbones: Iterable[str], backbone_order: Sequence[str] | None = None) -> list[str]:
    """Backbones in the given order (default: the paper's, :data:`BACKBONE_ORDER`); others appended sorted."""
    return _ordered(backbones, backbone_order if backbone_order is not None else BACKBONE_ORDER)


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
            with open(record) as metrics_file:
                record = json.load(metrics_file)
        records.append(dict(record))
    if not records:
        raise ValueError("no metrics records to collect")
    runs = pd.DataFrame.from_records(records)
    missing = [column for column in RUN_ID_COLUMNS if column not in runs.columns]
    if missing:
        raise ValueError(f"metrics records lack {missing}")
    for column in (*METRIC_KEYS, *BOOKKEEPING_KEYS, *COUNT_KEYS):
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
    """One row per (task, backbone, method) with ``n_seeds``, ``seeds`` and ``{metric}_mean``/``{metric}_std``
    for every metric present (std with `std_ddof`, NaN for a single seed; the ddof is recorded in a
    ``std_ddof`` column). Rows follow task, backbone, method order."""
    std_ddof = check_std_ddof(std_ddof)
    metric_columns = [key for key in (*METRIC_KEYS, *BOOKKEEPING_KEYS) if key in runs.columns]
    rows = []
    for (task, backbone, method), group in runs.groupby(list(GROUP_COLUMNS), sort=False):
        row: dict[str, Any] = {"task": task, "backbone": backbone, "method": method,
                               "n_seeds": int(group["seed"].nunique()),
                               "seeds": ",".join(str(s) for s in sorted(group["seed"]))}
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


# ----------------------------------------------------------------------------------------------------------
# Paper table
# ----------------------------------------------------------------------------------------------------------

def _best_and_second(values: pd.Series, higher_is_better: bool) -> tuple[set, set]:
    """Index labels holding the best and the second-best distinct value (ties share the style); NaN skipped."""
    present = values.dropna()
    distinct = sorted(present.unique(), reverse=higher_is_better)
    best = set(present.index[present == distinct[0]]) if distinct else set()
    second = set(present.index[present == distinct[1]]) if len(distinct) > 1 else set()
    return best, second


def _latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
    return "".join(replacements.get(char, char) for char in str(text))


@dataclass
class PaperTable:
    """A paper-style table: ``mean``, ``std``, ``n_seeds`` and ``rank`` are DataFrames indexed by
    (backbone, method) rows with one column per task; ``avg_rank`` is a Series over the same rows."""

    metric: str
    higher_is_better: bool
    tasks: list[str]
    rows: list[tuple[str, str]]
    mean: pd.DataFrame
    std: pd.DataFrame
    n_seeds: pd.DataFrame
    rank: pd.DataFrame
    avg_rank: pd.Series
    decimals: int = 3
    rank_decimals: int = 2
    std_ddof: int = DEFAULT_STD_DDOF
    #: (backbone, task) -> why that backbone does not run the task (e.g. a composition-only dataset)
    not_applicable: dict = field(default_factory=dict)

    AVG_RANK = "avg. rank"
    NOT_APPLICABLE = "n/a"

    # -- styling ------------------------------------------------------------------------------------------
    def styles(self) -> pd.DataFrame:
        """"best", "second" or "" per cell, for the task columns and the average-rank column."""
        styles = pd.DataFrame("", index=self.mean.index, columns=[*self.tasks, self.AVG_RANK])
        columns = [(task, self.mean[task], self.higher_is_better) for task in self.tasks]
        columns.append((self.AVG_RANK, self.avg_rank, False))
        for column, values, higher_is_better in columns:
            best, second = _best_and_second(values, higher_is_better)
            for row in best:
                styles.loc[row, column] = "best"
            for row in second:
                styles.loc[row, column] = "second"
        return styles

    def _cell_text(self, row, task: str, missing: str) -> str:
        mean = self.mean.loc[row, task]
        if pd.isna(mean):
            return self.NOT_APPLICABLE if (row[0], task) in self.not_applicable else missing
        std = self.std.loc[row, task]
        std_text = missing if pd.isna(std) else f"{std:.{self.decimals}f}"
        return f"{mean:.{self.decimals}f}({std_text})"

    def _rank_text(self, row, missing: str) -> str:
        value = self.avg_rank.loc[row]
        return missing if pd.isna(value) else f"{value:.{self.rank_decimals}f}"

    def notes(self, missing: str = MISSING) -> list[str]:
        """Plain-text footnotes: what a cell means and which special cases occur in this table."""
        direction = "higher is better" if self.higher_is_better else "lower is better"
        notes = [f"{METRIC_LABELS.get(self.metric, self.metric)} ({direction}); cells: mean(std) over seeds "
                 f"({std_note(self.std_ddof)}); best per column in bold, second in italics."]
        notes.append("avg. rank: rank of the row's mean within each task column over all rows (ties share the "
                     "average rank), averaged over the tasks the row has a value for.")
        present = self.mean.notna()
        for reason in sorted(set(self.not_applicable.values())):
            pairs = sorted(pair for pair, r in self.not_applicable.items() if r == reason)
            notes.append(f"{self.NOT_APPLICABLE}: not run by design ({reason}): "
                         + ", ".join(f"{display_name(b)} on {t}" for b, t in pairs) + ".")
        not_run = [(row, task) for row in self.rows for task in self.tasks
                   if not present.loc[row, task] and (row[0], task) not in self.not_applicable]
        if not_run:
            notes.append(f"{missing} as a cell: not run for that task; excluded from ranking.")
        single_seed = (self.n_seeds == 1) & present
        if single_seed.any().any():
            notes.append(f"({missing}) as std: a single seed, no standard deviation.")
        seed_counts = sorted({int(n) for n in self.n_seeds.stack().dropna()})
        if seed_counts:
            notes.append("seeds per cell: " + ("/".join(map(str, seed_counts)) if len(seed_counts) > 1
                                               else str(seed_counts[0])) + ".")
        return notes

    # -- renderers -----------------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        styles = self.styles()
        header = ["Backbone", "Method", *self.tasks, self.AVG_RANK]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join([":---", ":---"] + ["---:"] * (len(header) - 2)) + "|"]
        markers = {"best": "**", "second": "*", "": ""}
        for row in self.rows:
            backbone, method = row
            cells = [display_name(backbone), display_name(method)]
            for task in self.tasks:
                text = self._cell_text(row, task, MISSING)
                marker = markers[styles.loc[row, task]] if text != MISSING else ""
                cells.append(f"{marker}{text}{marker}")
            text = self._rank_text(row, MISSING)
            marker = markers[styles.loc[row, self.AVG_RANK]] if text != MISSING else ""
            cells.append(f"{marker}{text}{marker}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.extend(f"- {note}" for note in self.notes())
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); the notes go in leading comments."""
        styles = self.styles()
        latex_missing = "---"
        commands = {"best": r"\textbf{%s}", "second": r"\textit{%s}", "": "%s"}
        lines = [f"% {note}" for note in self.notes(latex_missing)]
        lines.append(r"\begin{tabular}{ll" + "r" * (len(self.tasks) + 1) + "}")
        lines.append(r"\toprule")
        header = ["Backbone", "Method", *(_latex_escape(task) for task in self.tasks), "avg.\\ rank"]
        lines.append(" & ".join(header) + r" \\")
        previous_backbone = None
        for row in self.rows:
            backbone, method = row
            if backbone != previous_backbone:  # a rule between backbone blocks, as in the paper
                lines.append(r"\midrule")
            cells = [_latex_escape(display_name(backbone)) if backbone != previous_backbone else "",
                     _latex_escape(display_name(method))]
            previous_backbone = backbone
            for task in self.tasks:
                text = self._cell_text(row, task, latex_missing)
                style = styles.loc[row, task] if text != latex_missing else ""
                cells.append(commands[style] % text)
            text = self._rank_text(row, latex_missing)
            style = styles.loc[row, self.AVG_RANK] if text != latex_missing else ""
            cells.append(commands[style] % text)
            lines.append(" & ".join(cells) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """Raw numbers, one row per (backbone, method): per task mean, std, n_seeds and rank, then avg_rank."""
        frame = pd.DataFrame({"backbone": [b for b, _ in self.rows], "method": [m for _, m in self.rows]})
        for task in self.tasks:
            frame[f"{task}_mean"] = self.mean[task].to_numpy()
            frame[f"{task}_std"] = self.std[task].to_numpy()
            frame[f"{task}_n_seeds"] = self.n_seeds[task].to_numpy()
            frame[f"{task}_rank"] = self.rank[task].to_numpy()
            if self.not_applicable:
                frame[f"{task}_not_applicable"] = [self.not_applicable.get((b, task), "") for b, _ in self.rows]
        frame["avg_rank"] = self.avg_rank.to_numpy()
        frame["n_tasks_ranked"] = self.rank.notna().sum(axis=1).to_numpy()
        return frame

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        """Write whichever of the three renderings are given a path (parent folders are created)."""
        for path, render in ((markdown_path, self.to_markdown), (latex_path, self.to_latex)):
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text(render())
        if csv_path is not None:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            self.to_frame().to_csv(csv_path, index=False)


def paper_table(summary: pd.DataFrame, metric: str, higher_is_better: bool | None = None,
                method_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                task_order: Sequence[str] | None = None, decimals: int = 3,
                not_applicable: Iterable[Mapping[str, str]] | None = None,
                std_ddof: int | None = None) -> PaperTable:
    """Build the paper-style table of ``metric`` from :func:`summarize` output.

    Rows are backbone × method pairs that occur in ``summary`` (backbones in ``backbone_order`` then sorted;
    within a backbone ERM first, MEX last, the rest in ``method_order``); columns are the tasks present, in
    ``task_order`` (default the paper's). A (row, task) pair absent from the summary, or with a NaN mean, is
    a missing cell: shown as "—" and left out of that column's ranking. ``higher_is_better`` defaults to the
    metric's direction in :data:`HIGHER_IS_BETTER`. ``not_applicable`` lists {task, backbone, reason} pairs that
    are not run by design: their cells read "n/a" with the reason in a note, and a backbone that runs none of
    the tasks still gets its rows, so the table says why it is empty. ``std_ddof``: the ddof of the summary's
    stds, for the note (default: the summary's ``std_ddof`` column, else 1).
    """
    std_ddof = std_ddof_of(summary, std_ddof)
    if higher_is_better is None:
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(f"say whether higher is better for metric {metric!r}")
        higher_is_better = HIGHER_IS_BETTER[metric]
    mean_column, std_column = f"{metric}_mean", f"{metric}_std"
    if mean_column not in summary.columns:
        raise ValueError(f"summary has no column {mean_column!r}")

    skipped = {(str(s["backbone"]), str(s["task"])): str(s["reason"]) for s in (not_applicable or [])}
    tasks = order_tasks([*summary["task"].unique(), *(t for _, t in skipped)], task_order)
    all_methods = summary["method"].unique()
    rows = [(backbone, method)
            for backbone in order_backbones([*summary["backbone"].unique(), *(b for b, _ in skipped)],
                                            backbone_order)
            for method in order_methods(summary.loc[summary["backbone"] == backbone, "method"].unique()
                                        if (summary["backbone"] == backbone).any() else all_methods,
                                        method_order)]
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
    # rank() skips NaN, so missing cells neither get a rank nor shift the others'.
    rank = mean.rank(axis=0, method="average", ascending=not higher_is_better)
    avg_rank = rank.mean(axis=1, skipna=True)
    return PaperTable(metric=metric, higher_is_better=bool(higher_is_better), tasks=tasks, rows=rows,
                      mean=mean, std=std, n_seeds=n_seeds, rank=rank, avg_rank=avg_rank, decimals=decimals,
                      not_applicable=skipped, std_ddof=std_ddof)
