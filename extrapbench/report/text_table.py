"""A plain table with footnotes, rendered to Markdown, booktabs LaTeX and a raw-number CSV (the formatting of its
cells: :mod:`extrapbench.report.format`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from extrapbench.report.format import latex_text
from extrapbench.report.io import write_table_files
from extrapbench.report.summary import MISSING


# ----------------------------------------------------------------------------------------------------------
# A plain table with footnotes, rendered to Markdown / LaTeX / CSV
# ----------------------------------------------------------------------------------------------------------

@dataclass
class TextTable:
    """Display ``cells`` (strings, one list per row, under ``header``) plus the raw numbers (``frame``, what
    the CSV gets) and footnotes. ``align`` is "l" or "r" per column; ``bold`` marks (row, column) cells;
    ``group_rule_column``: a LaTeX ``\\midrule`` wherever this column's value changes (blank repeats)."""

    title: str
    header: list[str]
    cells: list[list[str]]
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    align: list[str] | None = None
    bold: set = field(default_factory=set)
    group_rule_column: int | None = None

    def _align(self) -> list[str]:
        return self.align or ["l"] * len(self.header)

    def to_markdown(self, heading_level: int | None = None) -> str:
        lines = []
        if heading_level:
            lines += ["#" * heading_level + " " + self.title, ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join(":---" if a == "l" else "---:" for a in self._align()) + "|")
        for r, row in enumerate(self.cells):
            shown = [f"**{text}**" if (r, c) in self.bold and text != MISSING else text
                     for c, text in enumerate(row)]
            lines.append("| " + " | ".join(s.replace("|", "\\|") for s in shown) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); title and notes as leading comments."""
        lines = [f"% {self.title}"] + [f"% {note}" for note in self.notes]
        lines.append(r"\begin{tabular}{" + "".join(self._align()) + "}")
        lines.append(r"\toprule")
        lines.append(" & ".join(latex_text(h) for h in self.header) + r" \\")
        lines.append(r"\midrule")
        previous = None
        for r, row in enumerate(self.cells):
            if self.group_rule_column is not None:
                key = row[self.group_rule_column]
                if previous is not None and key != previous:
                    lines.append(r"\midrule")
                previous = key
            shown = []
            for c, text in enumerate(row):
                text = "---" if text == MISSING else latex_text(text)
                shown.append(r"\textbf{%s}" % text if (r, c) in self.bold and text != "---" else text)
            lines.append(" & ".join(shown) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def write(self, markdown_path=None, latex_path=None, csv_path=None) -> None:
        write_table_files(self, markdown_path, latex_path, csv_path)


