"""The paper-style table :func:`extrapbench.report.tables.paper_table` builds: per (backbone, method) row and task
column the mean, std, seeds and rank; bold / italics within each backbone's rows; its footnotes; Markdown, booktabs
LaTeX and CSV renderings."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from extrapbench.naming import display_name
from extrapbench.report.cell_marks import MARKS_NOTE, mark_best
from extrapbench.report.compare import beats
from extrapbench.report.evidence import LATEX_MARKS, epoch_notes
from extrapbench.report.evidence import marks as marks_for_counts
from extrapbench.report.format import latex_escape
from extrapbench.report.io import write_table_files
from extrapbench.report.references import REFERENCE_PREFIX, reference_notes
from extrapbench.report.summary import DEFAULT_STD_DDOF, METRIC_LABELS, MISSING, std_note


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
    #: (backbone, method) x task -> the best-epoch counts of extrapbench.report.evidence (COUNT_COLUMNS): a cell
    #: with a seed whose best checkpoint came at epoch <= 2 gets EARLY_MARK, one at the epoch cap CAP_MARK; {}:
    #: not known
    epoch_counts: dict = field(default_factory=dict)
    #: rows of other people's records (extrapbench.records.workflow): never ranked or marked, role "external"
    external: list = field(default_factory=list)

    AVG_RANK = "avg. rank"
    NOT_APPLICABLE = "n/a"
    REFERENCE_MARK = "†"
    DIVERGED_MARK = "‼"
    REFERENCE_PREFIX = REFERENCE_PREFIX

    def is_reference(self, row) -> bool:
        return row[1] in self.references

    def beats_edge(self, row, task: str) -> bool | None:
        """Whether a method's cell beats the edge reference of its backbone on that task (a tie, within the report's
        tolerance, :mod:`extrapbench.report.compare`, does not); None
        where there is nothing to compare: a reference row, either value missing, or the reference undefined."""
        edge = (row[0], self.edge_reference)
        if self.edge_reference is None or self.is_reference(row) or edge not in self.mean.index:
            return None
        mine, theirs = self.mean.loc[row, task], self.mean.loc[edge, task]
        if pd.isna(mine) or pd.isna(theirs):
            return None
        return beats(float(mine), float(theirs), self.higher_is_better)

    def diverged(self, row, task: str) -> bool:
        """At least one seed of the cell diverged (extrapbench.evaluation.divergence)."""
        if self.n_diverged is None or row not in self.n_diverged.index:
            return False
        value = self.n_diverged.loc[row, task]
        return bool(not pd.isna(value) and value > 0)

    def evidence_marks(self, row, task: str) -> str:
        """EARLY_MARK / CAP_MARK where a seed of the cell had its best checkpoint early / at the epoch cap."""
        if not self.epoch_counts or self.is_reference(row):
            return ""
        early, at_cap = (self.epoch_counts[key] for key in ("n_best_early", "n_best_at_cap"))
        return marks_for_counts(early.loc[row, task] if row in early.index else np.nan,
                                at_cap.loc[row, task] if row in at_cap.index else np.nan)

    def epoch_notes(self) -> list[str]:
        """What the evidence marks mean, and how many of the table's method runs carry each."""
        if not self.epoch_counts:
            return []
        rows = [row for row in self.rows if not self.is_reference(row)]
        totals = {key: int(np.nansum(frame.reindex(index=rows, columns=self.tasks).to_numpy(float)))
                  for key, frame in self.epoch_counts.items()}
        return epoch_notes(totals["n_best_early"], totals["n_best_at_cap"], totals["n_epochs_known"],
                           totals["n_cap_known"])

    # -- styling ------------------------------------------------------------------------------------------
    def styles(self) -> pd.DataFrame:
        """"best", "second" or "" per cell, for the task columns and the average-rank column, decided among the
        rows of the same backbone (:func:`mark_best`)."""
        styles = pd.DataFrame("", index=self.mean.index, columns=[*self.tasks, self.AVG_RANK])
        if not self.marks:
            return styles
        backbones = self.mean.index.get_level_values(0)
        ranked = ~self.mean.index.get_level_values(1).isin([*self.references, *self.external])
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
        if marks := self.evidence_marks(row, task):
            text += f" {marks}"
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
        notes.extend(self.epoch_notes())
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
        header = ["Backbone", "Method", *(latex_escape(task) for task in self.tasks), "avg.\\ rank"]
        lines.append(" & ".join(header) + r" \\")
        previous_backbone = None
        for row in self.rows:
            backbone, method = row
            if backbone != previous_backbone:  # a rule between backbone blocks, as in the paper
                lines.append(r"\midrule")
            cells = [latex_escape(display_name(backbone)) if backbone != previous_backbone else "",
                     latex_escape(self.row_label(method))]
            previous_backbone = backbone
            for task in self.tasks:
                text = self._cell_text(row, task, latex_missing)
                style = styles.loc[row, task] if text != latex_missing else ""
                text = text.replace(f" {self.REFERENCE_MARK}", r"$^\dagger$").replace(f" {self.DIVERGED_MARK}",
                                                                                    r"$^{!!}$")
                for mark, command in LATEX_MARKS.items():
                    text = text.replace(f" {mark}", command).replace(mark, command)
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
        frame = pd.DataFrame({"backbone": [b for b, _ in self.rows], "method": [m for _, m in self.rows],
                              "role": ["reference" if self.is_reference(r) else
                                       "external" if r[1] in self.external else "method" for r in self.rows]})
        for task in self.tasks:
            frame[f"{task}_mean"] = self.mean[task].to_numpy()
            frame[f"{task}_std"] = self.std[task].to_numpy()
            frame[f"{task}_n_seeds"] = self.n_seeds[task].to_numpy()
            frame[f"{task}_rank"] = self.rank[task].to_numpy()
            if self.n_diverged is not None:
                frame[f"{task}_n_diverged"] = self.n_diverged[task].to_numpy()
            for key in ("n_best_early", "n_best_at_cap"):
                if key in self.epoch_counts:
                    frame[f"{task}_{key}"] = self.epoch_counts[key][task].to_numpy()
            if self.edge_reference is not None:
                frame[f"{task}_beats_{self.edge_reference}"] = [self.beats_edge(r, task) for r in self.rows]
            if self.not_applicable:
                frame[f"{task}_not_applicable"] = [self.not_applicable.get((b, task), "") for b, _ in self.rows]
        frame["avg_rank"] = self.avg_rank.to_numpy()
        frame["n_tasks_ranked"] = self.rank.notna().sum(axis=1).to_numpy()
        return frame

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        write_table_files(self, markdown_path, latex_path, csv_path)
