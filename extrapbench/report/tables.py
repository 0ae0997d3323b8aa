"""The paper-style tables (SPEC §7, Tables 2, 3, 6): rows = backbone × method, columns = the tasks present +
average rank, cells "mean(std)" over seeds.

Everything that ranks works **within one backbone**: a row's rank in a task column is its place among the rows of
its own backbone, its average rank is over the tasks it has a value for, and bold / italics mark the best /
second-best of its backbone's rows (paper A ranks its eight methods within each backbone). A cell is bold only
where the best mean beats the next one by more than either's std over seeds (seed noise cannot make it the best),
italics need at least three rows. Which rows a table holds (the paper's eight methods, every method, no ablation
entry) is decided by :mod:`extrapbench.report.method_sets`; tables render to Markdown and LaTeX (booktabs) and
expose the raw numbers for a CSV.

The names, orders and the summary itself live in :mod:`extrapbench.report.summary` and are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from extrapbench.report.cell_marks import MARKS_NOTE, mark_best  # noqa: F401 (mark_best: re-exported)
from extrapbench.report.references import REFERENCE_PREFIX, reference_notes
from extrapbench.report.text_table import write_table_files
from extrapbench.naming import BACKBONE_ORDER, TASK_ORDER, display_name, order_backbones, order_methods, order_tasks
from extrapbench.report.summary import (  # noqa: F401 (re-exported: the scripts import them from here)
    BOOKKEEPING_KEYS, COUNT_KEYS, DEFAULT_STD_DDOF, GROUP_COLUMNS, HIGHER_IS_BETTER, METRIC_LABELS,
    MISSING, RUN_ID_COLUMNS, _latex_escape, check_std_ddof, collect, std_ddof_of, std_note, summarize)

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
    #: method -> row label, where it differs from the display name (e.g. DenseWeight in LDS's slot)
    labels: dict = field(default_factory=dict)
    #: notes placed after the cell note (which rows the table holds, ...)
    extra_notes: list = field(default_factory=list)
    #: False: no bold / italics at all (ablation tables show the paired test's p instead)
    marks: bool = True
    #: (backbone, method) x task -> text appended to the cell (e.g. "Δ +0.012, p 0.04"); None: nothing
    annotations: pd.DataFrame | None = None
    #: reference predictors' rows (extrapbench.references): after each backbone's methods, never ranked or marked
    references: list = field(default_factory=list)
    #: the reference a method has to beat ("edge_train"): cells that do not beat it get REFERENCE_MARK
    edge_reference: str | None = None
    #: (backbone, method) x task -> seeds that diverged (summary ``n_diverged``): such a cell gets DIVERGED_MARK and
    #: is never bold or italic; None: no divergence known
    n_diverged: pd.DataFrame | None = None

    AVG_RANK = "avg. rank"
    NOT_APPLICABLE = "n/a"
    REFERENCE_MARK = "†"
    DIVERGED_MARK = "‼"
    REFERENCE_PREFIX = REFERENCE_PREFIX

    def is_reference(self, row) -> bool:
        return row[1] in self.references

    def beats_edge(self, row, task: str) -> bool | None:
        """Whether a method's cell beats the edge reference of its backbone on that task (a tie does not); None
        where there is nothing to compare: a reference row, either value missing, or the reference undefined."""
        edge = (row[0], self.edge_reference)
        if self.edge_reference is None or self.is_reference(row) or edge not in self.mean.index:
            return None
        mine, theirs = self.mean.loc[row, task], self.mean.loc[edge, task]
        if pd.isna(mine) or pd.isna(theirs):
            return None
        return bool(mine > theirs) if self.higher_is_better else bool(mine < theirs)

    def diverged(self, row, task: str) -> bool:
        """At least one seed of the cell diverged (extrapbench.evaluation.divergence)."""
        if self.n_diverged is None or row not in self.n_diverged.index:
            return False
        value = self.n_diverged.loc[row, task]
        return bool(not pd.isna(value) and value > 0)

    # -- styling ------------------------------------------------------------------------------------------
    def styles(self) -> pd.DataFrame:
        """"best", "second" or "" per cell, for the task columns and the average-rank column, decided among the
        rows of the same backbone (:func:`mark_best`)."""
        styles = pd.DataFrame("", index=self.mean.index, columns=[*self.tasks, self.AVG_RANK])
        if not self.marks:
            return styles
        backbones = self.mean.index.get_level_values(0)
        ranked = ~self.mean.index.get_level_values(1).isin(self.references)
        for backbone in dict.fromkeys(backbones):
            block = (backbones == backbone) & ranked
            # a diverged cell competes for no mark (nor does the average rank of a row with one)
            diverged = pd.DataFrame({task: [self.diverged(row, task) for row in self.mean.index]
                                     for task in self.tasks}, index=self.mean.index, dtype=bool)
            columns = [(task, self.mean.loc[block, task].mask(diverged.loc[block, task]), self.std.loc[block, task],
                        self.higher_is_better) for task in self.tasks]
            columns.append((self.AVG_RANK, self.avg_rank[block].mask(diverged.loc[block].any(axis=1)), None, False))
            for column, values, stds, higher_is_better in columns:
                best, second = mark_best(values, higher_is_better, stds)
                for row in best:
                    styles.loc[row, column] = "best"
                for row in second:
                    styles.loc[row, column] = "second"
        return styles

    def row_label(self, method: str) -> str:
        label = self.labels.get(method, display_name(method))
        return f"{self.REFERENCE_PREFIX}{label}" if method in self.references else label

    def _cell_text(self, row, task: str, missing: str) -> str:
        mean = self.mean.loc[row, task]
        if pd.isna(mean):
            return self.NOT_APPLICABLE if (row[0], task) in self.not_applicable else missing
        std = self.std.loc[row, task]
        std_text = missing if pd.isna(std) else f"{std:.{self.decimals}f}"
        text = f"{mean:.{self.decimals}f}({std_text})"
        if self.beats_edge(row, task) is False:
            text += f" {self.REFERENCE_MARK}"
        if self.diverged(row, task):
            text += f" {self.DIVERGED_MARK}"
        if self.annotations is not None and row in self.annotations.index:
            extra = self.annotations.loc[row, task]
            if isinstance(extra, str) and extra:
                text += f" {extra}"
        return text

    def _rank_text(self, row, missing: str) -> str:
        value = self.avg_rank.loc[row]
        return missing if pd.isna(value) else f"{value:.{self.rank_decimals}f}"

    def notes(self, missing: str = MISSING) -> list[str]:
        """Plain-text footnotes: what a cell means and which special cases occur in this table."""
        direction = "higher is better" if self.higher_is_better else "lower is better"
        notes = [f"{METRIC_LABELS.get(self.metric, self.metric)} ({direction}); cells: mean(std) over seeds "
                 f"({std_note(self.std_ddof)})."]
        notes.extend(self.extra_notes)
        notes.append("avg. rank: rank of the row's mean among the rows of the same backbone in each task column "
                     "(1 = best; ties share the average rank), averaged over the tasks the row has a value for; "
                     "ranks never compare rows of different backbones.")
        notes.append(MARKS_NOTE if self.marks else "No bold / italics: see the paired tests' p-values.")
        if self.references:
            notes.extend(reference_notes(self))
        diverged = [(row, task) for row in self.rows for task in self.tasks if self.diverged(row, task)]
        if diverged:
            from extrapbench.evaluation.runs import DIVERGED_LOSS, DIVERGED_MAE_FACTOR

            notes.append(f"{self.DIVERGED_MARK}: at least one seed diverged (val or test MAE above "
                         f"{DIVERGED_MAE_FACTOR:g}x the train label range, or a train loss above {DIVERGED_LOSS:g}; "
                         f"its metrics.json has the reason); excluded from bold / italics: "
                         + ", ".join(f"{display_name(b)} / {self.row_label(m)} on {t}" for (b, m), t in diverged)
                         + ".")
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
            cells = [display_name(backbone), self.row_label(method)]
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
                     _latex_escape(self.row_label(method))]
            previous_backbone = backbone
            for task in self.tasks:
                text = self._cell_text(row, task, latex_missing)
                style = styles.loc[row, task] if text != latex_missing else ""
                cells.append(commands[style] % text.replace(f" {self.REFERENCE_MARK}", r"$^\dagger$")
                             .replace(f" {self.DIVERGED_MARK}", r"$^{!!}$"))
            text = self._rank_text(row, latex_missing)
            style = styles.loc[row, self.AVG_RANK] if text != latex_missing else ""
            cells.append(commands[style] % text)
            lines.append(" & ".join(cells) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """Raw numbers, one row per (backbone, method): per task mean, std, n_seeds and rank, then avg_rank."""
        frame = pd.DataFrame({"backbone": [b for b, _ in self.rows], "method": [m for _, m in self.rows],
                              "role": ["reference" if self.is_reference(r) else "method" for r in self.rows]})
        for task in self.tasks:
            frame[f"{task}_mean"] = self.mean[task].to_numpy()
            frame[f"{task}_std"] = self.std[task].to_numpy()
            frame[f"{task}_n_seeds"] = self.n_seeds[task].to_numpy()
            frame[f"{task}_rank"] = self.rank[task].to_numpy()
            if self.n_diverged is not None:
                frame[f"{task}_n_diverged"] = self.n_diverged[task].to_numpy()
            if self.edge_reference is not None:
                frame[f"{task}_beats_{self.edge_reference}"] = [self.beats_edge(r, task) for r in self.rows]
            if self.not_applicable:
                frame[f"{task}_not_applicable"] = [self.not_applicable.get((b, task), "") for b, _ in self.rows]
        frame["avg_rank"] = self.avg_rank.to_numpy()
        frame["n_tasks_ranked"] = self.rank.notna().sum(axis=1).to_numpy()
        return frame

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        write_table_files(self, markdown_path, latex_path, csv_path)


def paper_table(summary: pd.DataFrame, metric: str, higher_is_better: bool | None = None,
                method_order: Sequence[str] | None = None, backbone_order: Sequence[str] | None = None,
                task_order: Sequence[str] | None = None, decimals: int = 3,
                not_applicable: Iterable[Mapping[str, str]] | None = None,
                std_ddof: int | None = None, methods: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, extra_notes: Sequence[str] | None = None,
                marks: bool = True, references: Sequence[str] | None = None,
                edge_reference: str | None = "edge_train") -> PaperTable:
    """Build the paper-style table of ``metric`` from :func:`summarize` output.

    Rows are backbone × method pairs that occur in ``summary`` (backbones in ``backbone_order`` then sorted;
    within a backbone ERM first, MEX last, the rest in ``method_order``); columns are the tasks present, in
    ``task_order`` (default the paper's). A (row, task) pair absent from the summary, or with a NaN mean, is
    a missing cell: shown as "—" and left out of that column's ranking. ``higher_is_better`` defaults to the
    metric's direction in :data:`HIGHER_IS_BETTER`. ``not_applicable`` lists {task, backbone, reason} pairs that
    are not run by design: their cells read "n/a" with the reason in a note, and a backbone that runs none of
    the tasks still gets its rows, so the table says why it is empty. ``std_ddof``: the ddof of the summary's
    stds, for the note (default: the summary's ``std_ddof`` column, else 1). ``methods``: the only methods to
    show, in this order (the paper set, every method: :mod:`extrapbench.report.method_sets`); default every
    method of the summary, ERM first and MEX last. Ranks and marks are within each backbone; ``labels`` rename
    rows, ``extra_notes`` follow the cell note, ``marks=False`` drops bold / italics. ``references``: reference
    predictors present in ``summary`` (extrapbench.references), shown after each backbone's methods as "ref: ..."
    rows, never ranked or marked; a method cell that does not beat ``edge_reference`` (when that reference is
    among them) gets a dagger.
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
    references = [r for r in (references or []) if r in set(summary["method"])]
    if methods is not None:
        summary = summary[summary["method"].isin([*methods, *references])]
    all_methods = summary["method"].unique()

    def ordered(present) -> list[str]:
        if methods is not None:
            found = [m for m in methods if m in set(present)]
        else:
            found = order_methods([m for m in present if m not in references], method_order)
        return found + [r for r in references if r in set(present)]
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
    # ranks within each backbone's rows; rank() skips NaN, so missing cells neither get a rank nor shift the others'
    # (a reference row is NaN here: never ranked)
    ranked_mean = mean.copy()
    ranked_mean.loc[mean.index.get_level_values("method").isin(references)] = np.nan
    rank = ranked_mean.groupby(level="backbone", sort=False).rank(method="average", ascending=not higher_is_better)
    rank = rank.reindex(index=row_index, columns=tasks)
    avg_rank = rank.mean(axis=1, skipna=True)
    return PaperTable(metric=metric, higher_is_better=bool(higher_is_better), tasks=tasks, rows=rows,
                      mean=mean, std=std, n_seeds=n_seeds, rank=rank, avg_rank=avg_rank, decimals=decimals,
                      not_applicable=skipped, std_ddof=std_ddof, labels=dict(labels or {}),
                      extra_notes=list(extra_notes or []), marks=marks, references=references,
                      edge_reference=edge_reference if edge_reference in references else None,
                      n_diverged=n_diverged)

